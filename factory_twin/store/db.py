"""Run/episode/event/adapter bookkeeping in a SQL database (SQLite by default).

Why SQLite with WAL: training runs, evaluations and the dashboard are separate processes
that write to the same file at the same time. WAL lets readers proceed while one writer
commits, ``busy_timeout`` makes SQLite wait for the lock itself, and every write here
takes the lock up front (``BEGIN IMMEDIATE``) and is retried with backoff if the lock
still cannot be had, so concurrent writers queue up instead of failing.

The schema is owned by Alembic migrations in ``factory_twin/migrations``; ``open_db``
brings any database to head before use, so a planner never runs ``alembic`` by hand.
Everything returned by :class:`Database` is a plain frozen dataclass, usable after the
session that read it has closed.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from factory_twin.errors import StoreError

__all__ = [
    "DEFAULT_DB_URL",
    "DB_ENV_VAR",
    "KPI_COLUMNS",
    "RUN_KINDS",
    "RUN_STATUSES",
    "AdapterVersion",
    "AdapterVersionInfo",
    "Base",
    "Database",
    "Episode",
    "EpisodeRecord",
    "Event",
    "Run",
    "RunInfo",
    "RunSummary",
    "Scenario",
    "database_url",
    "open_db",
]

DEFAULT_DB_URL = "sqlite:///db/factory_twin.sqlite"
DB_ENV_VAR = "FACTORY_TWIN_DB"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

KPI_COLUMNS: tuple[str, ...] = (
    "throughput",
    "wip",
    "lead_time_mean",
    "lead_time_p95",
    "oee",
    "scrap_rate",
    "utilisation",
    "bound_pct",
    "good_parts",
    "scrapped_parts",
    "episode_return",
)
_INT_KPIS = frozenset({"good_parts", "scrapped_parts"})
_OPTIONAL_KPIS = frozenset({"episode_return"})

RUN_KINDS = ("simulate", "train", "evaluate")
RUN_STATUSES = ("running", "done", "failed")

# Execution option that makes the "begin" hook emit BEGIN IMMEDIATE (take the write lock
# at the start, so a transaction never fails half-way when it upgrades read -> write).
_IMMEDIATE = "factory_twin_begin_immediate"
_LOCK_RETRY_S = 120.0
_LOCKED_MARKERS = ("database is locked", "database is busy", "database table is locked")

T = TypeVar("T")


# --------------------------------------------------------------------------- ORM schema


class Base(DeclarativeBase):
    """Declarative base; the naming convention keeps constraint names equal to the migration's."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Scenario(Base):
    """One distinct scenario content; ``hash`` is sha256 of its canonical JSON."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Run(Base):
    """A simulate/train/evaluate invocation of one method on one scenario with one seed."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    config: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checkpoint_path: Mapped[str | None] = mapped_column(Text)


class Episode(Base):
    """KPIs of one episode of a run; (run_id, index) is unique so resumes cannot duplicate."""

    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("run_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    sim_minutes: Mapped[float] = mapped_column(Float)
    throughput: Mapped[float] = mapped_column(Float)
    wip: Mapped[float] = mapped_column(Float)
    lead_time_mean: Mapped[float] = mapped_column(Float)
    lead_time_p95: Mapped[float] = mapped_column(Float)
    oee: Mapped[float] = mapped_column(Float)
    scrap_rate: Mapped[float] = mapped_column(Float)
    utilisation: Mapped[float] = mapped_column(Float)
    bound_pct: Mapped[float] = mapped_column(Float)
    good_parts: Mapped[int] = mapped_column(Integer)
    scrapped_parts: Mapped[int] = mapped_column(Integer)
    episode_return: Mapped[float | None] = mapped_column(Float)


class AdapterVersion(Base):
    """Index of adapter versions written by the on-disk AdapterStore (the files stay the truth)."""

    __tablename__ = "adapter_versions"
    __table_args__ = (UniqueConstraint("scenario_name", "station", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    scenario_name: Mapped[str] = mapped_column(String(200))
    station: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    base_hash: Mapped[str] = mapped_column(String(128))
    rank: Mapped[int] = mapped_column(Integer)
    alpha: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """One recorded simulation event, replayed in ``seq`` order."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sim_time: Mapped[float] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)


# ------------------------------------------------------------------ returned dataclasses


@dataclass(frozen=True)
class RunInfo:
    """A run as stored; ``config`` is the decoded JSON dict."""

    id: int
    scenario_id: int
    scenario_name: str
    kind: str
    method: str
    seed: int
    config: dict[str, Any]
    status: str
    created_at: datetime
    finished_at: datetime | None
    checkpoint_path: str | None


@dataclass(frozen=True)
class RunSummary:
    """One line of ``list_runs``: a run plus its episode count and mean throughput."""

    id: int
    scenario_name: str
    kind: str
    method: str
    seed: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    episode_count: int
    mean_throughput: float | None


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode's KPIs; ``kpis()`` gives them as a dict keyed by KPI_COLUMNS."""

    run_id: int
    index: int
    seed: int
    sim_minutes: float
    throughput: float
    wip: float
    lead_time_mean: float
    lead_time_p95: float
    oee: float
    scrap_rate: float
    utilisation: float
    bound_pct: float
    good_parts: int
    scrapped_parts: int
    episode_return: float | None

    def kpis(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in KPI_COLUMNS}


@dataclass(frozen=True)
class AdapterVersionInfo:
    """A registered adapter version (mirrors the AdapterStore's adapter.json)."""

    id: int
    run_id: int | None
    scenario_name: str
    station: str
    version: int
    path: str
    sha256: str
    base_hash: str
    rank: int
    alpha: float
    created_at: datetime


# ------------------------------------------------------------------------ URL + opening


def database_url(cli_value: str | None = None) -> str:
    """Pick the database: ``--db`` value, else $FACTORY_TWIN_DB, else ./db/factory_twin.sqlite.

    A bare filesystem path (anything without "://") becomes a SQLite URL, so planners can
    write ``--db runs.sqlite`` instead of a SQLAlchemy URL.
    """
    for candidate in (cli_value, os.environ.get(DB_ENV_VAR)):
        if candidate is not None and candidate.strip():
            return _as_url(candidate.strip())
    return DEFAULT_DB_URL


def _as_url(value: str) -> str:
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser())


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a file-backed SQLite URL, or None (memory / other backends)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def open_db(url: str) -> Database:
    """Open (creating if needed) a database and migrate it to the newest schema.

    Safe to call from several processes at once on a fresh file: the migration runs inside
    a ``BEGIN IMMEDIATE`` transaction, so SQLite serialises the callers and each later one
    finds Alembic's version table already at head.
    """
    try:
        parsed = make_url(_as_url(url))
    except ArgumentError as exc:
        raise StoreError(
            f"{url}: not a database URL ({exc}); expected e.g. sqlite:///db/x.sqlite or a path"
        ) from exc
    db_file = _sqlite_file(parsed)
    where = str(db_file) if db_file else parsed.render_as_string(hide_password=True)
    if db_file is not None:
        try:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{db_file}: cannot create directory {db_file.parent} ({exc.strerror}); "
                "expected a writable location for the database"
            ) from exc
    try:
        engine = _make_engine(parsed)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(
            f"{where}: cannot use this database URL ({_one_line(exc)}); "
            "expected sqlite:///<file> or an installed SQLAlchemy driver"
        ) from exc
    try:
        _migrate(engine, where)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine, where)


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if _sqlite_file(url) is None:
        # An in-memory database lives in one connection; share it (tests, dry runs).
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": 30})
    _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    """Per-connection pragmas, and SQLAlchemy (not the sqlite3 module) issuing BEGIN.

    The sqlite3 module's legacy transaction handling would silently autocommit DDL and
    delay BEGIN; taking over BEGIN lets writes use BEGIN IMMEDIATE and makes migrations
    transactional.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config(engine: Engine) -> Config:
    """An in-memory Alembic config pointing at the packaged migrations (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _migrate(engine: Engine, where: str) -> None:
    cfg = _alembic_config(engine)
    head = ScriptDirectory.from_config(cfg).get_current_head()

    def current() -> str | None:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    if _retry(current, where, "reading the schema version") == head:
        return

    def upgrade() -> None:
        with engine.execution_options(**{_IMMEDIATE: True}).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    try:
        _retry(upgrade, where, "migrating the schema")
    except CommandError as exc:
        raise StoreError(
            f"{where}: schema migration failed ({_one_line(exc)}); expected a database "
            f"at or below schema revision {head} of this factory-twin version"
        ) from exc


# ------------------------------------------------------------------------------ helpers


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split())


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig or exc).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


def _retry(fn: Callable[[], T], where: str, doing: str) -> T:
    """Run ``fn``, retrying with jittered exponential backoff while the database is locked.

    SQLite's own busy_timeout already waits; this covers the cases where it gives up
    immediately (WAL snapshot conflicts, journal-mode switch on a brand-new file).
    Any other database error becomes a one-line StoreError.
    """
    deadline = time.monotonic() + _LOCK_RETRY_S
    delay = 0.01
    while True:
        try:
            return fn()
        except OperationalError as exc:
            if not _is_locked(exc):
                raise StoreError(
                    f"{where}: database error while {doing} ({_one_line(exc)}); "
                    "expected a readable, writable factory-twin database"
                ) from exc
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"{where}: database stayed locked for {_LOCK_RETRY_S:.0f} s while {doing}; "
                    "expected other factory-twin processes to release it"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{where}: database error while {doing} ({_one_line(exc)}); "
                "expected valid references (existing scenario/run ids)"
            ) from exc


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite drops tzinfo; every timestamp we write is UTC, so re-attach it."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


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


class Database:
    """Short-transaction access to the factory-twin tables (see module docstring).

    Obtain one with :func:`open_db`. Each public method is its own transaction; writes
    take SQLite's write lock up front and are retried while another process holds it.
    """

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine = engine
        self.where = where
        self._write_engine = engine.execution_options(**{_IMMEDIATE: True})
        dialect = engine.dialect.name
        if dialect == "sqlite":
            self._insert = sqlite.insert
        elif dialect == "postgresql":
            self._insert = postgresql.insert
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

    def _write(self, fn: Callable[[Session], T], doing: str) -> T:
        def attempt() -> T:
            with Session(self._write_engine, expire_on_commit=False) as session:
                with session.begin():
                    return fn(session)

        return _retry(attempt, self.where, doing)

    def _read(self, fn: Callable[[Session], T], doing: str) -> T:
        def attempt() -> T:
            with Session(self.engine) as session:
                with session.begin():
                    return fn(session)

        return _retry(attempt, self.where, doing)

    def _missing_run(self, run_id: int) -> StoreError:
        return StoreError(f"{self.where}: run {run_id} not found; expected an id from list_runs")

    # -- scenarios and runs

    def ensure_scenario(self, name: str, hash: str, yaml_text: str) -> int:
        """Id of the scenario with this content hash, inserting it if new.

        Race-safe: INSERT .. ON CONFLICT DO NOTHING then SELECT, in one locked transaction.
        The first name stored for a hash is kept.
        """

        def do(session: Session) -> int:
            stmt = self._insert(Scenario).values(
                name=name, hash=hash, yaml_text=yaml_text, created_at=_utcnow()
            )
            session.execute(stmt.on_conflict_do_nothing(index_elements=["hash"]))
            return session.scalars(select(Scenario.id).where(Scenario.hash == hash)).one()

        return self._write(do, f"storing scenario {name!r}")

    def start_run(
        self, scenario_id: int, kind: str, method: str, seed: int, config: Mapping[str, Any]
    ) -> int:
        """Record a new run in status 'running' and return its id."""
        if kind not in RUN_KINDS:
            raise StoreError(f"{self.where}: run kind {kind!r}; expected one of {RUN_KINDS}")
        config_text = _dumps(dict(config), self.where, "run config")

        def do(session: Session) -> int:
            run = Run(
                scenario_id=scenario_id,
                kind=kind,
                method=method,
                seed=int(seed),
                config=config_text,
                status="running",
                created_at=_utcnow(),
            )
            session.add(run)
            session.flush()
            return run.id

        return self._write(do, f"starting a {kind} run")

    def finish_run(self, run_id: int, status: str) -> None:
        """Set a run's final status ('done'/'failed') and finish time.

        'running' is accepted too: it re-opens a run that is being resumed and clears
        ``finished_at``.
        """
        if status not in RUN_STATUSES:
            raise StoreError(f"{self.where}: run status {status!r}; expected one of {RUN_STATUSES}")
        finished = None if status == "running" else _utcnow()
        self._update_run(run_id, {"status": status, "finished_at": finished}, "finishing run")

    def set_checkpoint(self, run_id: int, path: str | os.PathLike[str]) -> None:
        """Remember the latest checkpoint of a run (for ``--resume``)."""
        self._update_run(run_id, {"checkpoint_path": os.fspath(path)}, "setting checkpoint")

    def _update_run(self, run_id: int, values: dict[str, Any], doing: str) -> None:
        def do(session: Session) -> int:
            result = session.execute(update(Run).where(Run.id == run_id).values(**values))
            return result.rowcount

        if self._write(do, f"{doing} {run_id}") == 0:
            raise self._missing_run(run_id)

    def get_run(self, run_id: int) -> RunInfo:
        """The run with this id; StoreError if there is none."""

        def do(session: Session) -> RunInfo | None:
            row = session.execute(
                select(Run, Scenario.name)
                .join(Scenario, Run.scenario_id == Scenario.id)
                .where(Run.id == run_id)
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
                created_at=_as_utc(run.created_at),
                finished_at=_as_utc(run.finished_at),
                checkpoint_path=run.checkpoint_path,
            )

        info = self._read(do, f"reading run {run_id}")
        if info is None:
            raise self._missing_run(run_id)
        return info

    def list_runs(self, limit: int = 50) -> list[RunSummary]:
        """Newest runs first, each with its episode count and mean episode throughput."""
        per_run = (
            select(
                Episode.run_id,
                func.count(Episode.id).label("n"),
                func.avg(Episode.throughput).label("tp"),
            )
            .group_by(Episode.run_id)
            .subquery()
        )
        stmt = (
            select(Run, Scenario.name, per_run.c.n, per_run.c.tp)
            .join(Scenario, Run.scenario_id == Scenario.id)
            .outerjoin(per_run, per_run.c.run_id == Run.id)
            .order_by(Run.id.desc())
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
                    created_at=_as_utc(run.created_at),
                    finished_at=_as_utc(run.finished_at),
                    episode_count=int(n or 0),
                    mean_throughput=None if tp is None else float(tp),
                )
                for run, name, n, tp in session.execute(stmt)
            ]

        return self._read(do, "listing runs")

    # -- episodes

    def _episode_row(
        self, run_id: int, index: int, seed: int, sim_minutes: float, kpis: Mapping[str, Any]
    ) -> dict[str, Any]:
        unknown = sorted(set(kpis) - set(KPI_COLUMNS))
        missing = [k for k in KPI_COLUMNS if k not in kpis and k not in _OPTIONAL_KPIS]
        if unknown or missing:
            raise StoreError(
                f"{self.where}: episode {index} of run {run_id} has unknown KPIs {unknown} "
                f"and lacks {missing}; expected keys from KPI_COLUMNS"
            )
        row: dict[str, Any] = {
            "run_id": run_id,
            "index": int(index),
            "seed": int(seed),
            "sim_minutes": float(sim_minutes),
        }
        for name in KPI_COLUMNS:
            value = kpis.get(name)
            if value is None and name in _OPTIONAL_KPIS:
                row[name] = None
            elif name in _INT_KPIS:
                row[name] = int(value)
            else:
                number = float(value)
                if math.isnan(number):  # SQLite would store NULL and break NOT NULL
                    raise StoreError(
                        f"{self.where}: episode {index} of run {run_id} KPI {name!r} is NaN; "
                        "expected a number (use 0.0 when undefined, e.g. no part finished)"
                    )
                row[name] = number
        return row

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
        values = [self._episode_row(run_id, *row) for row in rows]
        if not values:
            return
        stmt = self._insert(Episode)
        updated = ["seed", "sim_minutes", *KPI_COLUMNS]
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "index"],
            set_={name: stmt.excluded[name] for name in updated},
        )

        def do(session: Session) -> None:
            session.execute(stmt, values)

        self._write(do, f"storing {len(values)} episode(s) of run {run_id}")

    def episodes(self, run_id: int) -> list[EpisodeRecord]:
        """Episodes of a run ordered by index (empty for an unknown run)."""
        columns = [Episode.run_id, Episode.index, Episode.seed, Episode.sim_minutes]
        columns += [getattr(Episode, name) for name in KPI_COLUMNS]
        stmt = select(*columns).where(Episode.run_id == run_id).order_by(Episode.index)

        def do(session: Session) -> list[EpisodeRecord]:
            return [EpisodeRecord(*row) for row in session.execute(stmt)]

        return self._read(do, f"reading episodes of run {run_id}")

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
        stmt = self._insert(Event)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "seq"],
            set_={"sim_time": stmt.excluded.sim_time, "payload": stmt.excluded.payload},
        )

        def do(session: Session) -> None:
            session.execute(stmt, values)

        self._write(do, f"storing {len(values)} event(s) of run {run_id}")

    def events(self, run_id: int) -> list[tuple[int, float, dict[str, Any]]]:
        """Recorded events of a run as ``(seq, sim_time, payload)``, ordered by seq."""
        stmt = (
            select(Event.seq, Event.sim_time, Event.payload)
            .where(Event.run_id == run_id)
            .order_by(Event.seq)
        )

        def do(session: Session) -> list[tuple[int, float, dict[str, Any]]]:
            return [(seq, t, json.loads(p)) for seq, t, p in session.execute(stmt)]

        return self._read(do, f"reading events of run {run_id}")

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
        """Register an adapter version written by AdapterStore and return its row id.

        Registering the same (scenario, station, version) again with the same sha256 is a
        no-op returning the existing id; a different sha256 is refused (StoreError).
        """

        def do(session: Session) -> tuple[int, str]:
            stmt = self._insert(AdapterVersion).values(
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
                select(AdapterVersion.id, AdapterVersion.sha256).where(
                    AdapterVersion.scenario_name == scenario_name,
                    AdapterVersion.station == station,
                    AdapterVersion.version == int(version),
                )
            ).one()
            return row.id, row.sha256

        row_id, stored_sha = self._write(do, f"registering adapter {station!r} v{version}")
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
        stmt = select(AdapterVersion).where(AdapterVersion.scenario_name == scenario_name)
        if station is not None:
            stmt = stmt.where(AdapterVersion.station == station)
        stmt = stmt.order_by(AdapterVersion.station, AdapterVersion.version)

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
                    created_at=_as_utc(a.created_at),
                )
                for a in session.scalars(stmt)
            ]

        return self._read(do, f"reading adapter versions of {scenario_name!r}")
