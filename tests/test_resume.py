"""Crash safety: a training process killed with SIGKILL resumes from its last checkpoint and
finishes its budget as one run with one unbroken episode history; nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import register

from factory_twin.errors import StoreError
from factory_twin.faults import CRASH_ENV, CRASH_EXIT_CODE
from factory_twin.store.runlog import open_db
from factory_twin.train.checkpoint import META, WEIGHTS, current_checkpoint, load_checkpoint
from factory_twin.train.config import config_from_dict
from factory_twin.train.mappo import MAPPO

SCENARIO = """
name: kill-test
horizon: {warmup: 0, length: 60}
products: [{name: a}]
source: {kind: saturated}
stations:
  - {name: s1, buffer: 3, process: {dist: exponential, mean: 0.5}}
  - {name: s2, buffer: 3, process: {dist: exponential, mean: 0.6}}
"""


def _cli(tmp: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "factory_twin.cli",
        "train",
        str(tmp / "line.yaml"),
        *args,
        "--db",
        str(tmp / "log.sqlite"),
        "--store",
        str(tmp / "store"),
        "--checkpoints",
        str(tmp / "ckpt"),
        "--checkpoint-every",
        "1",
    ]


@pytest.mark.timeout(300)
def test_sigkill_mid_training_then_resume(tmp_path):
    (tmp_path / "line.yaml").write_text(SCENARIO)
    steps = 120_000
    proc = subprocess.Popen(
        _cli(tmp_path, "--method", "lorasa", "--steps", str(steps)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    run_dir = tmp_path / "ckpt" / "run-1"
    deadline = time.time() + 200
    while time.time() < deadline and proc.poll() is None:
        if _checkpoint_steps(run_dir) >= steps // 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()  # still training: kill it now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_steps(run_dir)
    assert 0 < killed_at < steps

    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    assert db.get_run(1).status == "running"  # the kill left it open, as a crash would
    before = len(db.episodes(1))

    done = subprocess.run(_cli(tmp_path, "--resume", "1"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    runs = db.list_runs()
    assert [r.id for r in runs if r.kind == "train"] == [1]  # one run, continued
    run = db.get_run(1)
    assert run.status == "done"
    indices = [e.index for e in db.episodes(1)]
    assert indices == list(range(len(indices)))  # unbroken, nothing duplicated
    assert len(indices) > before > 0
    # the final checkpoint is whole and covers the budget; no temp files anywhere
    trainer = MAPPO(_scenario(tmp_path), config_from_dict(run.config))
    load_checkpoint(trainer, tmp_path / "ckpt" / "run-1")
    assert trainer.steps >= steps and trainer.phase == "adapters"
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    assert (current_checkpoint(run_dir) / WEIGHTS).exists()
    assert [p.name for p in run_dir.iterdir() if p.is_dir()] == [current_checkpoint(run_dir).name]
    assert db.adapter_versions("kill-test")  # the resumed run stored its adapters


def _checkpoint_steps(run_dir: Path) -> int:
    """Steps of the committed checkpoint, 0 while none is (or while it is being replaced)."""
    try:
        return json.loads((current_checkpoint(run_dir) / META).read_text())["steps"]
    except (OSError, ValueError, StoreError):
        return 0


CHILD = """
import sys
from factory_twin.scenario import parse_scenario_text
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.pipeline import train_method
text, tmp = sys.argv[1], sys.argv[2]
sc = parse_scenario_text(text)
db = open_db(f"sqlite:///{tmp}/log.sqlite")
sid = db.ensure_scenario(sc.name, sc.content_hash(), "yaml")
cfg = TrainConfig(method="ps", total_steps=1024, n_envs=2, rollout_len=64, hidden=(16, 16))
train_method(sc, sid, cfg, db, PolicyStore(f"{tmp}/store"), checkpoints=Path(f"{tmp}/ckpt"),
             checkpoint_every=1)
""".replace("import sys", "import sys\nfrom pathlib import Path")


@pytest.mark.timeout(300)
def test_kill_between_writing_and_committing_a_checkpoint_then_resume(tmp_path):
    from factory_twin.scenario import parse_scenario_text
    from factory_twin.store.policies import PolicyStore
    from factory_twin.train.pipeline import train_method

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, CRASH_ENV: "checkpoint-before-switch@3", "PYTHONPATH": str(root)}
    args = [sys.executable, "-c", CHILD, SCENARIO, str(tmp_path)]
    died = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert died.returncode == CRASH_EXIT_CODE, died.stderr  # the third one written, not committed
    run_dir = tmp_path / "ckpt" / "run-1"
    assert sorted(p.name for p in run_dir.iterdir()) == ["CURRENT", "ckpt-2", "ckpt-3"]
    sc = parse_scenario_text(SCENARIO)
    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    run = db.get_run(1)
    trainer = MAPPO(sc, config_from_dict(run.config))
    load_checkpoint(trainer, run_dir)
    assert trainer.updates == 2 and trainer.steps == 256  # the previous, whole checkpoint

    store = PolicyStore(tmp_path / "store")
    cfg = config_from_dict(run.config)
    train_method(sc, register(db, sc), cfg, db, store, checkpoints=tmp_path / "ckpt",
                 checkpoint_every=1, resume=1)  # fmt: skip
    assert db.get_run(1).status == "done"
    load_checkpoint(trainer, run_dir)
    assert trainer.steps >= 1024
    committed = current_checkpoint(run_dir).name
    assert sorted(p.name for p in run_dir.iterdir()) == ["CURRENT", committed]


def _scenario(tmp: Path):
    from factory_twin.scenario import load_scenario

    return load_scenario(tmp / "line.yaml")


def test_non_finite_reward_stops_training_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    from factory_twin.env import LineEnv
    from factory_twin.errors import TrainingError
    from factory_twin.scenario import parse_scenario_text
    from factory_twin.store.policies import PolicyStore
    from factory_twin.train.config import TrainConfig
    from factory_twin.train.pipeline import train_method

    real_step = LineEnv.step_arrays
    calls = {"n": 0}

    def poisoned(self, acts):
        calls["n"] += 1
        obs, mask, acting, reward, done = real_step(self, acts)
        return obs, mask, acting, (float("nan") if calls["n"] > 1500 else reward), done

    monkeypatch.setattr(LineEnv, "step_arrays", poisoned)
    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    cfg = TrainConfig(method="ps", total_steps=8192, n_envs=2, rollout_len=128, hidden=(16, 16))
    with pytest.raises(TrainingError, match="non-finite"):
        train_method(
            parse_scenario_text(SCENARIO),
            register(db, parse_scenario_text(SCENARIO)),
            cfg,
            db,
            PolicyStore(tmp_path / "s"),
            checkpoints=tmp_path / "ckpt",
            checkpoint_every=1,
        )
    assert db.get_run(1).status == "failed"
    trainer = MAPPO(parse_scenario_text(SCENARIO), cfg)
    load_checkpoint(trainer, tmp_path / "ckpt" / "run-1")  # whole, verified by sha256
    assert 0 < trainer.steps < 1500  # the last good update, not the poisoned one
    assert all(torch_isfinite(p) for p in trainer.actor.parameters())


def torch_isfinite(t) -> bool:
    import torch

    return bool(torch.isfinite(t).all())
