"""Changeovers and preventive maintenance in the exact optimum: random setup and PM durations
in the schema and the simulator, and the chain valuing them as the simulator runs them."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import det, exp, line
from scipy import stats

from factory_twin.errors import ScenarioError
from factory_twin.optimum.chain import build_chain
from factory_twin.optimum.decider import ChainDecider
from factory_twin.optimum.markovian import markovian_model
from factory_twin.optimum.policies import all_normal, min_setup
from factory_twin.optimum.solve import fixed, optimise
from factory_twin.optimum.yardstick import optimum_report
from factory_twin.policy import heuristics
from factory_twin.scenario import Erlang, Exponential
from factory_twin.sim import actions
from factory_twin.sim.run import simulate

SEEDS = range(16)
PRODUCTS = [{"name": "x", "mix": 0.5}, {"name": "y", "mix": 0.5}]
COSTS = {"good_unit": 1.0, "wip_per_minute": 0.01, "scrap": 0.5, "pm": 0.4}


def _setup_line(length: float = 4000):
    """Two products, exponential and Erlang changeovers at both stations."""
    erlang = {"dist": "erlang", "mean": 2.0, "k": 2}
    return line(
        [
            {"name": "a", "buffer": 3, "process": {"x": exp(0.6), "y": exp(0.8)},
             "setup": {"from_to": {"x->y": exp(1.5), "y->x": erlang}}},
            {"name": "b", "buffer": 2, "process": exp(0.9),
             "setup": {"from_to": {"x->y": exp(0.5), "y->x": 0}}},
        ],
        {"kind": "saturated"}, length, warmup=200, products=PRODUCTS, costs=COSTS,
    )  # fmt: skip


def _pm_line(pm: dict, length: float = 4000):
    """A wearing second station (Erlang time to failure) that may do preventive maintenance."""
    failure = {"ttf": {"dist": "erlang", "mean": 30, "k": 3}, "ttr": exp(5)}
    return line(
        [
            {"name": "a", "buffer": 3, "process": exp(1.0)},
            {"name": "b", "buffer": 3, "process": exp(0.8), "failure": failure, "pm": pm},
        ],
        {"kind": "saturated"}, length, warmup=200, costs=COSTS,
    )  # fmt: skip


PM_LINES = {
    "exponential-pm-renews": {"duration": exp(1.5)},
    "erlang-pm-keeps-age": {"duration": {"dist": "erlang", "mean": 2.0, "k": 2},
                            "resets_age": False},
}  # fmt: skip


def _pm_when_one_waits(model, i, buf, machine) -> int:
    """Maintain while only one part waits (an idle moment), else FIFO: a fixed policy that
    uses PM and that the simulator can play without seeing wear phases."""
    if model.stations[i].pm is not None and len(buf) == 1:
        return actions.pm(len(model.products))
    return all_normal(model, i, buf, machine)


def _pm_when_one_waits_sim(station, machine) -> int:
    if station.spec.pm is not None and station.buffer.count == 1:
        return actions.pm(station.line.n_products)
    return heuristics.fifo(station, machine)


def _reward(sc, k) -> float:
    """The env's team reward per minute, from a run's KPIs."""
    c = sc.costs
    pms = sum(s.pms for s in k.stations)
    return (
        c.good_unit * k.throughput - c.scrap * k.scrapped_parts / k.sim_minutes
        - c.wip_per_minute * k.wip - c.pm * pms / k.sim_minutes
    )  # fmt: skip


def _within_ci(xs, exact) -> None:
    xs = np.asarray(xs)
    half = stats.t.ppf(0.975, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs))
    assert abs(xs.mean() - exact) <= half, (xs.mean(), half, exact)


def test_setup_and_pm_durations_may_be_distributions_and_numbers_stay_numbers():
    sc = _setup_line()
    pairs = sc.stations[0].setup.distributions()
    assert isinstance(pairs[("x", "y")], Exponential) and isinstance(pairs[("y", "x")], Erlang)
    assert sc.stations[0].setup.pairs() == {("x", "y"): 1.5, ("y", "x"): 2.0}
    assert sc.stations[1].setup.from_to["y->x"] == 0.0  # a number is kept as written
    pm = _pm_line(PM_LINES["erlang-pm-keeps-age"]).stations[1].pm
    assert pm.time.mean == 2.0 and pm.model_dump()["duration"]["k"] == 2


@pytest.mark.parametrize(
    ("pm", "path"),
    [({"duration": det(0)}, "stations.1.pm.duration"),
     ({"duration": {"dist": "gamma", "mean": 2, "cv": 1}}, "stations.1.pm.duration")],
)  # fmt: skip
def test_a_pm_duration_that_cannot_move_the_clock_or_is_not_phase_type_is_refused(pm, path):
    with pytest.raises(ScenarioError) as info:
        _pm_line(pm)
    assert info.value.path == path


def test_a_fixed_time_written_as_a_distribution_runs_exactly_like_the_number():
    def two_products(setup, duration):
        st = {"name": "a", "buffer": 3, "process": {"x": exp(0.6), "y": exp(0.8)},
              "setup": {"from_to": {"x->y": setup}}, "pm": {"duration": duration}}  # fmt: skip
        return line([st], {"kind": "saturated"}, 600, products=PRODUCTS)

    plain = simulate(two_products(2.0, 3.0), 5, heuristics.min_setup)
    written = simulate(two_products(det(2.0), det(3.0)), 5, heuristics.min_setup)
    assert plain == written and plain.stations[0].setups > 0


@pytest.mark.parametrize(
    ("policy", "decider", "track_last"),
    [(all_normal, heuristics.fifo, False), (min_setup, heuristics.min_setup, True)],
    ids=["fifo", "min-setup"],
)
def test_solved_value_with_random_setups_matches_the_simulator(policy, decider, track_last):
    sc = _setup_line()
    gains = fixed(build_chain(markovian_model(sc), policy, True, track_last)).gains
    kpis = [simulate(sc, s, decider) for s in SEEDS]
    assert all(k.stations[0].setups > 100 for k in kpis)
    _within_ci([k.throughput for k in kpis], gains[1])
    _within_ci([_reward(sc, k) for k in kpis], gains[0])


@pytest.mark.parametrize("name", list(PM_LINES))
def test_solved_value_of_a_policy_that_maintains_matches_the_simulator(name):
    sc = _pm_line(PM_LINES[name])
    gains = fixed(build_chain(markovian_model(sc), _pm_when_one_waits)).gains
    kpis = [simulate(sc, s, _pm_when_one_waits_sim) for s in SEEDS]
    assert all(k.stations[1].pms > 50 for k in kpis)
    _within_ci([k.throughput for k in kpis], gains[1])
    _within_ci([_reward(sc, k) for k in kpis], gains[0])


def test_min_setup_beats_fifo_where_changeovers_are_long_and_the_optimum_beats_both():
    rep = optimum_report(_setup_line())
    by_name = {v.name: v for v in rep.policies}
    assert by_name["min-setup"].throughput > by_name["fifo"].throughput
    assert rep.best_throughput.throughput >= by_name["min-setup"].throughput - 1e-9
    assert rep.best_reward.reward >= max(v.reward for v in rep.policies if v.name != "conwip")


def test_the_optimum_maintains_only_once_worn_where_pm_is_cheap_and_repairs_are_long():
    failure = {"ttf": {"dist": "erlang", "mean": 30, "k": 4}, "ttr": exp(25)}
    sc = line(
        [{"name": "a", "buffer": 2, "process": exp(1.0)},
         {"name": "b", "buffer": 2, "process": exp(0.7), "failure": failure,
          "pm": {"duration": exp(1.0)}}],
        {"kind": "saturated"}, 1000, costs={"good_unit": 1.0, "pm": 0.1},
    )  # fmt: skip
    rep = optimum_report(sc)
    never = {v.name: v for v in rep.policies}["all-normal"]
    assert rep.best_reward.reward > 1.05 * never.reward
    by_phase = rep.habits[1]["pm_share_by_wear_phase"]
    assert by_phase["1"] < 0.01 < by_phase["4"]  # a fresh machine is not maintained
    assert any("maintains" in s for s in rep.structure)
    assert rep.not_valued == ["pm-threshold"]  # it acts on wear minutes, not phases


def test_the_optimum_of_a_pm_line_is_never_below_the_fixed_policy_that_maintains():
    sc = _pm_line(PM_LINES["exponential-pm-renews"])
    chain = build_chain(markovian_model(sc))
    best = optimise(chain)
    policy = fixed(build_chain(markovian_model(sc), _pm_when_one_waits)).gains
    assert best.gains[0] >= policy[0] - 1e-12


def test_the_solved_optimum_with_changeovers_played_in_the_simulator_earns_its_value():
    # saturated: the changing-over station's buffer stays full, so its policy cannot wait (the
    # chain's wait, until the next event, is not the simulator's fixed hold: docs/optimum.md)
    sc = line(
        [{"name": "a", "buffer": 3, "process": {"x": exp(0.6), "y": exp(0.8)},
          "setup": {"from_to": {"x->y": exp(1.5), "y->x": exp(2.0)}},
          "speed_modes": {"fast": {"time_factor": 0.7, "scrap_prob": 0.1}}},
         {"name": "b", "buffer": 2, "process": exp(0.9)}],
        {"kind": "saturated"}, 3000, warmup=200, products=PRODUCTS, costs=COSTS,
    )  # fmt: skip
    model = markovian_model(sc)
    chain = build_chain(model)
    best = optimise(chain)
    rewards = []
    for seed in SEEDS:
        decider = ChainDecider(model, chain, best.bias)
        rewards.append(_reward(sc, simulate(sc, seed, decider)))
        assert decider.misses == 0
    _within_ci(rewards, best.gains[0])
