"""The command line as a planner meets it: problems with input files are one line on stderr and
exit code 2, never a traceback.

Most checks use typer's CliRunner (in-process, fast); a few end-to-end checks start
`python -m factory_twin.cli` in a subprocess, in a temporary working directory with the run
log in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_scenario_errors import EXPECTED
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.errors import ScenarioError
from factory_twin.scenario import load_scenario

ROOT = Path(__file__).parent.parent
BAD = sorted((ROOT / "tests" / "data" / "bad").glob("*.yaml"))
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
REQUIRED_COMMANDS = {"validate", "schema", "run", "runs", "train", "compare", "adapt"}

pytestmark = pytest.mark.timeout(120)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_TWIN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "factory_twin.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def short_copy(src: Path, dest_dir: Path, length: int = 600) -> Path:
    """A shipped scenario with a shorter horizon, to keep end-to-end runs quick."""
    text = src.read_text(encoding="utf-8")
    assert "length: 4800" in text
    dest = dest_dir / src.name
    dest.write_text(text.replace("length: 4800", f"length: {length}"), encoding="utf-8")
    return dest


def expected_message(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


# --- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_validate_bad_file_prints_one_line_and_exits_2(path: Path):
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    field, _ = EXPECTED[path.stem]
    lines = result.stderr.splitlines()
    assert lines == [f"error: {expected_message(path)}"]
    assert str(path) in lines[0] and f": {field}: " in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_validate_shipped_scenario(path: Path):
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    sc = load_scenario(path)
    assert result.stdout.startswith(f"ok {path}: line '{sc.name}', {len(sc.stations)} stations")
    assert "bottleneck" in result.stdout and result.stderr == ""


def test_validate_missing_file(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    result = invoke("validate", missing)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {missing}: (file): file not found"]


def test_validate_without_argument_is_a_usage_error():
    result = invoke("validate")
    assert result.exit_code == 2
    assert "Missing argument" in result.output


@pytest.mark.parametrize("key", ["[/x]", "[bold]"])
def test_error_text_is_printed_verbatim(tmp_path: Path, key: str):
    path = tmp_path / "markup.yaml"
    path.write_text(SHIPPED[0].read_text() + f'"{key}": 1\n')
    result = invoke("validate", path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {expected_message(path)}"]


# --- schema ---------------------------------------------------------------------------------


def test_schema_prints_valid_json():
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "stations" in schema["properties"]
    assert set(schema["required"]) >= {"name", "horizon", "products", "source", "stations"}
    assert "Station" in schema["$defs"]


# --- run and runs ---------------------------------------------------------------------------


def test_run_unknown_policy_exits_2_before_touching_the_log(tmp_path: Path):
    db = tmp_path / "x.sqlite"
    result = invoke("run", SHIPPED[0], "--policy", "bogus", "--db", db)
    assert result.exit_code == 2
    assert "unknown policy 'bogus'" in result.stderr
    assert "Traceback" not in result.output
    assert not db.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("watch", SHIPPED[0], "--policy", "foo"),
        ("sweep", SHIPPED[0], "--policy", "foo"),
        ("run", SHIPPED[0], "--policy", "foo"),
    ],
    ids=lambda a: a[0],
)
def test_unknown_policy_lists_every_valid_name(tmp_path: Path, args):
    result = invoke(*args, "--store", tmp_path / "store")
    assert result.exit_code == 2
    valid = "fifo, min-setup, pm-threshold, conwip, ps, ps-id, nps, lorasa, shared, adapted"
    assert result.stderr.splitlines() == [
        f"error: unknown policy 'foo'; expected one of {valid}, heuristic"
    ]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("command, option", [("train", "--method"), ("compare", "--methods")])
def test_unknown_training_method_lists_the_methods(tmp_path: Path, command: str, option: str):
    result = invoke(command, SHIPPED[0], option, "shared", "--db", tmp_path / "x.sqlite")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: unknown method 'shared'; expected one of ps, ps-id, nps, lorasa"
    ]
    assert not (tmp_path / "x.sqlite").exists()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--layers", "middle", "error: --layers must be one of all, deeper, got 'middle'"),
        ("--lorasa-base", "nps", "error: --lorasa-base must be one of ps, ps-id, got 'nps'"),
        (
            "--lorasa-switch",
            "early",
            "error: --lorasa-switch must be one of fixed, plateau, got 'early'",
        ),
    ],
)
def test_bad_lorasa_choice_is_one_line_before_training(
    tmp_path: Path, option: str, value: str, message: str
):
    result = invoke("train", SHIPPED[0], option, value, "--db", tmp_path / "x.sqlite")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message]
    assert not (tmp_path / "x.sqlite").exists()


def test_run_bad_file_exits_2(tmp_path: Path):
    bad = BAD[0]
    result = invoke("run", bad, "--policy", "fifo", "--db", tmp_path / "x.sqlite")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {expected_message(bad)}"]


@pytest.mark.parametrize("seeds", ["0", "-1", "abc"])
def test_run_rejects_bad_seed_counts(tmp_path: Path, seeds: str):
    result = invoke("run", SHIPPED[0], "--seeds", seeds, "--db", tmp_path / "x.sqlite")
    assert result.exit_code == 2
    assert "--seeds" in result.stderr


# --- help -----------------------------------------------------------------------------------


def command_names() -> list[str]:
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups if g.name}
    return sorted(names)


def test_all_expected_commands_exist():
    assert REQUIRED_COMMANDS <= set(command_names())


@pytest.mark.parametrize("command", command_names())
def test_help_of_every_command(command: str):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and command in result.stdout


def test_top_level_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in REQUIRED_COMMANDS:
        assert command in result.stdout


# --- end to end, in a subprocess ------------------------------------------------------------


@pytest.mark.parametrize("stem", ["unknown_key_typo", "yaml_syntax", "top_level_list"])
def test_subprocess_validate_bad_file(tmp_path: Path, stem: str):
    path = ROOT / "tests" / "data" / "bad" / f"{stem}.yaml"
    proc = cli("validate", path, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {expected_message(path)}"]
    assert EXPECTED[stem][0] in proc.stderr
    assert "Traceback" not in proc.stderr


def test_subprocess_run_then_runs(tmp_path: Path):
    scenario = short_copy(ROOT / "scenarios" / "engine.yaml", tmp_path)
    db = tmp_path / "logs" / "x.sqlite"
    db.parent.mkdir()
    proc = cli("run", scenario.name, "--policy", "fifo", "--seeds", "2", "--db", db, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "engine: 2 seeds, 600 min each" in proc.stdout
    assert "throughput" in proc.stdout and "fifo (run 1)" in proc.stdout
    assert db.exists()

    listed = cli("runs", "--db", db, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "engine" in line]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("│ ").split("│")]
    assert cells[:7] == ["1", "engine", "simulate", "fifo", "0", "done", "2"]
    assert float(cells[7]) > 0  # throughput per hour


def test_subprocess_help(tmp_path: Path):
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "validate" in proc.stdout and "run" in proc.stdout
