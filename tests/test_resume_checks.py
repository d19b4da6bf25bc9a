"""`--resume` refuses what it cannot continue truthfully (a simulate run, a finished run, a
run still at work, another scenario, an edited scenario), and a run left 'running' by a dead
process is shown and marked as such; checkpoint paths are stored absolute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import exp, line, register
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import StoreError
from factory_twin.store.run_owners import mark_abandoned_runs, run_status, this_owner
from factory_twin.store.runlog import Database, open_db
from factory_twin.store.schema import RunRow
from factory_twin.train.config import TrainConfig
from factory_twin.train.resumable import resumable_run

ROOT = Path(__file__).parent.parent
SMT = ROOT / "scenarios" / "smt.yaml"


def scenario(name: str = "test-line", mean: float = 1.0):
    sc = line([{"name": "s", "buffer": 3, "process": exp(mean)}], {"kind": "saturated"}, 60)
    return sc.model_copy(update={"name": name})


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")


def train_run(db: Database, sc, checkpoint: str | None = "ckpt") -> int:
    run_id = db.start_run(register(db, sc), "train", "ps", 0, TrainConfig(method="ps").to_dict())
    if checkpoint is not None:
        db.set_checkpoint(run_id, checkpoint)
    db.finish_run(run_id, "interrupted")
    return run_id


def set_owner(db: Database, run_id: int, pid: int) -> None:
    db.write(
        lambda s: (
            s.query(RunRow)
            .filter_by(id=run_id)
            .update(
                {"status": "running", "owner_pid": pid, "owner_host": this_owner()["owner_host"]}
            )
        ),
        "test",
    )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_interrupted_training_run_is_resumable(db: Database):
    sc = scenario()
    run_id = train_run(db, sc)
    run, cfg = resumable_run(db, run_id, sc, register(db, sc))
    assert run.id == run_id and cfg.method == "ps"


def test_checkpoint_path_is_stored_absolute(db: Database, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_id = train_run(db, scenario(), "checkpoints/run-1")
    assert db.get_run(run_id).checkpoint_path == str(tmp_path / "checkpoints" / "run-1")


def test_simulate_run_is_refused(db: Database):
    sc = scenario()
    run_id = db.start_run(register(db, sc), "simulate", "fifo", 0, {"seeds": [0]})
    with pytest.raises(StoreError, match=f"run {run_id} is a simulate run; expected a training"):
        resumable_run(db, run_id, sc, register(db, sc))


def test_done_run_is_refused(db: Database):
    sc = scenario()
    run_id = train_run(db, sc)
    db.finish_run(run_id, "done")
    with pytest.raises(StoreError, match="is done; expected an interrupted or failed run"):
        resumable_run(db, run_id, sc, register(db, sc))


def test_run_of_another_scenario_is_refused(db: Database):
    run_id = train_run(db, scenario("line-a"))
    other = scenario("line-b")
    with pytest.raises(StoreError, match="trained scenario 'line-a'; expected a run of 'line-b'"):
        resumable_run(db, run_id, other, register(db, other))


def test_edited_scenario_is_refused_unless_allowed(db: Database):
    run_id = train_run(db, scenario(mean=1.0))
    edited = scenario(mean=2.0)  # same name, other content hash
    with pytest.raises(StoreError, match="content hash differs") as info:
        resumable_run(db, run_id, edited, register(db, edited))
    assert "--allow-changed-scenario" in str(info.value)
    assert resumable_run(db, run_id, edited, register(db, edited), allow_changed=True)


def test_run_without_checkpoint_is_refused(db: Database):
    sc = scenario()
    run_id = train_run(db, sc, checkpoint=None)
    with pytest.raises(StoreError, match="has no checkpoint to resume from"):
        resumable_run(db, run_id, sc, register(db, sc))


def test_run_whose_owner_lives_is_refused_and_a_dead_owners_run_is_not(db: Database):
    sc = scenario()
    run_id = train_run(db, sc)
    set_owner(db, run_id, os.getpid())
    with pytest.raises(StoreError, match=f"still running \\(process {os.getpid()} on"):
        resumable_run(db, run_id, sc, register(db, sc))
    set_owner(db, run_id, dead_pid())
    assert resumable_run(db, run_id, sc, register(db, sc))[0].status == "running"


def test_run_left_running_by_a_killed_process_is_shown_and_marked(db: Database, tmp_path: Path):
    child = f"""
import os
from factory_twin.store.runlog import open_db
db = open_db("sqlite:///{tmp_path / "log.sqlite"}")
sid = db.ensure_scenario("x", "f" * 64, "")
db.start_run(sid, "train", "ps", 0, {{}})
os._exit(137)  # as kill -9 leaves it: no status written
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", child], env=env).returncode == 137
    [run] = db.list_runs()
    assert run.status == "running" and run_status(run) == "running (process gone)"
    result = CliRunner().invoke(app, ["runs", "--db", str(tmp_path / "log.sqlite")])
    assert "running (process gone)" in result.stdout
    live = train_run(db, scenario())
    set_owner(db, live, os.getpid())
    assert mark_abandoned_runs(db) == [run.id]
    assert db.get_run(run.id).status == "interrupted" and db.get_run(live).status == "running"
    assert db.get_run(run.id).finished_at is not None


def test_cli_resume_of_a_simulate_run_is_one_line(tmp_path: Path):
    db = str(tmp_path / "log.sqlite")
    ran = CliRunner().invoke(app, ["run", str(SMT), "--policy", "fifo", "--seeds", "1", "--db", db])
    assert ran.exit_code == 0, ran.output
    result = CliRunner().invoke(app, [
        "train", str(SMT), "--resume", "1", "--db", db, "--store", str(tmp_path / "store"),
        "--checkpoints", str(tmp_path / "ck"),
    ])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: {db}: run 1 is a simulate run; expected a training run (only those have "
        "checkpoints)"
    ]
    assert "Traceback" not in result.output


def test_cli_resume_of_an_edited_scenario_needs_the_flag(tmp_path: Path):
    from factory_twin.scenario import load_scenario

    db_path = tmp_path / "log.sqlite"
    db = open_db(str(db_path))
    original = load_scenario(SMT)
    sid = db.ensure_scenario(original.name, original.content_hash(), SMT.read_text())
    run_id = db.start_run(sid, "train", "ps", 0, TrainConfig(method="ps").to_dict())
    db.set_checkpoint(run_id, tmp_path / "ck" / f"run-{run_id}")
    db.finish_run(run_id, "interrupted")
    edited = tmp_path / "smt.yaml"
    edited.write_text(SMT.read_text().replace("length: 4800", "length: 4000"))
    args = ["train", str(edited), "--resume", str(run_id), "--db", str(db_path),
            "--store", str(tmp_path / "store"), "--checkpoints", str(tmp_path / "ck")]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "content hash differs" in refused.stderr
    allowed = CliRunner().invoke(app, [*args, "--allow-changed-scenario"])
    assert allowed.exit_code == 2, allowed.output  # got past the check, to the checkpoint
    assert allowed.stderr.splitlines() == [
        f"error: {tmp_path / 'ck' / f'run-{run_id}' / 'CURRENT'}: missing; expected a "
        "committed checkpoint"
    ]
