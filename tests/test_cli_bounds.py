"""Integer options are bounded at parse time: an out-of-range value is one line on stderr that
names the option and the accepted range, exit 2, before any file or database is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_twin.cli import app
from factory_twin.cli_args import MAX_RUN_ID, MAX_SEED

ROOT = Path(__file__).parent.parent
SCENARIO = ROOT / "scenarios" / "smt.yaml"
HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "args, option, accepted",
    [
        (("run", SCENARIO, "--seed", "-5"), "--seed", f"0..{MAX_SEED}"),
        (("run", SCENARIO, "--seed", HUGE), "--seed", f"0..{MAX_SEED}"),
        (("run", SCENARIO, "--seed", str(MAX_SEED + 1)), "--seed", f"0..{MAX_SEED}"),
        (("sweep", SCENARIO, "--seed", "-1"), "--seed", f"0..{MAX_SEED}"),
        (("train", SCENARIO, "--seed", HUGE), "--seed", f"0..{MAX_SEED}"),
        (("adapt", SCENARIO, "--station", "x", "--seed", "-2"), "--seed", f"0..{MAX_SEED}"),
        (("replay", HUGE), "RUN_ID", f"1..{MAX_RUN_ID}"),
        (("replay", "0"), "RUN_ID", f"1..{MAX_RUN_ID}"),
        (("train", SCENARIO, "--resume", HUGE), "--resume", f"1..{MAX_RUN_ID}"),
        (("train", SCENARIO, "--steps", "5"), "--steps", "1000..10000000000"),
        (("train", SCENARIO, "--steps", HUGE), "--steps", "1000..10000000000"),
        (("train", SCENARIO, "--rank", "0"), "--rank", "1..256"),
        (("train", SCENARIO, "--checkpoint-every", "0"), "--checkpoint-every", "1..1000000"),
        (("run", SCENARIO, "--seeds", "0"), "--seeds", "1..10000"),
        (("sweep", SCENARIO, "--seeds", "100001"), "--seeds", "1..100000"),
        (("sweep", SCENARIO, "--workers", "0"), "--workers", "1..256"),
        (("compare", SCENARIO, "--train-seeds", "101"), "--train-seeds", "1..100"),
        (("compare", SCENARIO, "--eval-seeds", "1"), "--eval-seeds", "2..1000"),
        (("runs", "--limit", "0"), "--limit", "1..100000"),
    ],
    ids=lambda v: " ".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_out_of_range_integer_is_one_line_naming_option_and_range(
    tmp_path: Path, args, option: str, accepted: str
):
    db = tmp_path / "log.sqlite"
    result = CliRunner().invoke(app, [*map(str, args), "--db", str(db)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {option} is ")
    assert lines[0].endswith(f"expected an integer in {accepted}")
    assert "Traceback" not in result.output
    assert not db.exists()


def test_largest_seed_is_accepted(tmp_path: Path):
    db = tmp_path / "log.sqlite"
    result = CliRunner().invoke(
        app, ["run", str(SCENARIO), "--policy", "fifo", "--seeds", "2",
              "--seed", str(MAX_SEED), "--db", str(db)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seeds" in result.stdout and db.exists()
