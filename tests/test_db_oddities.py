"""Surprising databases and --db values are one-line errors, read-only commands create no
file or folder, and a store or checkpoint folder that cannot be written is noticed before any
training starts."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import StoreError
from factory_twin.store.connection import DB_ENV_VAR, database_url
from factory_twin.store.runlog import open_db
from factory_twin.store.writable import require_writable

ROOT = Path(__file__).parent.parent
SCENARIO = ROOT / "scenarios" / "smt.yaml"


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    return lines[0]


def test_two_alembic_version_rows_are_one_line(tmp_path: Path):
    path = tmp_path / "two.sqlite"
    open_db(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    with pytest.raises(StoreError, match="alembic_version holds no single schema revision") as e:
        open_db(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    line = one_error_line(CliRunner().invoke(app, ["runs", "--db", str(path)]))
    assert "expected exactly one row" in line


def test_an_old_empty_file_is_not_turned_into_a_database(tmp_path: Path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    old = time.time() - 3600
    os.utime(path, (old, old))
    with pytest.raises(StoreError, match="an empty file; expected a factory-twin database"):
        open_db(str(path))
    assert path.stat().st_size == 0


def test_a_just_created_empty_file_may_be_a_database_being_created(tmp_path: Path):
    path = tmp_path / "new.sqlite"
    path.touch()  # as sqlite leaves it for a moment while another process creates the log
    open_db(str(path)).close()
    assert path.stat().st_size > 0


@pytest.mark.parametrize(
    "value, match",
    [
        ("::::", "a path with ':' but no '://'"),
        ("db:runs.sqlite", "a path with ':' but no '://'"),
        ("sqlite:///", "in-memory database"),
        ("sqlite://", "in-memory database"),
        ("sqlite:///:memory:", "in-memory database"),
        ("", "--db is ''"),
        ("   ", "--db is '   '"),
    ],
)
def test_surprising_db_values_are_refused(tmp_path: Path, monkeypatch, value: str, match: str):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=match):
        database_url(value)
    line = one_error_line(CliRunner().invoke(app, ["run", str(SCENARIO), "--db", value]))
    assert match in line
    assert list(tmp_path.iterdir()) == []  # no file named '::::', no db/ folder


def test_env_value_is_checked_and_a_plain_path_still_works(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(DB_ENV_VAR, "::::")
    with pytest.raises(StoreError, match="no '://'"):
        database_url()
    assert database_url(str(tmp_path / "a.sqlite")) == f"sqlite:///{tmp_path}/a.sqlite"
    assert database_url("C:/logs/a.sqlite") == "sqlite:///C:/logs/a.sqlite"


@pytest.mark.parametrize("command", [["runs"], ["replay", "1", "--gif", "out.gif"]])
def test_read_only_commands_create_no_database_or_folder(tmp_path: Path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DB_ENV_VAR, raising=False)
    line = one_error_line(CliRunner().invoke(app, command))
    assert "db/factory_twin.sqlite: no such database" in line
    nested = tmp_path / "deep" / "er" / "log.sqlite"
    one_error_line(CliRunner().invoke(app, [*command, "--db", str(nested)]))
    assert list(tmp_path.iterdir()) == []


def test_read_only_commands_read_an_existing_log(tmp_path: Path):
    path = tmp_path / "log.sqlite"
    open_db(str(path)).close()
    result = CliRunner().invoke(app, ["runs", "--db", str(path)])
    assert result.exit_code == 0 and "runs in" in result.stdout


def test_a_file_where_the_store_folder_should_be_is_noticed_before_training(tmp_path: Path):
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    db = tmp_path / "log.sqlite"
    result = CliRunner().invoke(
        app, ["train", str(SCENARIO), "--store", str(blocker / "inner"), "--db", str(db)]
    )
    line = one_error_line(result)
    assert f"{blocker / 'inner'}: {blocker} is not a folder" in line and "--store" in line
    assert "training" not in result.stdout  # no progress bar: it never started
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_unusable_checkpoint_folder_is_noticed_before_training(tmp_path: Path):
    blocker = tmp_path / "ckpt"
    blocker.write_text("x")
    result = CliRunner().invoke(app, [
        "train", str(SCENARIO), "--checkpoints", str(blocker), "--store", str(tmp_path / "s"),
        "--db", str(tmp_path / "log.sqlite"),
    ])  # fmt: skip
    assert "--checkpoints" in one_error_line(result)
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            require_writable(folder / "store", "the policy store (--store)")
    finally:
        folder.chmod(0o700)


def test_probe_leaves_nothing_behind(tmp_path: Path):
    require_writable(tmp_path / "a" / "b", "x")
    assert list(tmp_path.iterdir()) == []
