"""The run log: scenarios, runs, their episodes' KPIs, recorded events, adapter versions.

:func:`open_db` gives a :class:`Database`; each of its public methods is one short
transaction (writes take SQLite's write lock up front and are retried while another process
holds it, see ``factory_twin.store.connection``). Everything it returns is a frozen
dataclass from ``factory_twin.store.records``. A command registers its scenario once with
:meth:`Database.ensure_scenario` and passes the id to every run it logs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from factory_twin.errors import StoreError
from factory_twin.store.connection import IMMEDIATE, connect, retry
from factory_twin.store.records import (
    AdapterVersionInfo,
    EpisodeRecord,
    RunInfo,
    RunSummary,
    as_utc,
)
from factory_twin.store.run_owners import this_owner
from factory_twin.store.schema import (
    KPI_COLUMNS,
    RUN_KINDS,
    RUN_STATUSES,
    AdapterVersionRow,
    EpisodeRow,
    EventRow,
    RunRow,
    ScenarioRow,
    episode_values,
)

if TYPE_CHECKING:
    from factory_twin.sim.kpi import KPIs

__all__ = ["Database", "episode_kpis", "open_db"]

T = TypeVar("T")


def open_db(url: str, create: bool = True) -> Database:
    """Open (creating if needed, unless ``create`` is off) a database migrated to the newest
    schema.

    Safe to call from several processes at once on a fresh file: the migration runs inside
    a ``BEGIN IMMEDIATE`` transaction, so SQLite serialises the callers and each later one
    finds Alembic's version table already at head.
    """
    engine, where = connect(url, create)
    return Database(engine, where)


def episode_kpis(k: KPIs, episode_return: float | None = None) -> dict[str, Any]:
    """The log's KPI columns of one episode; undefined values (no part finished) become 0."""
    row = {}
    for name in KPI_COLUMNS:
        value = episode_return if name == "episode_return" else getattr(k, name)
        row[name] = 0.0 if isinstance(value, float) and not math.isfinite(value) else value
    return row


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _dumps(value: Any, where: str, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{where}: {what} cannot be stored ({exc}); expected JSON data") from exc


# ----------------------------------------------------------------------------- Database


def ending_status(exc: BaseException) -> str:
    """How a run that raised `exc` ends in the log: stopped by the planner, or failed."""
    return "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"


class Database:
    """Short-transaction access to the factory-twin tables (see module docstring).

    Obtain one with :func:`open_db`. Each public method is its own transaction; writes
    take SQLite's write lock up front and are retried while another process holds it.
    """

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine = engine
        self.where = where
        self._write_engine = engine.execution_options(**{IMMEDIATE: True})
        dialect = engine.dialect.name
        if dialect == "sqlite":
            self.insert = sqlite.insert
        elif dialect == "postgresql":
            self.insert = postgresql.insert
        else:
            raise StoreError(
                f"{where}: unsupported database backend {dialect!r}; expected sqlite or postgresql"
            )

    # -- plumbing

    def close(self) -> None:
        """Release pooled connections (the file itself needs no closing)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.where!r})"

    def write(self, fn: Callable[[Session], T], doing: str) -> T:
        """Run `fn` in one write transaction, retried while another process holds the lock
        (the one write path, also for the log's companion modules such as `store.curves`)."""

        def attempt() -> T:
            with Session(self._write_engine, expire_on_commit=False) as session:
                with session.begin():
                    return fn(session)

        return retry(attempt, self.where, doing)

    def read(self, fn: Callable[[Session], T], doing: str) -> T:
        """Run `fn` in one read transaction, retried like `write`."""

        def attempt() -> T:
            with Session(self.engine) as session:
                with session.begin():
                    return fn(session)

        return retry(attempt, self.where, doing)

    def _missing_run(self, run_id: int) -> StoreError:
        return StoreError(f"{self.where}: run {run_id} not found; expected an id from list_runs")

    # -- scenarios and runs

    def ensure_scenario(self, name: str, hash: str, yaml_text: str) -> int:
        """Id of the scenario with this content hash, inserting it if new.

        Race-safe: INSERT .. ON CONFLICT DO NOTHING then SELECT, in one locked transaction.
        The first name stored for a hash is kept.
        """

        def do(session: Session) -> int:
            stmt = self.insert(ScenarioRow).values(
                name=name, hash=hash, yaml_text=yaml_text, created_at=_utcnow()
            )
            session.execute(stmt.on_conflict_do_nothing(index_elements=["hash"]))
            return session.scalars(select(ScenarioRow.id).where(ScenarioRow.hash == hash)).one()

        return self.write(do, f"storing scenario {name!r}")

    def start_run(
        self, scenario_id: int, kind: str, method: str, seed: int, config: Mapping[str, Any]
    ) -> int:
        """Record a new run in status 'running' and return its id."""
        if kind not in RUN_KINDS:
            raise StoreError(f"{self.where}: run kind {kind!r}; expected one of {RUN_KINDS}")
        config_text = _dumps(dict(config), self.where, "run config")

        def do(session: Session) -> int:
            run = RunRow(
                scenario_id=scenario_id,
                kind=kind,
                method=method,
                seed=int(seed),
                config=config_text,
                status="running",
                created_at=_utcnow(),
                **this_owner(),
            )
            session.add(run)
            session.flush()
            return run.id

        return self.write(do, f"starting a {kind} run")

    def finish_run(self, run_id: int, status: str) -> None:
        """Set a run's final status ('done'/'failed') and finish time.

        'running' is accepted too: it re-opens a run that is being resumed and clears
        ``finished_at`` and makes this process its owner.
        """
        if status not in RUN_STATUSES:
            raise StoreError(f"{self.where}: run status {status!r}; expected one of {RUN_STATUSES}")
        reopened = status == "running"
        values = {"status": status, "finished_at": None if reopened else _utcnow()}
        self._update_run(run_id, values | (this_owner() if reopened else {}), "finishing run")

    def set_checkpoint(self, run_id: int, path: str | os.PathLike[str]) -> None:
        """Remember the latest checkpoint of a run (for ``--resume``), as an absolute path: a
        resume may start from another working directory."""
        absolute = os.path.abspath(os.fspath(path))
        self._update_run(run_id, {"checkpoint_path": absolute}, "setting checkpoint")

    def _update_run(self, run_id: int, values: dict[str, Any], doing: str) -> None:
        def do(session: Session) -> int:
            result = session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            return result.rowcount

        if self.write(do, f"{doing} {run_id}") == 0:
            raise self._missing_run(run_id)

    def has_run(self, run_id: int) -> bool:
        """Whether this log holds the run (a stored policy may come from another log)."""
        found = select(RunRow.id).where(RunRow.id == run_id)
        return self.read(lambda s: s.execute(found).first() is not None, f"finding run {run_id}")

    def get_run(self, run_id: int) -> RunInfo:
        """The run with this id; StoreError if there is none."""

        def do(session: Session) -> RunInfo | None:
            row = session.execute(
                select(RunRow, ScenarioRow.name)
                .join(ScenarioRow, RunRow.scenario_id == ScenarioRow.id)
                .where(RunRow.id == run_id)
            ).one_or_none()
            if row is None:
                return None
            run, scenario_name = row
            return RunInfo(
                id=run.id,
                scenario_id=run.scenario_id,
                scenario_name=scenario_name,
                kind=run.kind,
                method=run.method,
                seed=run.seed,
                config=json.loads(run.config),
                status=run.status,
                created_at=as_utc(run.created_at),
                finished_at=as_utc(run.finished_at),
                checkpoint_path=run.checkpoint_path,
                owner_pid=run.owner_pid,
                owner_host=run.owner_host,
            )

        info = self.read(do, f"reading run {run_id}")
        if info is None:
            raise self._missing_run(run_id)
        return info

    def list_runs(self, limit: int = 50) -> list[RunSummary]:
        """Newest runs first, each with its episode count and mean episode throughput."""
        per_run = (
            select(
                EpisodeRow.run_id,
                func.count(EpisodeRow.id).label("n"),
                func.avg(EpisodeRow.throughput).label("tp"),
            )
            .group_by(EpisodeRow.run_id)
            .subquery()
        )
        stmt = (
            select(RunRow, ScenarioRow.name, per_run.c.n, per_run.c.tp)
            .join(ScenarioRow, RunRow.scenario_id == ScenarioRow.id)
            .outerjoin(per_run, per_run.c.run_id == RunRow.id)
            .order_by(RunRow.id.desc())
            .limit(limit)
        )

        def do(session: Session) -> list[RunSummary]:
            return [
                RunSummary(
                    id=run.id,
                    scenario_name=name,
                    kind=run.kind,
                    method=run.method,
                    seed=run.seed,
                    status=run.status,
                    created_at=as_utc(run.created_at),
                    finished_at=as_utc(run.finished_at),
                    episode_count=int(n or 0),
                    mean_throughput=None if tp is None else float(tp),
                    owner_pid=run.owner_pid,
                    owner_host=run.owner_host,
                )
                for run, name, n, tp in session.execute(stmt)
            ]

        return self.read(do, "listing runs")

    # -- episodes

    def add_episode(
        self, run_id: int, index: int, seed: int, sim_minutes: float, kpis: Mapping[str, Any]
    ) -> None:
        """Store one episode's KPIs (see :meth:`add_episodes` for the upsert rule)."""
        self.add_episodes(run_id, [(index, seed, sim_minutes, kpis)])

    def add_episodes(
        self,
        run_id: int,
        rows: Iterable[tuple[int, int, float, Mapping[str, Any]]],
    ) -> None:
        """Store many episodes ``(index, seed, sim_minutes, kpis)`` in one transaction.

        Idempotent on (run_id, index) by REPLACING: an episode re-played after a resume
        overwrites the earlier row, so the table always holds the latest result and never
        a duplicate.
        """
        values = [episode_values(self.where, run_id, *row) for row in rows]
        if not values:
            return
        stmt = self.insert(EpisodeRow)
        updated = ["seed", "sim_minutes", *KPI_COLUMNS]
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "index"],
            set_={name: stmt.excluded[name] for name in updated},
        )

        def do(session: Session) -> None:
            session.execute(stmt, values)

        self.write(do, f"storing {len(values)} episode(s) of run {run_id}")

    def episodes(self, run_id: int) -> list[EpisodeRecord]:
        """Episodes of a run ordered by index (empty for an unknown run)."""
        columns = [EpisodeRow.run_id, EpisodeRow.index, EpisodeRow.seed, EpisodeRow.sim_minutes]
        columns += [getattr(EpisodeRow, name) for name in KPI_COLUMNS]
        stmt = select(*columns).where(EpisodeRow.run_id == run_id).order_by(EpisodeRow.index)

        def do(session: Session) -> list[EpisodeRecord]:
            return [EpisodeRecord(*row) for row in session.execute(stmt)]

        return self.read(do, f"reading episodes of run {run_id}")

    def log_evaluation(
        self,
        scenario_id: int,
        method: str,
        seeds: Sequence[int],
        kpis: Sequence[KPIs],
        kind: str = "evaluate",
        config: Mapping[str, Any] | None = None,
    ) -> int:
        """Store finished replications as one done run with an episode per seed; its id.

        The run's seed is the first one; its config is ``{"seeds": [...], **config}``.
        """
        seeds = [int(s) for s in seeds]
        pairs = zip(seeds, kpis, strict=True)
        rows = [(i, seed, k.sim_minutes, episode_kpis(k)) for i, (seed, k) in enumerate(pairs)]
        run_id = self.start_run(
            scenario_id, kind, method, seeds[0], {"seeds": seeds, **(config or {})}
        )
        self.add_episodes(run_id, rows)
        self.finish_run(run_id, "done")
        return run_id

    # -- events (replay)

    def add_events(
        self, run_id: int, events: Sequence[tuple[int, float, Mapping[str, Any]]]
    ) -> None:
        """Store ``(seq, sim_time, payload)`` events in one transaction; a repeated seq replaces."""
        values = [
            {
                "run_id": run_id,
                "seq": int(seq),
                "sim_time": float(sim_time),
                "payload": _dumps(dict(payload), self.where, f"event {seq} payload"),
            }
            for seq, sim_time, payload in events
        ]
        if not values:
            return
        stmt = self.insert(EventRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "seq"],
            set_={"sim_time": stmt.excluded.sim_time, "payload": stmt.excluded.payload},
        )

        def do(session: Session) -> None:
            session.execute(stmt, values)

        self.write(do, f"storing {len(values)} event(s) of run {run_id}")

    def events(self, run_id: int) -> list[tuple[int, float, dict[str, Any]]]:
        """Recorded events of a run as ``(seq, sim_time, payload)``, ordered by seq."""
        stmt = (
            select(EventRow.seq, EventRow.sim_time, EventRow.payload)
            .where(EventRow.run_id == run_id)
            .order_by(EventRow.seq)
        )

        def do(session: Session) -> list[tuple[int, float, dict[str, Any]]]:
            return [(seq, t, json.loads(p)) for seq, t, p in session.execute(stmt)]

        return self.read(do, f"reading events of run {run_id}")

    # -- adapter versions

    def add_adapter_version(
        self,
        scenario_name: str,
        station: str,
        version: int,
        path: str | os.PathLike[str],
        sha256: str,
        base_hash: str,
        rank: int,
        alpha: float,
        run_id: int | None = None,
    ) -> int:
        """Register an adapter version written by PolicyStore and return its row id.

        Registering the same (scenario, station, version) again with the same sha256 is a
        no-op returning the existing id; a different sha256 is refused (StoreError).
        """

        def do(session: Session) -> tuple[int, str]:
            stmt = self.insert(AdapterVersionRow).values(
                run_id=run_id,
                scenario_name=scenario_name,
                station=station,
                version=int(version),
                path=os.fspath(path),
                sha256=sha256,
                base_hash=base_hash,
                rank=int(rank),
                alpha=float(alpha),
                created_at=_utcnow(),
            )
            session.execute(
                stmt.on_conflict_do_nothing(index_elements=["scenario_name", "station", "version"])
            )
            row = session.execute(
                select(AdapterVersionRow.id, AdapterVersionRow.sha256).where(
                    AdapterVersionRow.scenario_name == scenario_name,
                    AdapterVersionRow.station == station,
                    AdapterVersionRow.version == int(version),
                )
            ).one()
            return row.id, row.sha256

        row_id, stored_sha = self.write(do, f"registering adapter {station!r} v{version}")
        if stored_sha != sha256:
            raise StoreError(
                f"{self.where}: adapter {scenario_name!r}/{station!r} v{version} is registered "
                f"with sha256 {stored_sha}; expected {sha256} (version numbers must not be reused)"
            )
        return row_id

    def adapter_versions(
        self, scenario_name: str, station: str | None = None
    ) -> list[AdapterVersionInfo]:
        """Registered adapter versions of a scenario (or one station), by station then version."""
        stmt = select(AdapterVersionRow).where(AdapterVersionRow.scenario_name == scenario_name)
        if station is not None:
            stmt = stmt.where(AdapterVersionRow.station == station)
        stmt = stmt.order_by(AdapterVersionRow.station, AdapterVersionRow.version)

        def do(session: Session) -> list[AdapterVersionInfo]:
            return [
                AdapterVersionInfo(
                    id=a.id,
                    run_id=a.run_id,
                    scenario_name=a.scenario_name,
                    station=a.station,
                    version=a.version,
                    path=a.path,
                    sha256=a.sha256,
                    base_hash=a.base_hash,
                    rank=a.rank,
                    alpha=a.alpha,
                    created_at=as_utc(a.created_at),
                )
                for a in session.scalars(stmt)
            ]

        return self.read(do, f"reading adapter versions of {scenario_name!r}")
