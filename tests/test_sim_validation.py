"""The simulator against closed-form queueing results.

Every comparison uses fixed seeds, so these tests are deterministic: a theory value falling
outside the 95% confidence interval of the replications means the simulator is wrong (or the
seeds are unlucky, which with fixed seeds would show up once and stay visible).
"""

from __future__ import annotations

import math

import pytest
from helpers import det, exp, line
from scipy import integrate
from scipy.stats import norm

from factory_twin.policy.heuristics import fifo
from factory_twin.scenario import Normal
from factory_twin.scenario.capacity import nominal_bound
from factory_twin.sim import queueing
from factory_twin.sim.distributions import Sampler, streams
from factory_twin.sim.run import simulate
from factory_twin.stats import mean_ci

SEEDS = range(12)


def replicate(scenario, seeds=SEEDS):
    return [simulate(scenario, s, fifo) for s in seeds]


def test_mm1_number_and_time_in_system():
    lam, mu = 0.7, 1.0
    sc = line([{"name": "s", "process": exp(1 / mu)}], {"kind": "poisson", "rate": lam},
              length=20_000, warmup=500)  # fmt: skip
    runs = replicate(sc)
    theory = queueing.mm1(lam, mu)
    L = mean_ci(k.wip for k in runs)
    W = mean_ci(k.lead_time_mean for k in runs)
    print(f"M/M/1 L: theory {theory.L:.3f} sim {L}; W: theory {theory.W:.3f} sim {W}")
    assert L.contains(theory.L)
    assert W.contains(theory.W)
    assert L.half_width < 0.1 * theory.L  # the CI is tight enough to mean something


def test_jackson_tandem_with_parallel_machines():
    lam = 0.5
    stations = [
        {"name": "a", "process": exp(1.0)},  # mu 1.0, one machine
        {"name": "b", "process": exp(1.25)},  # mu 0.8
        {"name": "c", "machines": 2, "process": exp(2.5)},  # M/M/2 with mu 0.4
    ]
    sc = line(stations, {"kind": "poisson", "rate": lam}, length=20_000, warmup=500)
    runs = replicate(sc)
    theory = queueing.jackson_tandem(lam, [(1.0, 1), (0.8, 1), (0.4, 2)])
    L = mean_ci(k.wip for k in runs)
    W = mean_ci(k.lead_time_mean for k in runs)
    print(f"Jackson L: theory {theory.L:.3f} sim {L}; W: theory {theory.W:.3f} sim {W}")
    assert L.contains(theory.L)
    assert W.contains(theory.W)


def test_deterministic_saturated_line_runs_at_bottleneck_rate():
    stations = [
        {"name": "a", "buffer": 3, "process": det(1.0)},
        {"name": "b", "buffer": 2, "process": det(1.5)},
        {"name": "c", "buffer": 2, "process": det(0.8)},
    ]
    sc = line(stations, {"kind": "saturated"}, length=3000, warmup=100)
    k = simulate(sc, 0, fifo)
    print(f"deterministic line: theory {1 / 1.5:.5f} sim {k.throughput:.5f}")
    assert k.throughput == pytest.approx(1 / 1.5, abs=1 / 3000)
    assert k.bound_pct == pytest.approx(100.0, abs=0.1)
    # the bottleneck never starves or blocks; the fast last station starves
    b = k.stations[1].state_fractions
    assert b["busy"] == pytest.approx(1.0, abs=1e-3)
    assert k.stations[2].state_fractions["starved"] == pytest.approx(1 - 0.8 / 1.5, abs=1e-3)


def test_two_machine_line_with_finite_buffer():
    mu1, mu2, buf = 1.0, 1.2, 2
    stations = [
        {"name": "m1", "buffer": 5, "process": exp(1 / mu1)},
        {"name": "m2", "buffer": buf, "process": exp(1 / mu2)},
    ]
    sc = line(stations, {"kind": "saturated"}, length=20_000, warmup=200)
    th = mean_ci(k.throughput for k in replicate(sc))
    theory = queueing.two_machine_exponential(mu1, mu2, buf)
    print(f"two-machine line: theory {theory:.4f} sim {th}")
    assert th.contains(theory)
    assert theory < min(mu1, mu2)  # blocking costs throughput: the check is not trivial


def test_availability_with_exponential_failures():
    mttf, mttr = 100.0, 25.0
    st = {
        "name": "m",
        "buffer": 2,
        "process": exp(1.0),
        "failure": {"ttf": exp(mttf), "ttr": exp(mttr)},
    }
    sc = line([st], {"kind": "saturated"}, length=50_000, warmup=100)
    runs = replicate(sc, range(8))
    avail = mean_ci(
        k.stations[0].state_fractions["busy"]
        / (k.stations[0].state_fractions["busy"] + k.stations[0].state_fractions["down"])
        for k in runs
    )
    theory = mttf / (mttf + mttr)
    print(f"availability: theory {theory:.4f} sim {avail}")
    assert avail.contains(theory)
    th = mean_ci(k.throughput for k in runs)
    assert th.contains(nominal_bound(sc).rate)


def finite_line_with_failures():
    stations = [
        {"name": "a", "buffer": 4, "process": {"dist": "lognormal", "mean": 0.9, "cv": 0.5},
         "failure": {"ttf": {"dist": "weibull", "shape": 2, "scale": 80}, "ttr": exp(8)}},
        {"name": "b", "buffer": 3, "machines": 2, "scrap_prob": 0.05,
         "process": {"dist": "gamma", "mean": 1.7, "cv": 0.7}},
        {"name": "c", "buffer": 2, "process": {"dist": "uniform", "low": 0.2, "high": 1.4}},
    ]  # fmt: skip
    return line(stations, {"kind": "poisson", "rate": 0.8}, length=20_000, warmup=300)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_littles_law_on_finite_buffer_line_with_failures(seed):
    k = simulate(finite_line_with_failures(), seed, fifo)
    print(f"Little: L {k.wip:.4f} lambda*W {k.departure_rate * k.sojourn_mean:.4f}")
    assert k.lost > 0  # the finite first buffer does turn arrivals away
    assert k.scrapped_parts > 0
    assert k.wip == pytest.approx(k.departure_rate * k.sojourn_mean, rel=0.02)


def test_state_fractions_sum_to_one():
    k = simulate(finite_line_with_failures(), 4, fifo)
    for st in k.stations:
        assert math.fsum(st.state_fractions.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(v >= 0 for v in st.state_fractions.values())
    assert k.stations[0].state_fractions["down"] > 0
    assert k.stations[0].state_fractions["blocked"] > 0


def test_censored_normal_mean_is_what_the_simulator_draws():
    """A normal time is drawn as max(X, 0): its `mean`, which the bound and the samplers use,
    is E[max(X, 0)], well above mu when sd is large against it."""
    spec = Normal(dist="normal", mean=1.0, sd=2.0)
    exact, _ = integrate.quad(lambda x: x * norm.pdf(x, loc=1.0, scale=2.0), 0.0, math.inf)
    assert spec.mean == pytest.approx(exact, rel=1e-12)
    assert spec.mean == pytest.approx(1.0 * norm.cdf(0.5) + 2.0 * norm.pdf(0.5), rel=1e-12)
    sampler = Sampler(spec, streams(0, "censored-normal"))
    draws = mean_ci(math.fsum(sampler() for _ in range(5_000)) / 5_000 for _ in range(20))
    print(f"censored normal: mean {spec.mean:.4f} sampled {draws}")
    assert sampler.mean == spec.mean
    assert draws.contains(spec.mean)
    assert not draws.contains(spec.mu)  # the untruncated mean is visibly wrong


def test_censored_normal_line_runs_at_its_bound():
    sc = line([{"name": "s", "buffer": 2, "process": {"dist": "normal", "mean": 1.0, "sd": 2.0}}],
              {"kind": "saturated"}, length=20_000, warmup=100)  # fmt: skip
    runs = replicate(sc)
    th = mean_ci(k.throughput for k in runs)
    bound = nominal_bound(sc).rate
    print(f"censored normal line: bound {bound:.4f} sim {th}")
    assert bound == pytest.approx(1 / sc.stations[0].process_for("a").mean)
    assert th.contains(bound)
    assert not th.contains(1.0)  # 1 / mu, the bound the untruncated mean would give
    # the OEE's ideal time uses the same mean: a machine that is always busy scores about 1
    assert all(k.oee == pytest.approx(1.0, abs=0.02) for k in runs)
