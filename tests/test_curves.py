"""Learning curves in the log: the updates table migrates onto an old database without
touching its runs, and a run's curve round-trips (NaN as NULL, replace on a repeated update)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from factory_twin.store.connection import _alembic_config
from factory_twin.store.curves import UpdatePoint, add_updates, updates
from factory_twin.store.runlog import open_db


def _old_database(path: Path) -> None:
    """A log file at schema revision 0001 (before learning curves) with one run in it."""
    engine = create_engine(f"sqlite:///{path}")
    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO scenarios (name, hash, yaml_text, created_at) "
                     "VALUES ('old', 'h', 'y', '2025-01-01 00:00:00')")  # fmt: skip
        conn.execute("INSERT INTO runs (scenario_id, kind, method, seed, config, status, "
                     "created_at) VALUES (1, 'train', 'ps', 0, '{}', 'done', "
                     "'2025-01-01 00:00:00')")  # fmt: skip


def test_updates_table_migrates_onto_an_old_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_database(path)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "updates" not in tables
    db = open_db(f"sqlite:///{path}")
    assert db.get_run(1).method == "ps"  # the old run survived
    add_updates(db, 1, [UpdatePoint(1, 2048, "base", 3.5, {"policy": 0.1}, math.nan)])
    assert [p.steps for p in updates(db, 1)] == [2048]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]


def test_curve_round_trip_nan_as_null_and_replace(tmp_path: Path) -> None:
    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    sid = db.ensure_scenario("line", "h", "y")
    run = db.start_run(sid, "train", "lorasa", 0, {})
    losses = {"policy": -0.01, "value": 0.4, "entropy": 1.2, "approx_kl": 0.003,
              "clipfrac": 0.1, "explained_variance": math.nan}  # fmt: skip
    add_updates(db, run, [UpdatePoint(1, 2048, "base", math.nan, losses, math.nan),
                          UpdatePoint(2, 4096, "adapters", 7.0, losses, 0.8)])  # fmt: skip
    add_updates(db, run, [UpdatePoint(2, 4096, "adapters", 7.5, losses, 0.9)])  # replaces
    first, second = updates(db, run)
    assert (first.update, first.phase, second.phase) == (1, "base", "adapters")
    assert math.isnan(first.mean_return) and math.isnan(first.throughput)
    assert math.isnan(first.losses["explained_variance"])
    assert first.losses["approx_kl"] == 0.003
    assert (second.mean_return, second.throughput) == (7.5, 0.9)
    assert updates(db, run + 1) == []
