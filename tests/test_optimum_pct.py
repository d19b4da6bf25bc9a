"""% of optimum where it exists: `run` and `compare` tables and JSON documents give each
policy's throughput and team reward as a share of the line's exact optimum, solved once per
scenario content; lines that cannot be solved show no such column and a null optimum."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.compare_report import comparison_json, comparison_table
from factory_twin.comparison import Comparison, MethodResult
from factory_twin.optimum import yardstick
from factory_twin.optimum.value import LineOptimum
from factory_twin.report import kpi_table, simulation_json
from factory_twin.scenario import Costs, load_scenario
from factory_twin.sim.kpi import KPIs, StationKPI, team_reward

ROOT = Path(__file__).resolve().parents[1]
COSTS = Costs(good_unit=2.0, wip_per_minute=0.1, scrap=1.0, pm=0.5)
OPT = LineOptimum(throughput=2.0, reward=3.0, states=42, costs=COSTS)


def _kpis(throughput: float, scrapped: int = 0, pms: int = 0) -> KPIs:
    st = StationKPI("a", {"busy": 1.0, "idle": 0.0}, 1.0, 0.5, 100, scrapped, 0, pms, 0)
    return KPIs(throughput, 5.0, 30.0, 60.0, 0.5, 0.0, 0.5, 90.0, 100, scrapped, 100.0,
                throughput, 30.0, stations=[st])  # fmt: skip


def test_team_reward_counts_good_parts_scrap_pm_and_wip_at_their_costs():
    k = _kpis(2.0, scrapped=10, pms=4)
    assert team_reward(k, COSTS) == pytest.approx(2 * 2.0 - 1.0 * 10 / 100 - 0.5 * 4 / 100 - 0.5)
    assert OPT.throughput_pct(k) == pytest.approx(100.0)
    assert OPT.reward_pct(k) == pytest.approx(100 * (4 - 0.1 - 0.02 - 0.5) / 3.0)


def _comparison(optimum):
    ps = MethodResult("ps", "PS", [0, 1], [[_kpis(1.0), _kpis(1.2)], [_kpis(1.6), _kpis(1.6)]])
    return Comparison("line", 1000, [7, 8], "fifo", [_kpis(0.8), _kpis(1.0)], [ps],
                      optimum=optimum)  # fmt: skip


def test_compare_json_gives_each_policy_its_share_of_the_optimum():
    doc = json.loads(json.dumps(comparison_json(_comparison(OPT))))
    assert doc["optimum"] == {"throughput": 2.0, "team_reward": 3.0, "states": 42}
    heur = doc["best_heuristic"]["pct_of_optimum"]
    assert heur["throughput"]["mean"] == pytest.approx(45.0) and heur["throughput"]["n"] == 2
    reward = [100 * (2 * t - 0.5) / 3.0 for t in (0.8, 1.0)]
    assert heur["team_reward"]["mean"] == pytest.approx(sum(reward) / 2)
    ps = doc["methods"][0]["pct_of_optimum"]
    # over training seeds: seed 0 averages 1.1 (55%), seed 1 1.6 (80%)
    assert ps["throughput"]["mean"] == pytest.approx(67.5) and ps["throughput"]["n"] == 2
    assert ps["throughput"]["ci_low"] < 67.5 < ps["throughput"]["ci_high"]


def test_compare_json_has_a_null_optimum_where_the_line_is_not_solvable():
    doc = comparison_json(_comparison(None))
    assert doc["optimum"] is None and doc["best_heuristic"]["pct_of_optimum"] is None
    assert doc["methods"][0]["pct_of_optimum"] is None


def _text(table) -> str:
    console = Console(record=True, width=400, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_tables_show_the_optimum_columns_only_where_the_optimum_is_known():
    with_opt = _text(comparison_table(_comparison(OPT)))
    assert "% of optimum" in with_opt and "67.5 ±" in with_opt and "45.0 ±" in with_opt
    assert "optimum (exact, 42 states): 120.00 good parts/h" in " ".join(with_opt.split())
    assert "% of optimum" not in _text(comparison_table(_comparison(None)))
    results = {"fifo": [_kpis(1.0), _kpis(1.2)]}
    run = _text(kpi_table("t", results, optimum=OPT))
    assert "% of optimum throughput" in run and "55.0 ± " in run
    assert "% of optimum" not in _text(kpi_table("t", results))


def test_run_json_holds_levels_and_shares():
    doc = simulation_json("line", [0, 1], {"fifo (run 3)": [_kpis(1.0), _kpis(1.2)]}, OPT)
    (policy,) = doc["policies"]
    assert policy["policy"] == "fifo (run 3)" and doc["seeds"] == [0, 1]
    assert policy["levels"]["throughput"]["mean"] == pytest.approx(1.1)
    assert policy["pct_of_optimum"]["throughput"]["mean"] == pytest.approx(55.0)
    assert (
        simulation_json("line", [0], {"x": [_kpis(1.0)]}, None)["policies"][0]["pct_of_optimum"]
        is None
    )


def test_the_optimum_is_solved_once_per_scenario_content(monkeypatch):
    sc = load_scenario(ROOT / "scenarios" / "benchmarks" / "room_downstream.yaml")
    monkeypatch.setattr(yardstick, "_SOLVED", {})
    first = yardstick.line_optimum(sc)
    assert first.states == 54 and first.reward * 60 == pytest.approx(47.52, abs=0.01)

    def no_second_solve(*args, **kwargs):
        raise AssertionError("solved twice")

    monkeypatch.setattr(yardstick, "build_chain", no_second_solve)
    assert yardstick.line_optimum(sc.model_copy()) is first
    assert yardstick.line_optimum(load_scenario(ROOT / "scenarios" / "smt.yaml")) is None


@pytest.mark.parametrize(
    ("path", "solvable"),
    [("scenarios/benchmarks/rush_orders.yaml", True), ("scenarios/engine.yaml", False)],
)
def test_run_prints_and_writes_the_share_of_the_optimum(tmp_path, path, solvable):
    out = tmp_path / "run.json"
    args = ["run", str(ROOT / path), "--policy", "fifo", "--seeds", "2", "--json", str(out),
            "--db", str(tmp_path / "db.sqlite"), "--store", str(tmp_path / "store")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert ("% of optimum" in result.stdout) == solvable
    if not solvable:
        assert doc["optimum"] is None
        return
    assert doc["optimum"]["states"] == 262
    share = doc["policies"][0]["pct_of_optimum"]["throughput"]["mean"]
    level = doc["policies"][0]["levels"]["throughput"]["mean"]
    assert share == pytest.approx(100 * level / doc["optimum"]["throughput"])
    assert 80 < share < 100  # fifo never hurries the press: below the optimum


def test_the_compare_workflow_holds_its_policies_against_the_optimum(tmp_path):
    from factory_twin.execute import make_executor
    from factory_twin.workflows import CompareSpec, compare, open_workspace

    class Bar:
        def advance(self, n: int = 1) -> None: ...

        def update(self, completed: int, info: str = "") -> None: ...

    path = ROOT / "scenarios" / "benchmarks" / "room_downstream.yaml"
    ws = open_workspace(path, f"sqlite:///{tmp_path / 'log.sqlite'}", tmp_path / "store")
    found = compare(ws, CompareSpec([], eval_seeds=2), make_executor(1, None), lambda d, n: Bar())
    assert found.optimum.states == 54
    share = comparison_json(found)["best_heuristic"]["pct_of_optimum"]["team_reward"]["mean"]
    assert 80 < share < 105  # the heuristics never hurry the cutter: about 96% in the long run
