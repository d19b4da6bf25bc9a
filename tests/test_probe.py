"""The station-identity probe: high accuracy where stations look different, near chance
where they look alike, seeded, and reachable from the CLI for heuristics and stored policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_TRAIN, register
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import TrainingError
from factory_twin.policy.heuristics import fifo
from factory_twin.scenario import Horizon, load_scenario
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.pipeline import train_method
from factory_twin.train.probe import heuristic_chooser, probe_line
from factory_twin.workflows import probe

GLASS = Path(__file__).resolve().parents[1] / "scenarios" / "glass_line.yaml"
# three stations that differ in what they show: buffer sizes, process times and variability
VISIBLE = """\
name: visible
horizon: {warmup: 60, length: 1500}
products: [{name: a}]
source: {kind: saturated}
stations:
  - {name: quick, buffer: 2, process: {dist: deterministic, value: 0.3}}
  - {name: slow, buffer: 10, process: {dist: exponential, mean: 1.0}}
  - {name: middle, buffer: 5, process: {dist: lognormal, mean: 0.7, cv: 0.2}}
"""


@pytest.fixture
def visible(tmp_path: Path) -> Path:
    path = tmp_path / "visible.yaml"
    path.write_text(VISIBLE, encoding="utf-8")
    return path


def test_stations_that_look_different_are_told_apart(visible: Path):
    result = probe_line(load_scenario(visible), heuristic_chooser(fifo), "fifo", seed=1)
    assert result.chance == pytest.approx(1 / 3)
    assert result.accuracy > 0.9
    assert min(result.recall.values()) > 0.8
    assert result.held_out == 3 * round(result.per_station * 0.25)


def test_look_alike_glass_stations_are_near_chance_inside_the_line():
    result = probe_line(load_scenario(GLASS), heuristic_chooser(fifo), "fifo", seed=0)
    assert result.chance == pytest.approx(1 / 8)
    # the ends are told apart by the saturated source and the open exit, the inside is not
    assert result.recall["washer"] > 0.9 and result.recall["palletizer"] > 0.9
    inside = [result.recall[n] for n in ("dryer", "inspector", "coater", "lehr")]
    assert sum(inside) / len(inside) < 2 * result.chance
    assert result.accuracy < 0.5


def test_same_seed_same_probe(visible: Path):
    sc = load_scenario(visible)
    a, b = (probe_line(sc, heuristic_chooser(fifo), "fifo", seed=4) for _ in range(2))
    assert a == b


def test_a_line_too_short_to_decide_is_refused(visible: Path):
    short = load_scenario(visible).model_copy(update={"horizon": Horizon(warmup=0, length=2)})
    with pytest.raises(TrainingError, match="needs at least 8 decisions per station"):
        probe_line(short, heuristic_chooser(fifo), "fifo")


def test_cli_prints_the_table_and_writes_the_json(visible: Path, tmp_path: Path):
    out = tmp_path / "probe.json"
    args = ["probe", str(visible), "--policy", "fifo", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["policy"] == "fifo" and doc["stations"] == ["quick", "slow", "middle"]
    assert f"{100 * doc['accuracy']:.1f}" in result.stdout and "all stations" in result.stdout


def test_cli_refuses_an_unknown_policy_with_exit_2(visible: Path):
    result = CliRunner().invoke(app, ["probe", str(visible), "--policy", "bogus"])
    assert result.exit_code == 2 and "bogus" in result.stderr


def test_a_stored_learned_policy_can_be_probed(visible: Path, tmp_path: Path):
    sc = load_scenario(visible)
    db, store = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}"), tmp_path / "store"
    cfg = TrainConfig(method="ps", **TINY_TRAIN)
    train_method(sc, register(db, sc), cfg, db, PolicyStore(store))
    result = probe(visible, "shared", store)
    assert result.policy == "ps" and 0.0 <= result.accuracy <= 1.0
    assert result.per_station >= 8
