"""A LoRASA policy is published as one set: a process killed (deterministically, through the
fault hook) at any step of saving leaves the previous set loadable, and the next save sweeps
the temp folders the dead writer left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from factory_twin.env import LineEnv
from factory_twin.errors import StoreError
from factory_twin.faults import CRASH_ENV, CRASH_EXIT_CODE
from factory_twin.scenario import parse_scenario_text
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set, set_path
from factory_twin.store.runlog import open_db
from factory_twin.store.tmpdirs import TMP_PREFIX, make_locked_dir, sweep_stale
from factory_twin.train.adapt import adapt_station
from factory_twin.train.config import TrainConfig
from factory_twin.train.pipeline import load_trained, train_method

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """
name: set-test
horizon: {warmup: 0, length: 60}
products: [{name: a}]
source: {kind: saturated}
stations:
  - {name: s1, buffer: 3, process: {dist: exponential, mean: 0.5}}
  - {name: s2, buffer: 3, process: {dist: exponential, mean: 0.6}}
"""
TINY = dict(total_steps=256, n_envs=2, rollout_len=64, hidden=(16, 16), episode_minutes=30.0)

# run in a child process: train LoRASA (or adapt s2) into the store given on the command line
CHILD = """
import sys
from factory_twin.scenario import parse_scenario_text
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.adapt import adapt_station
from factory_twin.train.config import TrainConfig
from factory_twin.train.pipeline import train_method
text, tmp, what, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sc = parse_scenario_text(text)
db, store = open_db(f"sqlite:///{tmp}/log.sqlite"), PolicyStore(f"{tmp}/store")
sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
if what == "adapt":
    adapt_station(sc, sid, "s2", 256, seed, db, store)
else:
    train_method(sc, sid, TrainConfig(method="lorasa", seed=seed, **TINY), db, store)
""".replace("TINY", repr(TINY))


def _train(tmp: Path, seed: int):
    sc = parse_scenario_text(SCENARIO)
    db, store = open_db(f"sqlite:///{tmp / 'log.sqlite'}"), PolicyStore(tmp / "store")
    sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
    return train_method(sc, sid, TrainConfig(method="lorasa", seed=seed, **TINY), db, store)


def _crash(tmp: Path, step: str, what: str = "train", seed: int = 1) -> None:
    env = {**os.environ, CRASH_ENV: step, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, SCENARIO, str(tmp), what, str(seed)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == CRASH_EXIT_CODE, done.stderr  # died at the named step


def _outputs(actor) -> torch.Tensor:
    sc = parse_scenario_text(SCENARIO)
    obs = torch.rand(2, 4, LineEnv(sc).obs_dim, generator=torch.Generator().manual_seed(0))
    return actor.forward_grouped(obs)


def _loaded(tmp: Path):
    return load_trained(PolicyStore(tmp / "store"), parse_scenario_text(SCENARIO), "lorasa")


def _leftovers(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "store").rglob(f"{TMP_PREFIX}*")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "step", ["version-before-rename", "lorasa-after-base", "lorasa-before-set"]
)
def test_killed_save_leaves_the_previous_set_loadable(tmp_path: Path, step: str) -> None:
    first = _train(tmp_path, seed=0)
    _crash(tmp_path, step)
    store = PolicyStore(tmp_path / "store")
    if step == "version-before-rename":
        assert [p.parent.name for p in _leftovers(tmp_path)] == ["_base"]
    else:
        assert store.base_versions("set-test") == [1, 2]  # the dead writer's base, an orphan
    assert load_lorasa_set(store, "set-test").base.version == 1
    assert torch.equal(_outputs(_loaded(tmp_path).actor), _outputs(first.actor))

    second = _train(tmp_path, seed=2)  # the next write sweeps what the dead one left
    assert _leftovers(tmp_path) == []
    assert torch.equal(_outputs(_loaded(tmp_path).actor), _outputs(second.actor))
    assert not torch.equal(_outputs(second.actor), _outputs(first.actor))


@pytest.mark.timeout(300)
def test_killed_adapt_leaves_the_previous_set_loadable(tmp_path: Path) -> None:
    first = _train(tmp_path, seed=0)
    _crash(tmp_path, "lorasa-before-set", what="adapt")
    store = PolicyStore(tmp_path / "store")
    assert store.versions("set-test", "s2") == [1, 2]  # written, but no set names it
    assert load_lorasa_set(store, "set-test").adapters["s2"].version == 1
    assert torch.equal(_outputs(_loaded(tmp_path).actor), _outputs(first.actor))


def test_adapt_publishes_the_set_it_started_from_with_one_adapter_replaced(tmp_path):
    _train(tmp_path, seed=0)
    store, sc = PolicyStore(tmp_path / "store"), parse_scenario_text(SCENARIO)
    before = load_lorasa_set(store, sc.name)
    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    adapt_station(sc, db.ensure_scenario(sc.name, sc.content_hash(), "yaml"), "s2", 256, 1,
                  db, store)  # fmt: skip
    after = load_lorasa_set(store, sc.name)
    assert after.base == before.base and after.adapters["s1"] == before.adapters["s1"]
    assert after.adapters["s2"].version == 2 and after.adapters["s2"] != before.adapters["s2"]


def test_an_orphan_base_from_another_trainer_does_not_shadow_the_set(tmp_path):
    first = _train(tmp_path, seed=0)
    store = PolicyStore(tmp_path / "store")
    base, _ = store.load_base("set-test")
    bogus = {k: torch.zeros_like(v) for k, v in base.items()}
    meta = {"base_hash": "other", "scenario_hash": "x", "config": {}}
    store.save_base("set-test", bogus, meta)  # as an overlapping trainer midway would leave it
    assert torch.equal(_outputs(_loaded(tmp_path).actor), _outputs(first.actor))


def test_broken_or_missing_set_file_is_a_one_line_error(tmp_path: Path) -> None:
    store, sc = PolicyStore(tmp_path / "store"), parse_scenario_text(SCENARIO)
    with pytest.raises(StoreError, match="_lorasa-set.json: missing; expected a published"):
        load_trained(store, sc, "lorasa")
    _train(tmp_path, seed=0)
    path = set_path(store, sc.name)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "base": {"version": "1"}}))
    with pytest.raises(StoreError, match=r"_lorasa-set.json: base is .*expected \{version"):
        load_trained(store, sc, "lorasa")
    record["adapters"]["s1"]["sha256"] = "0" * 64
    path.write_text(json.dumps(record))
    with pytest.raises(StoreError, match="v1: sha256 is .*expected 0+ from the LoRASA set"):
        load_trained(store, sc, "lorasa")
    path.write_text("{torn")
    with pytest.raises(StoreError, match="_lorasa-set.json: unreadable") as info:
        load_trained(store, sc, "lorasa")
    assert "\n" not in str(info.value)


def test_sweep_removes_only_temp_folders_nobody_holds(tmp_path: Path) -> None:
    held, dropped = make_locked_dir(tmp_path), make_locked_dir(tmp_path)
    (dropped.path / "half.bin").write_bytes(b"x")
    dropped.release()  # as the kernel does when its writer is killed
    assert sweep_stale(tmp_path) == [dropped.path]
    assert held.path.is_dir() and not dropped.path.exists()
    held.release()


def test_a_sweep_between_mkdir_and_lock_makes_the_writer_start_over(tmp_path, monkeypatch):
    import factory_twin.store.tmpdirs as tmpdirs

    real_open, swept = os.open, []

    def open_after_a_sweep(path, flags, *args, **kwargs):
        if not swept:  # the writer's first open: another writer sweeps just before it
            swept.append(None)
            swept.extend(sweep_stale(tmp_path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(tmpdirs.os, "open", open_after_a_sweep)
    fresh = make_locked_dir(tmp_path)
    monkeypatch.setattr(tmpdirs.os, "open", real_open)
    assert len(swept) == 2 and swept[1] != fresh.path  # the first folder went, unlocked
    assert fresh.path.is_dir() and sweep_stale(tmp_path) == []  # the second is held
    fresh.release()
