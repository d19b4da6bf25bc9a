"""Directional and reproducibility checks of the simulator and heuristics."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import det, exp, line

from factory_twin.policy.heuristics import fifo, min_setup, pm_threshold
from factory_twin.policy.registry import HEURISTICS, heuristic
from factory_twin.scenario import load_scenario
from factory_twin.sim import actions
from factory_twin.sim.line import Line
from factory_twin.sim.run import simulate

SCENARIOS = sorted(Path(__file__).parents[1].joinpath("scenarios").glob("*.yaml"))
TWO = [{"name": "a", "mix": 0.5}, {"name": "b", "mix": 0.5}]


def test_same_seed_same_kpis_different_seed_different():
    sc = load_scenario(SCENARIOS[0])
    a, b, c = (simulate(sc, s, pm_threshold).summary() for s in (7, 7, 8))
    assert a == b
    assert a != c


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_run_under_every_heuristic(path):
    sc = load_scenario(path)
    for name in HEURISTICS:
        s2, decider = heuristic(name, sc)
        k = simulate(s2, 0, decider)
        assert 0 < k.bound_pct < 100, (name, k.bound_pct)
        assert k.wip == pytest.approx(k.departure_rate * k.sojourn_mean, rel=0.05)


def _setup_line(setup: float):
    st = {"name": "m", "buffer": 10, "process": {"a": det(1.0), "b": det(1.0)}}
    if setup:
        st["setup"] = {"from_to": {"a->b": setup, "b->a": setup}}
    return line([st], {"kind": "saturated"}, length=2000, products=TWO)


def test_setups_cost_throughput_and_min_setup_recovers_it():
    free = simulate(_setup_line(0), 1, fifo)
    costly = simulate(_setup_line(5), 1, fifo)
    batched = simulate(_setup_line(5), 1, min_setup)
    assert free.throughput == pytest.approx(1.0, abs=1e-3)
    assert costly.throughput < 0.5  # FIFO switches about every other part: ~2.5 min per part
    assert costly.stations[0].setups > 250
    # staying on one product until the buffer holds only the other one: batches of ~buffer size
    assert batched.throughput > 0.75

    def per_part(k):
        return k.stations[0].setups / k.stations[0].processed

    assert per_part(batched) < per_part(costly) / 5
    assert costly.stations[0].state_fractions["setup"] > 0.5


def test_scrap_lowers_good_throughput_by_its_probability():
    def with_scrap(p):
        st = {"name": "m", "buffer": 5, "process": det(1.0), "scrap_prob": p}
        return line([st], {"kind": "saturated"}, length=20_000)

    clean, dirty = simulate(with_scrap(0.0), 2, fifo), simulate(with_scrap(0.1), 2, fifo)
    assert clean.scrap_rate == 0
    assert dirty.scrap_rate == pytest.approx(0.1, abs=0.01)
    assert dirty.throughput == pytest.approx(0.9, abs=0.01)
    assert dirty.oee == pytest.approx(0.9, abs=0.01)  # quality loss shows up in OEE


def _wearing_machine(pm_threshold_age):
    st = {
        "name": "m",
        "buffer": 5,
        "process": det(1.0),
        "failure": {"ttf": {"dist": "weibull", "shape": 4, "scale": 100}, "ttr": det(40)},
        "pm": {"duration": 5, "threshold": pm_threshold_age},
        "speed_modes": {"fast": {"time_factor": 0.5, "wear_factor": 3.0, "scrap_prob": 0.0}},
    }
    return line([st], {"kind": "saturated"}, length=20_000)


def test_preventive_maintenance_pays_for_wear_out_failures():
    sc = _wearing_machine(50)
    without, with_pm = simulate(sc, 3, fifo), simulate(sc, 3, pm_threshold)
    assert with_pm.stations[0].pms > 100
    assert with_pm.stations[0].failures < without.stations[0].failures / 5
    assert with_pm.throughput > without.throughput * 1.15


def test_fast_mode_shortens_time_and_accelerates_wear():
    sc = _wearing_machine(50)

    def fast(st, m):
        return actions.process(0, fast=True)

    normal, quick = simulate(sc, 5, fifo), simulate(sc, 5, fast)
    # half the process time but three times the wear: more failures per part
    assert quick.stations[0].failures / quick.stations[0].processed > (
        1.5 * normal.stations[0].failures / normal.stations[0].processed
    )
    assert quick.throughput > normal.throughput
    # OEE measures against the fastest mode: running fast all the time is performance 1, not 2
    assert quick.stations[0].oee <= 1.0 + 1e-9
    assert normal.stations[0].oee < quick.stations[0].oee


def test_conwip_caps_work_in_process():
    sc = load_scenario(SCENARIOS[0])
    s2, decider = heuristic("conwip", sc)
    line_ = Line(s2, 0, decider)
    peak = 0
    while line_.now < 2000:
        line_.env.step()
        peak = max(peak, line_.wip)
    assert peak <= s2.source.limit


def test_external_decisions_wait_for_answers():
    """With no decider, requests park in `pending` and nothing moves until answered."""
    sc = line([{"name": "m", "buffer": 2, "process": exp(1.0)}], {"kind": "saturated"}, 100)
    ln = Line(sc, 0, None)
    assert ln.advance()
    assert len(ln.stations[0].pending) == 1
    t0 = ln.now
    ln.answer(0, actions.WAIT)
    assert ln.advance()
    assert ln.now == pytest.approx(t0 + sc.wait_time)
    ln.answer(0, actions.process(0))
    assert ln.advance()
    assert ln.stations[0].stats.processed == 1


def test_arrivals_lost_during_warm_up_are_not_counted():
    """The warm-up changes what is counted, never the path: so the losses of a run measured
    after a warm-up W are those of the whole path to W + L minus those of the path to W."""
    station = {"name": "m", "buffer": 1, "process": exp(1.0)}

    def lost(warmup: float, length: float) -> int:
        sc = line([station], {"kind": "poisson", "rate": 3.0}, length, warmup=warmup)
        return simulate(sc, 5, fifo).lost

    in_warm_up, whole = lost(0.0, 50.0), lost(0.0, 150.0)
    assert in_warm_up > 50  # a rate three times the capacity into one slot: visible losses
    assert lost(50.0, 100.0) == whole - in_warm_up
