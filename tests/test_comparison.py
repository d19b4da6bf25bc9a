"""The comparison's statistics and what `compare` prints: levels over training seeds, paired
differences with scipy's intervals, verdict lines, the JSON document, and a tiny end-to-end
run through the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from factory_twin.compare_report import comparison_json, verdict_lines
from factory_twin.comparison import (
    Comparison,
    MethodResult,
    against_fixed,
    paired,
    station_behaviour,
    steps_to_reach,
    total_variation,
    verdict,
)
from factory_twin.sim.kpi import KPIs, StationKPI
from factory_twin.store.curves import updates
from factory_twin.store.runlog import open_db

ROOT = Path(__file__).resolve().parents[1]


def _kpis(throughput: float, wip: float = 5.0) -> KPIs:
    return KPIs(throughput, wip, 30.0, 60.0, 0.5, 0.0, 0.5, 90.0, 100, 0, 480.0, throughput, 30.0)


def _method(name: str, per_seed: list[list[float]]) -> MethodResult:
    return MethodResult(name, name.upper(), list(range(len(per_seed))),
                        [[_kpis(t) for t in seed] for seed in per_seed])  # fmt: skip


PS = _method("ps", [[1.0, 1.2], [0.9, 1.1], [1.0, 1.0]])  # seed means 1.1, 1.0, 1.0
LORA = _method("lorasa", [[1.3, 1.3], [1.1, 1.3], [1.2, 1.2]])  # seed means 1.3, 1.2, 1.2


def test_per_seed_values_are_means_over_evaluation_seeds() -> None:
    assert np.allclose(PS.per_seed("throughput"), [1.1, 1.0, 1.0])


def test_paired_difference_is_scipys_paired_t_interval() -> None:
    d = paired(LORA, PS, "throughput")
    ci = stats.ttest_rel([1.3, 1.2, 1.2], [1.1, 1.0, 1.0]).confidence_interval(0.95)
    assert d.mean == pytest.approx(0.2) and d.n == 3
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert d.reference == pytest.approx(1.1 / 3 + 2 / 3)
    # identical differences on every seed: a zero-width interval at +0.2, detected
    assert d.detected and d.low == pytest.approx(0.2)


def test_difference_against_a_fixed_policy_uses_the_same_evaluation_seeds() -> None:
    fixed = [_kpis(1.05), _kpis(1.15)]
    d = against_fixed(PS, "fifo", fixed, "throughput")
    expected = np.array([1.1, 1.0, 1.0]) - 1.1
    ci = stats.ttest_1samp(expected, 0.0).confidence_interval(0.95)
    assert d.mean == pytest.approx(expected.mean())
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))
    assert not d.detected  # the interval spans 0


def test_verdicts_say_what_the_interval_shows() -> None:
    assert "adapters pay on this line" in verdict(paired(LORA, PS, "throughput"), "LoRASA", "PS")
    worse = verdict(paired(PS, LORA, "throughput"), "PS", "LoRASA")
    assert "+" not in worse.split(":")[1].split("%")[0] and "worse" in worse
    fixed = against_fixed(PS, "fifo", [_kpis(1.05), _kpis(1.15)], "throughput")
    assert "no difference detectable: the interval spans 0" in verdict(fixed, "PS", "fifo")
    one = verdict(paired(_method("nps", [[1.0]]), _method("ps", [[1.0]]), "throughput"), "N", "P")
    assert "one training seed" in one


def test_json_holds_levels_differences_and_verdicts() -> None:
    c = Comparison("line", 1000, [7, 8], "fifo", [_kpis(1.05), _kpis(1.15)], [PS, LORA])
    doc = json.loads(json.dumps(comparison_json(c)))  # plain JSON: no NaN, no numpy types
    ps, lora = doc["methods"]
    assert ps["levels"]["throughput"]["mean"] == pytest.approx(31 / 30)
    assert ps["levels"]["throughput"]["n"] == 3 and ps["train_seeds"] == [0, 1, 2]
    assert [s["throughput"] for s in lora["per_seed"]] == pytest.approx([1.3, 1.2, 1.2])
    kinds = {(d["method"], d["against"], d["kpi"]) for d in doc["differences"]}
    assert ("lorasa", "ps", "throughput") in kinds and ("ps", "fifo", "wip") in kinds
    assert ("ps", "ps", "throughput") not in kinds
    lines = verdict_lines(c)
    assert len(lines) == 3 and all("throughput" in line for line in lines)
    assert any(d.get("verdict") == lines[0] for d in doc["differences"])
    assert "training seeds" in doc["interval"]


def test_lorasa_is_also_paired_with_ps_id_the_papers_baseline() -> None:
    ps_id = _method("ps-id", [[1.2, 1.2], [1.3, 1.3], [1.1, 1.1]])
    c = Comparison("line", 1000, [7, 8], "fifo", [_kpis(1.05), _kpis(1.15)], [PS, ps_id, LORA])
    pairs = {(d.method, d.against) for d in c.differences() if d.kpi == "throughput"}
    assert ("lorasa", "ps-id") in pairs and ("ps-id", "ps") in pairs
    assert ("ps-id", "ps-id") not in pairs and ("ps", "ps-id") not in pairs
    d = next(d for d in c.differences() if (d.method, d.against) == ("lorasa", "ps-id"))
    assert d.mean == pytest.approx(0.1 / 3) and not d.detected  # +0.1, -0.1, +0.1 per seed


def test_steps_to_reach_finds_the_first_point_at_95_percent_of_the_final() -> None:
    curve = [(1000, 0.2), (2000, 0.96), (3000, 0.9), (4000, 1.0)]
    assert steps_to_reach(curve) == 2000
    assert steps_to_reach(curve, share=0.99) == 4000
    assert steps_to_reach([]) is None


def _station(name: str, processed: int, fast: int, waits: int, pms: int) -> StationKPI:
    fractions = {"busy": 0.5, "idle": 0.1}
    return StationKPI(name, fractions, 0.5, 0.4, processed, 0, 2, pms, 0, fast, waits)


def test_station_behaviour_pools_seeds_and_compares_decision_mixes() -> None:
    def run(fast: int) -> KPIs:
        k = _kpis(1.0)
        k.stations = [_station("a", 100, fast, 0, 0), _station("b", 50, 0, 50, 0)]
        return k

    rushing = MethodResult("lorasa", "L", [0], [[run(100), run(50)]])
    careful = MethodResult("ps", "P", [0], [[run(0), run(0)]])
    a, b = station_behaviour(rushing)
    assert a.fast_share == pytest.approx(0.75) and a.mix == pytest.approx((0, 0.25, 0.75, 0))
    assert b.waiting_share == pytest.approx(0.1) and b.mix == pytest.approx((0.5, 0.5, 0, 0))
    assert a.setups_per_good_part == pytest.approx(4 / 200)
    pa, pb = station_behaviour(careful)
    assert total_variation(a, pa) == pytest.approx(0.75) and total_variation(b, pb) == 0.0


def test_compare_end_to_end_through_the_cli(tmp_path: Path) -> None:
    """Two methods, two training seeds, tiny budget: table, verdicts, charts and JSON."""
    out = tmp_path / "c.json"
    proc = subprocess.run(
        [sys.executable, "-m", "factory_twin.cli", "compare", str(ROOT / "scenarios/smt.yaml"),
         "--steps", "2048", "--train-seeds", "2", "--eval-seeds", "2", "--methods", "ps,lorasa",
         "--workers", "1", "--db", str(tmp_path / "log.sqlite"), "--store", str(tmp_path / "s"),
         "--out", str(tmp_path / "c.png"), "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 x 2" in proc.stdout  # training seeds x evaluation seeds behind each interval
    assert "LoRASA (shared + adapters) vs shared (PS):" in proc.stdout
    doc = json.loads(out.read_text())
    assert [m["method"] for m in doc["methods"]] == ["ps", "lorasa"]
    assert all(len(m["per_seed"]) == 2 and len(m["run_ids"]) == 2 for m in doc["methods"])
    assert all(m["curve"] and m["curve"][0][-1][0] >= 2048 for m in doc["methods"])
    assert (tmp_path / "c.png").stat().st_size > 0
    assert (tmp_path / "c-curves.png").stat().st_size > 0
    assert (tmp_path / "c-stations.png").stat().st_size > 0
    assert "what each station does" in proc.stdout
    names = [s["station"] for s in doc["methods"][0]["stations"]]
    assert names == ["printer", "pick-and-place", "reflow", "inspection", "test"]
    assert len(doc["lorasa_vs_ps_tv"]) == len(names)
    assert all(0.0 <= d <= 1.0 for d in doc["lorasa_vs_ps_tv"])
    assert not math.isnan(doc["methods"][0]["levels"]["throughput"]["mean"])
    assert "95% CI over training seeds" in doc["interval"]
    assert doc["optimum"] is None and "% of optimum" not in proc.stdout  # smt: not Markovian
    log = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    for method in doc["methods"]:  # every update of every run is in the log, curve included
        for run_id, curve in zip(method["run_ids"], method["curve"], strict=True):
            stored = updates(log, run_id)
            assert stored and stored[-1].steps == curve[-1][0] >= 2048
            assert stored[-1].throughput == pytest.approx(curve[-1][1])
            assert all(math.isfinite(p.losses["approx_kl"]) for p in stored)
