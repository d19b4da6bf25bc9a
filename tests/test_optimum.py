"""The exact optimum of Markovian lines: textbook values, agreement with the simulator, the
optimum above every fixed policy, and clear refusals of lines outside the subset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import exp, line
from scipy import stats
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import NotMarkovianError, StateSpaceTooLargeError
from factory_twin.optimum import solve
from factory_twin.optimum.chain import build_chain
from factory_twin.optimum.decider import ChainDecider
from factory_twin.optimum.markovian import markovian_model
from factory_twin.optimum.policies import all_fast, all_normal, min_setup, named_policies
from factory_twin.optimum.solve import fixed, optimise
from factory_twin.optimum.yardstick import optimum_report
from factory_twin.policy import heuristics, registry
from factory_twin.scenario import Horizon, load_scenario
from factory_twin.sim import actions
from factory_twin.sim.run import simulate

ROOT = Path(__file__).parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
SEEDS = range(8)

FAST = {"fast": {"time_factor": 0.7, "wear_factor": 1.5, "scrap_prob": 0.05}}
ERLANG_FAILURE = {"ttf": {"dist": "erlang", "mean": 30, "k": 3}, "ttr": exp(5)}
COSTS = {"good_unit": 1.0, "wip_per_minute": 0.01, "scrap": 0.5}


def _lines(length: float) -> dict:
    """Small Markovian lines that exercise failures, fast mode, scrap, parallel machines,
    Poisson arrivals and two products."""
    return {
        "erlang-failures-fast-parallel": line(
            [
                {"name": "a", "buffer": 3, "process": exp(1.0), "failure": ERLANG_FAILURE,
                 "speed_modes": FAST},
                {"name": "b", "buffer": 3, "machines": 2, "process": exp(1.8), "scrap_prob": 0.02},
            ],
            {"kind": "saturated"}, length, warmup=200, costs=COSTS,
        ),
        "poisson-two-products": line(
            [
                {"name": "a", "buffer": 4, "process": {"x": exp(0.8), "y": exp(1.3)},
                 "speed_modes": {"fast": {"time_factor": 0.6, "scrap_prob": 0.1}}},
                {"name": "b", "buffer": 2, "process": exp(0.9),
                 "failure": {"ttf": exp(40), "ttr": exp(4)}},
            ],
            {"kind": "poisson", "rate": 0.8}, length, warmup=200,
            products=[{"name": "x", "mix": 0.4}, {"name": "y", "mix": 0.6}], costs=COSTS,
        ),
        "three-stations-parallel-failures": line(
            [
                {"name": "a", "buffer": 2, "process": exp(0.9), "speed_modes": FAST},
                {"name": "b", "buffer": 2, "machines": 2, "process": exp(1.7),
                 "failure": {"ttf": exp(25), "ttr": exp(3)}, "speed_modes": FAST},
                {"name": "c", "buffer": 2, "process": exp(0.8)},
            ],
            {"kind": "saturated"}, length, warmup=200, costs=COSTS,
        ),
    }  # fmt: skip


LINES = _lines(4000)


def _fast(station, machine) -> int:
    return actions.process(station.buffer.oldest_product(), fast=station.fast is not None)


def _solved(scenario, policy, ordered=False, track_last=False) -> np.ndarray:
    model = markovian_model(scenario)
    return fixed(build_chain(model, policy, ordered=ordered, track_last=track_last)).gains


def _two_machines(buffer: int, mean: float = 2.0):
    stations = [
        {"name": "m1", "buffer": 2, "process": exp(mean)},
        {"name": "m2", "buffer": buffer, "process": exp(mean)},
    ]
    return line(stations, {"kind": "saturated"}, 100)


@pytest.mark.parametrize("b", [1, 2, 3, 5, 8])
def test_two_identical_exponential_machines_match_the_textbook(b):
    # `buffer: b` counts waiting places only: with the part on m2 and the one m1 holds
    # while blocked, b + 2 parts fit between the machines, so throughput = mu (b+2)/(b+3)
    mu = 0.5
    gains = _solved(_two_machines(b), all_normal)
    assert gains[1] == pytest.approx(mu * (b + 2) / (b + 3), rel=1e-10)
    best = optimise(build_chain(markovian_model(_two_machines(b))), objective=1)
    assert best.gains[1] == pytest.approx(mu * (b + 2) / (b + 3), rel=1e-10)


@pytest.mark.parametrize("name", list(LINES))
@pytest.mark.parametrize(
    ("policy", "decider"),
    [(all_normal, heuristics.fifo), (all_fast, _fast)],
    ids=["normal", "fast"],
)
def test_fixed_policy_value_matches_the_simulator_within_its_95pct_ci(name, policy, decider):
    sc = LINES[name]
    gains = _solved(sc, policy, ordered=len(sc.products) > 1)
    kpis = [simulate(sc, s, decider) for s in SEEDS]
    c = sc.costs
    samples = {
        "throughput": ([k.throughput for k in kpis], gains[1]),
        "reward": (
            [c.good_unit * k.throughput - c.scrap * k.scrapped_parts / k.sim_minutes
             - c.wip_per_minute * k.wip for k in kpis],
            gains[0],
        ),
    }  # fmt: skip
    half_t = stats.t.ppf(0.975, len(SEEDS) - 1)
    for what, (xs, exact) in samples.items():
        xs = np.asarray(xs)
        half = half_t * xs.std(ddof=1) / np.sqrt(len(xs))
        assert abs(xs.mean() - exact) <= half, (what, xs.mean(), half, exact)


def test_min_setup_on_two_products_matches_the_simulator():
    # the chain keeps each machine's last product only for this policy
    sc = LINES["poisson-two-products"]
    exact = _solved(sc, min_setup, ordered=True, track_last=True)[1]
    xs = np.asarray([simulate(sc, s, heuristics.min_setup).throughput for s in SEEDS])
    half = stats.t.ppf(0.975, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs))
    assert abs(xs.mean() - exact) <= half


@pytest.mark.parametrize("name", list(LINES))
def test_the_optimum_is_never_below_a_fixed_policy(name):
    rep = optimum_report(LINES[name])
    for v in rep.policies:
        if v.name == "conwip":
            continue  # a different line (CONWIP release)
        assert v.reward <= rep.best_reward.reward + 1e-9
        assert v.throughput <= rep.best_throughput.throughput + 1e-9
    assert rep.best_reward.reward >= rep.best_throughput.reward - 1e-9


def test_the_optimum_beats_both_fixed_speeds_where_speed_should_depend_on_the_state():
    rep = optimum_report(LINES["three-stations-parallel-failures"])
    by_name = {v.name: v for v in rep.policies}
    for name in ("all-normal", "all-fast"):
        assert by_name[name].reward < rep.best_reward.reward - 1e-6


def test_named_policies_cover_every_heuristic():
    assert set(named_policies(2)) >= set(registry.HEURISTICS)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"buffer": None}, "stations.1.buffer", "finite buffer"),
        ({"process": {"dist": "lognormal", "mean": 1, "cv": 0.2}}, "stations.1.process.dist",
         "exponential process times, got lognormal"),
        ({"failure": {"ttf": {"dist": "weibull", "shape": 2, "scale": 50}, "ttr": exp(2)}},
         "stations.1.failure.ttf.dist", "exponential or Erlang time to failure, got weibull"),
        ({"failure": {"ttf": exp(50), "ttr": {"dist": "deterministic", "value": 2}}},
         "stations.1.failure.ttr.dist", "exponential time to repair, got deterministic"),
        ({"pm": {"duration": 5}}, "stations.1.pm.duration",
         "exponential or Erlang PM duration (write {dist: exponential, mean: ...}), got a fixed 5"),
        ({"pm": {"duration": {"dist": "deterministic", "value": 2}}}, "stations.1.pm.duration",
         "got a fixed 2 min"),
    ],
)  # fmt: skip
def test_a_line_outside_the_subset_names_its_first_non_markovian_field(change, path, words):
    stations = [{"name": "a", "buffer": 2, "process": exp(1)}, {"name": "b", "buffer": 2,
                "process": exp(1), **change}]  # fmt: skip
    with pytest.raises(NotMarkovianError) as info:
        markovian_model(line(stations, {"kind": "saturated"}, 100), "f.yaml")
    assert info.value.path == path
    assert str(info.value).startswith(f"f.yaml: {path}: ") and words in str(info.value)


def test_setups_and_per_product_times_are_named_by_product():
    products = [{"name": "x", "mix": 0.5}, {"name": "y", "mix": 0.5}]
    setup = {"from_to": {"x->y": 0.0, "y->x": 3.0}}
    st = {"name": "a", "buffer": 2, "process": exp(1), "setup": setup}
    with pytest.raises(NotMarkovianError) as info:
        markovian_model(line([st], {"kind": "saturated"}, 100, products=products))
    assert info.value.path == "stations.0.setup.from_to.y->x"
    st = {"name": "a", "buffer": 2, "process": {"x": exp(1), "y": {"dist": "gamma", "mean": 1,
          "cv": 0.5}}}  # fmt: skip
    with pytest.raises(NotMarkovianError) as info:
        markovian_model(line([st], {"kind": "saturated"}, 100, products=products))
    assert info.value.path == "stations.0.process.y.dist"


def test_a_state_space_over_the_limit_is_refused_with_its_size_and_the_limit():
    with pytest.raises(StateSpaceTooLargeError, match=r"more than 10 states .* limit of 10"):
        optimum_report(_two_machines(5), max_states=10)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_non_markovian_lines_are_refused_with_exit_2_and_one_line(path):
    result = CliRunner().invoke(app, ["optimum", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: stations.")
    assert "optimum needs" in lines[0] and "Traceback" not in result.output


def test_cli_prints_and_writes_the_values(tmp_path):
    src = tmp_path / "two.yaml"
    src.write_text(
        "name: two\nhorizon: {length: 100}\nproducts: [{name: a}]\nsource: {kind: saturated}\n"
        "stations:\n  - {name: m1, buffer: 2, process: {dist: exponential, mean: 2}}\n"
        "  - {name: m2, buffer: 1, process: {dist: exponential, mean: 2}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "o.json"
    result = CliRunner().invoke(app, ["optimum", str(src), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["best_throughput"]["throughput"] == pytest.approx(60 * 0.5 * 3 / 4)
    names = [p["name"] for p in data["policies"]]
    assert names[:2] == ["all-normal", "all-fast"] and data["states"] > 0
    assert "22.50" in result.stdout


BENCHMARKS = sorted((ROOT / "scenarios" / "benchmarks").glob("*.yaml"))


def test_there_are_at_least_three_benchmark_lines():
    assert len(BENCHMARKS) >= 3


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_optimum_beats_both_fixed_speeds_by_3pct(path):
    sc = load_scenario(path)
    assert 2 <= len(sc.stations) <= 4
    rep = optimum_report(sc, str(path))
    by_name = {v.name: v for v in rep.policies}
    for name in ("all-normal", "all-fast"):
        assert rep.best_reward.reward >= 1.03 * by_name[name].reward, name
    assert path.read_text(encoding="utf-8").startswith("# ")  # the header says why


@pytest.mark.parametrize("name", ["rush_orders.yaml", "room_downstream.yaml"])
def test_the_optimal_policy_played_in_the_simulator_earns_the_solved_reward(name):
    sc = load_scenario(ROOT / "scenarios" / "benchmarks" / name)
    sc = sc.model_copy(update={"horizon": Horizon(warmup=200, length=2500)})  # kept quick
    model = markovian_model(sc)
    chain = build_chain(model)
    best = optimise(chain)
    c = sc.costs
    rewards = []
    for seed in SEEDS:
        decider = ChainDecider(model, chain, best.bias)
        k = simulate(sc, seed, decider)
        rewards.append(
            c.good_unit * k.throughput
            - c.scrap * k.scrapped_parts / k.sim_minutes
            - c.wip_per_minute * k.wip
        )
        assert decider.misses == 0  # every simulated decision was a state of the chain
    xs = np.asarray(rewards)
    half = stats.t.ppf(0.975, len(xs) - 1) * xs.std(ddof=1) / np.sqrt(len(xs))
    assert abs(xs.mean() - best.gains[0]) <= half


def test_the_decider_refuses_wear_phases_the_simulator_does_not_show():
    model = markovian_model(load_scenario(ROOT / "scenarios" / "benchmarks" / "wear_cell.yaml"))
    with pytest.raises(ValueError, match="Erlang"):
        ChainDecider(model, build_chain(model), None)


def test_the_iterative_solver_for_large_chains_agrees_with_the_direct_one(monkeypatch):
    chain = build_chain(markovian_model(LINES["three-stations-parallel-failures"]))
    direct = optimise(chain)
    monkeypatch.setattr(solve, "DIRECT_LIMIT", 10)
    iterative = optimise(chain)
    assert chain.n_states > 10
    np.testing.assert_allclose(iterative.gains, direct.gains, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(iterative.visits, direct.visits, rtol=1e-7, atol=1e-12)
