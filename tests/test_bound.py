"""The throughput bound bounds: no policy the environment allows (heuristics, all-fast, random
choices among the allowed actions, the exact optimum) delivers more good parts than
`capacity.throughput_bound`, on every shipped line; and each term of the formula is the one
its docstring states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import exp, line

from factory_twin.optimum.yardstick import optimum_report
from factory_twin.policy import registry
from factory_twin.scenario import load_scenario
from factory_twin.scenario.capacity import nominal_bound, throughput_bound
from factory_twin.sim import actions
from factory_twin.sim.run import simulate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (ROOT / "scenarios" / "benchmarks").glob("*.yaml")
)
BENCHMARKS = sorted((ROOT / "scenarios" / "benchmarks").glob("*.yaml"))
FAST = {"fast": {"time_factor": 0.5, "wear_factor": 2.0, "scrap_prob": 0.1}}


def all_fast(station, machine) -> int:
    return actions.process(station.buffer.oldest_product(), fast=station.fast is not None)


def random_policy(rng: np.random.Generator):
    """Uniform choices among the actions the env's mask allows (wait only while the buffer
    has room, PM where the station has it)."""

    def decide(station, machine) -> int:
        options = [a for k, q in enumerate(station.buffer.queues) if q
                   for a in (actions.process(k), actions.process(k, True))
                   if station.fast is not None or a == actions.process(k)]  # fmt: skip
        if station.buffer.has_room():
            options.append(actions.WAIT)
        if station.spec.pm is not None:
            options.append(actions.pm(station.line.n_products))
        return options[int(rng.integers(len(options)))]

    return decide


def _policies(sc):
    """(name, scenario it runs on, decider) for every policy the test holds against the bound."""
    out = []
    for name in registry.HEURISTICS:
        spec = registry.resolve(name)
        out.append((name, spec.release(sc) if spec.release else sc, spec.decider))
    out.append(("all-fast", sc, all_fast))
    out.append(("random", sc, random_policy(np.random.default_rng(11))))
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_policy_exceeds_the_bound_on_a_shipped_line(path):
    sc = load_scenario(path)
    for name, line_run, decider in _policies(sc):
        bound = throughput_bound(line_run).rate  # CONWIP runs a re-released line
        for seed in (0, 1):
            k = simulate(line_run, seed, decider)
            assert k.throughput <= bound, (name, seed, k.throughput * 60, bound * 60)
            assert k.bound_pct == pytest.approx(100 * k.throughput / bound)


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_the_exact_optimum_stays_under_the_bound(path):
    sc = load_scenario(path)
    best = optimum_report(sc, str(path)).best_throughput.throughput / 60
    assert best <= throughput_bound(sc).rate


def test_fast_mode_with_its_scrap_and_wear_sets_a_station_bound():
    # mean 1 min, 2 machines; fast: half the time, 10% scrap, twice the wear; MTTR/MTTF = 0.1
    st = {"name": "a", "buffer": 2, "machines": 2, "process": exp(1.0), "speed_modes": FAST,
          "failure": {"ttf": exp(50), "ttr": exp(5)}}  # fmt: skip
    sc = line([st], {"kind": "saturated"}, 100)
    normal = 1 / (1 * (1 + 0.1))
    fast = 0.9 / (0.5 * (1 + 2 * 0.1))
    assert throughput_bound(sc).rate == pytest.approx(2 * max(normal, fast))
    assert nominal_bound(sc).rate == pytest.approx(2 * 50 / 55)  # normal speed only


def test_pm_that_renews_a_wearing_machine_is_credited_with_no_breakdowns():
    wear = {"ttf": {"dist": "weibull", "shape": 3, "scale": 100}, "ttr": exp(20)}
    st = {"name": "a", "buffer": 2, "process": exp(1.0), "failure": wear}
    with_pm = line([{**st, "pm": {"duration": 5}}], {"kind": "saturated"}, 100)
    assert throughput_bound(with_pm).rate == pytest.approx(1.0)
    without = line([st], {"kind": "saturated"}, 100)
    mttf = without.stations[0].failure.ttf.mean
    assert throughput_bound(without).rate == pytest.approx(mttf / (mttf + 20))
    memoryless = {"ttf": exp(100), "ttr": exp(20)}  # PM cannot prevent these
    pm_exp = line([{**st, "failure": memoryless, "pm": {"duration": 5}}], {"kind": "saturated"}, 9)
    assert throughput_bound(pm_exp).rate == pytest.approx(100 / 120)


def test_a_product_mix_that_upstream_scrap_can_steer_lowers_the_mean_time_counted():
    products = [{"name": "x", "mix": 0.5}, {"name": "y", "mix": 0.5}]
    b = {"name": "b", "buffer": 2, "process": {"x": exp(1.0), "y": exp(3.0)}}
    clean = line([{"name": "a", "buffer": 2, "process": exp(0.1)}, b], {"kind": "saturated"},
                 9, products=products)  # fmt: skip
    assert throughput_bound(clean).per_station[1] == pytest.approx(1 / 2.0)
    scrappy = {"name": "a", "buffer": 2, "process": exp(0.1),
               "speed_modes": {"fast": {"time_factor": 0.9, "scrap_prob": 0.5}}}  # fmt: skip
    steered = line([scrappy, b], {"kind": "saturated"}, 9, products=products)
    # y can lose half its parts at a: weights 0.5 (x) and 0.25 (y), mean (0.5 + 0.75) / 0.75
    assert throughput_bound(steered).per_station[1] == pytest.approx(0.75 / 1.25)
    unlimited = line([{"name": "a", "buffer": 2, "process": exp(0.1)}, {**b, "buffer": None}],
                     {"kind": "saturated"}, 9, products=products)  # fmt: skip
    assert throughput_bound(unlimited).per_station[1] == pytest.approx(1.0)  # x alone


def test_the_optimum_that_steers_the_mix_by_scrap_still_stays_under_the_bound():
    # the throughput-optimal policy may run y fast at a (scrapping it) to feed b more x parts
    products = [{"name": "x", "mix": 0.5}, {"name": "y", "mix": 0.5}]
    sc = line(
        [{"name": "a", "buffer": 2, "process": exp(0.2),
          "speed_modes": {"fast": {"time_factor": 0.9, "scrap_prob": 0.5}}},
         {"name": "b", "buffer": 2, "process": {"x": exp(0.5), "y": exp(3.0)}}],
        {"kind": "saturated"}, 9, products=products,
    )  # fmt: skip
    rep = optimum_report(sc)
    best = rep.best_throughput.throughput / 60
    assert best > nominal_bound(sc).rate  # steering beats the released mix's capacity
    assert best <= throughput_bound(sc).rate
