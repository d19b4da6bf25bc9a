"""Run/episode/event store: round trips, aggregates, URL precedence, migrations, idempotency."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from factory_twin.errors import StoreError
from factory_twin.sim.kpi import KPIs
from factory_twin.store.connection import DB_ENV_VAR, DEFAULT_DB_URL, database_url, retry
from factory_twin.store.runlog import Database, episode_kpis, open_db
from factory_twin.store.schema import KPI_COLUMNS, Base

TABLES = {"scenarios", "runs", "episodes", "adapter_versions", "events", "updates"}


def kpis(**overrides: float) -> dict[str, float | int | None]:
    values: dict[str, float | int | None] = {name: 0.5 for name in KPI_COLUMNS}
    values.update(good_parts=90, scrapped_parts=3, episode_return=-1.25)
    values.update(overrides)
    return values


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = open_db(str(tmp_path / "nested" / "t.sqlite"))
    yield database
    database.close()


@pytest.fixture()
def run_id(db: Database) -> int:
    sid = db.ensure_scenario("line-a", "a" * 64, "name: line-a\n")
    return db.start_run(sid, "train", "lorasa", 7, {"lr": 3e-4})


def test_round_trip_run_episodes_events(db: Database, tmp_path: Path) -> None:
    sid = db.ensure_scenario("Linie Süd", "b" * 64, "name: Linie Süd\n")
    rid = db.start_run(sid, "simulate", "fifo", 11, {"episodes": 2, "path": tmp_path})
    db.add_episodes(rid, [(1, 101, 480.0, kpis(throughput=4.0)), (0, 100, 480.0, kpis())])
    db.add_events(rid, [(2, 3.5, {"kind": "done", "part": 7}), (1, 0.25, {"kind": "start"})])
    db.set_checkpoint(rid, tmp_path / "ckpt.safetensors")
    db.finish_run(rid, "done")

    run = db.get_run(rid)
    assert (run.scenario_name, run.kind, run.method, run.seed) == (
        "Linie Süd",
        "simulate",
        "fifo",
        11,
    )
    assert run.config == {"episodes": 2, "path": str(tmp_path)}
    assert run.status == "done" and run.finished_at is not None
    assert run.created_at.tzinfo is not None and run.finished_at >= run.created_at
    assert run.checkpoint_path == str(tmp_path / "ckpt.safetensors")

    episodes = db.episodes(rid)
    assert [(e.index, e.seed) for e in episodes] == [(0, 100), (1, 101)]
    assert episodes[1].kpis() == kpis(throughput=4.0)
    assert isinstance(episodes[0].good_parts, int)

    assert db.events(rid) == [(1, 0.25, {"kind": "start"}), (2, 3.5, {"kind": "done", "part": 7})]


def sim_kpis(throughput: float, lead_time: float = 30.0) -> KPIs:
    return KPIs(
        throughput=throughput,
        wip=2.0,
        lead_time_mean=lead_time,
        lead_time_p95=lead_time,
        oee=0.5,
        scrap_rate=0.0,
        utilisation=0.75,
        bound_pct=80.0,
        good_parts=12,
        scrapped_parts=1,
        sim_minutes=480.0,
        departure_rate=throughput,
        sojourn_mean=lead_time,
    )


def test_log_evaluation_stores_one_done_run_with_an_episode_per_seed(db: Database) -> None:
    sid = db.ensure_scenario("line", "9" * 64, "name: line\n")
    replications = [sim_kpis(0.25), sim_kpis(0.5, lead_time=math.nan)]  # no part finished
    rid = db.log_evaluation(sid, "fifo", [4, 5], replications, kind="simulate", config={"w": 2})
    run = db.get_run(rid)
    assert (run.scenario_id, run.kind, run.method, run.seed) == (sid, "simulate", "fifo", 4)
    assert run.config == {"seeds": [4, 5], "w": 2} and run.status == "done"
    episodes = db.episodes(rid)
    assert [(e.index, e.seed, e.throughput) for e in episodes] == [(0, 4, 0.25), (1, 5, 0.5)]
    assert episodes[1].lead_time_mean == 0.0 and episodes[1].episode_return is None
    assert episodes[0].kpis() == {**episode_kpis(replications[0]), "episode_return": None}
    with pytest.raises(ValueError):
        db.log_evaluation(sid, "fifo", [1, 2, 3], replications)  # a seed without KPIs
    assert [r.id for r in db.list_runs()] == [rid]  # ... left no half-written run


def test_episode_return_is_optional(db: Database, run_id: int) -> None:
    values = kpis()
    del values["episode_return"]
    db.add_episode(run_id, 0, 1, 60.0, values)
    assert db.episodes(run_id)[0].episode_return is None


def test_ensure_scenario_is_idempotent(db: Database) -> None:
    first = db.ensure_scenario("a", "c" * 64, "x: 1")
    assert db.ensure_scenario("a", "c" * 64, "x: 1") == first
    assert db.ensure_scenario("b", "d" * 64, "x: 2") != first


def test_list_runs_aggregates(db: Database) -> None:
    sid = db.ensure_scenario("line", "e" * 64, "y")
    full = db.start_run(sid, "evaluate", "conwip", 1, {})
    empty = db.start_run(sid, "train", "ps", 2, {})
    db.add_episodes(full, [(i, i, 480.0, kpis(throughput=float(i + 1))) for i in range(3)])
    db.finish_run(full, "failed")

    rows = db.list_runs()
    assert [r.id for r in rows] == [empty, full]  # newest first
    by_id = {r.id: r for r in rows}
    assert by_id[full].episode_count == 3 and by_id[full].mean_throughput == pytest.approx(2.0)
    assert (by_id[full].scenario_name, by_id[full].method, by_id[full].status) == (
        "line",
        "conwip",
        "failed",
    )
    assert by_id[empty].episode_count == 0 and by_id[empty].mean_throughput is None
    assert [r.id for r in db.list_runs(limit=1)] == [empty]


def test_add_episode_is_idempotent_latest_wins(db: Database, run_id: int) -> None:
    db.add_episode(run_id, 0, 5, 480.0, kpis(throughput=1.0))
    db.add_episode(run_id, 0, 5, 480.0, kpis(throughput=2.0))  # re-run after a resume
    db.add_episodes(run_id, [(0, 5, 480.0, kpis(throughput=3.0)), (1, 6, 480.0, kpis())])
    episodes = db.episodes(run_id)
    assert [e.index for e in episodes] == [0, 1]
    assert episodes[0].throughput == 3.0
    assert db.list_runs()[0].episode_count == 2


def test_events_repeated_seq_replaces(db: Database, run_id: int) -> None:
    db.add_events(run_id, [(0, 0.0, {"a": 1})])
    db.add_events(run_id, [(0, 0.5, {"a": 2}), (1, 1.0, {"a": 3})])
    assert db.events(run_id) == [(0, 0.5, {"a": 2}), (1, 1.0, {"a": 3})]


def test_database_url_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    assert database_url() == DEFAULT_DB_URL == "sqlite:///db/factory_twin.sqlite"
    monkeypatch.setenv(DB_ENV_VAR, "sqlite:///from_env.sqlite")
    assert database_url() == "sqlite:///from_env.sqlite"
    assert database_url("sqlite:///from_cli.sqlite") == "sqlite:///from_cli.sqlite"
    assert database_url(str(tmp_path / "bare.sqlite")) == f"sqlite:///{tmp_path}/bare.sqlite"
    assert database_url("rel/x.sqlite") == "sqlite:///rel/x.sqlite"
    monkeypatch.setenv(DB_ENV_VAR, "")
    assert database_url() == DEFAULT_DB_URL


def test_default_location_is_relative_to_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    open_db(database_url()).close()
    assert (tmp_path / "db" / "factory_twin.sqlite").is_file()


def test_migrations_create_every_table_on_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite"
    db = open_db(f"sqlite:///{path}")
    names = set(inspect(db.engine).get_table_names())
    assert TABLES | {"alembic_version"} == names
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0003"
    db.close()
    open_db(str(path)).close()  # re-opening an up-to-date file is a no-op


def test_schema_matches_orm_metadata(db: Database) -> None:
    assert set(Base.metadata.tables) == TABLES
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_sqlite_pragmas_on_every_connection(db: Database) -> None:
    for _ in range(2):
        with db.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragma == {
            "journal_mode": "wal",
            "foreign_keys": 1,
            "busy_timeout": 30000,
            "synchronous": 1,
        }


def test_in_memory_database_works() -> None:
    db = open_db("sqlite://")
    sid = db.ensure_scenario("m", "f" * 64, "")
    assert db.get_run(db.start_run(sid, "simulate", "fifo", 0, {})).status == "running"


def test_adapter_version_registry(db: Database, run_id: int) -> None:
    first = db.add_adapter_version("line", "Fräse", 1, "/s/v1", "1" * 64, "base", 8, 16.0, run_id)
    again = db.add_adapter_version("line", "Fräse", 1, "/s/v1", "1" * 64, "base", 8, 16.0, run_id)
    assert first == again
    db.add_adapter_version("line", "Fräse", 2, "/s/v2", "2" * 64, "base", 8, 16.0)
    db.add_adapter_version("line", "drill", 1, "/d/v1", "3" * 64, "base", 4, 4.0)
    with pytest.raises(StoreError, match="sha256"):
        db.add_adapter_version("line", "Fräse", 1, "/s/v1", "9" * 64, "base", 8, 16.0)
    assert [(a.station, a.version) for a in db.adapter_versions("line")] == [
        ("Fräse", 1),
        ("Fräse", 2),
        ("drill", 1),
    ]
    found = db.adapter_versions("line", "Fräse")
    assert [a.version for a in found] == [1, 2] and found[0].run_id == run_id
    assert found[1].run_id is None and found[0].rank == 8 and found[0].alpha == 16.0


@pytest.mark.parametrize(
    "bad",
    [
        {"utilization": 0.5},  # US spelling is not a column
        {"throughput": None},
        {"throughput": math.nan},
    ],
)
def test_bad_kpis_are_refused(db: Database, run_id: int, bad: dict) -> None:
    values = kpis()
    values.update(bad)
    if "utilization" in bad:
        del values["utilisation"]
    if bad.get("throughput", 0) is None:
        del values["throughput"]
    with pytest.raises(StoreError, match="KPI"):
        db.add_episode(run_id, 0, 0, 1.0, values)


def test_errors_are_store_errors_naming_the_file(db: Database, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"t\.sqlite: run 999 not found"):
        db.get_run(999)
    with pytest.raises(StoreError, match="run 999 not found"):
        db.finish_run(999, "done")
    with pytest.raises(StoreError, match="expected one of"):
        db.finish_run(999, "exploded")
    with pytest.raises(StoreError, match="kind"):
        db.start_run(1, "dance", "fifo", 0, {})
    with pytest.raises(StoreError, match="t.sqlite"):
        db.start_run(12345, "train", "fifo", 0, {})  # no such scenario (foreign key)


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not-a-db.sqlite") as info:
        open_db(str(path))
    assert "\n" not in str(info.value)


def test_writer_waits_for_a_held_lock(db: Database, run_id: int, tmp_path: Path) -> None:
    holder = sqlite3.connect(
        tmp_path / "nested" / "t.sqlite", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    db.add_episode(run_id, 0, 0, 1.0, kpis())  # blocks until the holder commits
    release.join()
    holder.close()
    assert len(db.episodes(run_id)) == 1


def test_lock_errors_are_retried_others_are_store_errors() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return "ok"

    assert retry(flaky, "x.sqlite", "testing") == "ok" and len(calls) == 3

    def broken() -> None:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))

    with pytest.raises(StoreError, match=r"^x\.sqlite: database error while testing \(disk I/O"):
        retry(broken, "x.sqlite", "testing")
