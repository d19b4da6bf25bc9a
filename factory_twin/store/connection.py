"""Reaching a database: URL choice, engine, SQLite settings, migrations, lock retries.

Why SQLite with WAL: training runs, evaluations and the dashboard are separate processes
that write to the same file at the same time. WAL lets readers proceed while one writer
commits, ``busy_timeout`` makes SQLite wait for the lock itself, and every write takes the
lock up front (``BEGIN IMMEDIATE``, asked for with the ``IMMEDIATE`` execution option) and
is retried with backoff by :func:`retry` if the lock still cannot be had, so concurrent
writers queue up instead of failing.

The schema is owned by Alembic migrations in ``factory_twin/migrations``; :func:`connect`
brings any database to head before use, so a planner never runs ``alembic`` by hand. The
run log on top of this is ``factory_twin.store.runlog``.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from factory_twin.errors import StoreError

__all__ = [
    "DB_ENV_VAR",
    "DEFAULT_DB_URL",
    "IMMEDIATE",
    "MIGRATIONS_DIR",
    "connect",
    "database_url",
    "one_line",
    "retry",
]

DEFAULT_DB_URL = "sqlite:///db/factory_twin.sqlite"
DB_ENV_VAR = "FACTORY_TWIN_DB"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Execution option that makes the "begin" hook emit BEGIN IMMEDIATE (take the write lock
# at the start, so a transaction never fails half-way when it upgrades read -> write).
IMMEDIATE = "factory_twin_begin_immediate"
_LOCK_RETRY_S = 120.0
_LOCKED_MARKERS = ("database is locked", "database is busy", "database table is locked")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
# an empty file younger than this may be a database another process is creating right now
_CREATING_S = 10.0

T = TypeVar("T")


def database_url(cli_value: str | None = None) -> str:
    """Pick the database: ``--db`` value, else $FACTORY_TWIN_DB, else ./db/factory_twin.sqlite.

    A bare filesystem path (anything without "://") becomes a SQLite URL, so planners can
    write ``--db runs.sqlite`` instead of a SQLAlchemy URL. Refused, since each would lose
    or misplace results: a blank ``--db`` (an empty $FACTORY_TWIN_DB counts as unset), a
    path with ":" but no "://" (a mistyped URL, e.g. ``::::``) and an in-memory SQLite URL
    (``sqlite://``, ``sqlite:///``, ``sqlite:///:memory:``).
    """
    if cli_value is not None and not cli_value.strip():
        raise StoreError(f"--db is {cli_value!r}; expected a SQLite file path or database URL")
    for candidate in (cli_value, os.environ.get(DB_ENV_VAR)):
        if candidate is not None and candidate.strip():
            return _checked_url(candidate.strip())
    return DEFAULT_DB_URL


def _checked_url(value: str) -> str:
    """``value`` as a URL, refusing the surprising values of :func:`database_url`."""
    if "://" not in value and ":" in value and not _WINDOWS_DRIVE.match(value):
        raise StoreError(
            f"{value}: a path with ':' but no '://'; expected a SQLite file path or a URL "
            "such as sqlite:///db/x.sqlite"
        )
    url = _as_url(value)
    if url.startswith("sqlite:") and _sqlite_file(_parse(url)) is None:
        raise StoreError(
            f"{value}: an in-memory database (results would be lost when the command ends); "
            "expected a file, e.g. sqlite:///db/x.sqlite"
        )
    return url


def _parse(url: str) -> URL:
    try:
        return make_url(_as_url(url))
    except ArgumentError as exc:
        raise StoreError(
            f"{url}: not a database URL ({exc}); expected e.g. sqlite:///db/x.sqlite or a path"
        ) from exc


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


def connect(url: str, create: bool = True) -> tuple[Engine, str]:
    """An engine on a database migrated to the newest schema, and ``where``: how error
    messages name it (the file, or the URL without password). With ``create`` off (read-only
    commands) a missing SQLite file is an error, and no file or folder is made.

    Safe to call from several processes at once on a fresh file: the migration runs inside
    a ``BEGIN IMMEDIATE`` transaction, so SQLite serialises the callers and each later one
    finds Alembic's version table already at head.
    """
    parsed = _parse(url)
    db_file = _sqlite_file(parsed)
    where = str(db_file) if db_file else parsed.render_as_string(hide_password=True)
    if db_file is not None:
        _check_file(db_file, create)
    try:
        engine = _make_engine(parsed)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(
            f"{where}: cannot use this database URL ({one_line(exc)}); "
            "expected sqlite:///<file> or an installed SQLAlchemy driver"
        ) from exc
    try:
        _migrate(engine, where)
    except BaseException:
        engine.dispose()
        raise
    return engine, where


def _check_file(db_file: Path, create: bool) -> None:
    """Refuse a missing file (unless ``create``: then make its folder) and an empty one that is
    no database being created (SQLite would silently turn any empty file into one)."""
    try:
        info = db_file.stat()
    except FileNotFoundError:
        if not create:
            raise StoreError(
                f"{db_file}: no such database; expected the log that `run`, `train` or "
                "`compare` write (pass --db to name another)"
            ) from None
        try:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{db_file}: cannot create directory {db_file.parent} ({exc.strerror}); "
                "expected a writable location for the database"
            ) from exc
        return
    if info.st_size == 0 and info.st_mtime < time.time() - _CREATING_S:
        raise StoreError(
            f"{db_file}: an empty file; expected a factory-twin database (delete the file to "
            "start a new log there)"
        )


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
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
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

    try:
        if retry(current, where, "reading the schema version") == head:
            return
    except CommandError as exc:  # e.g. two rows in alembic_version
        raise StoreError(
            f"{where}: alembic_version holds no single schema revision ({one_line(exc)}); "
            "expected exactly one row"
        ) from exc

    def upgrade() -> None:
        with engine.execution_options(**{IMMEDIATE: True}).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    try:
        retry(upgrade, where, "migrating the schema")
    except CommandError as exc:
        raise StoreError(
            f"{where}: schema migration failed ({one_line(exc)}); expected a database "
            f"at or below schema revision {head} of this factory-twin version"
        ) from exc


# ------------------------------------------------------------------- errors and retries


def one_line(exc: BaseException) -> str:
    """A database error as one line (the driver's message, without SQLAlchemy's trailer)."""
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split())


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig or exc).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


def retry(fn: Callable[[], T], where: str, doing: str) -> T:
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
                    f"{where}: database error while {doing} ({one_line(exc)}); "
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
                f"{where}: database error while {doing} ({one_line(exc)}); "
                "expected valid references (existing scenario/run ids)"
            ) from exc
