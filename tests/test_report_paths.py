"""A hostile scenario name cannot make `compare` write its charts outside reports/."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_twin.cli import app

LINE = """
name: {name!r}
horizon: {{warmup: 0, length: 60}}
products: [{{name: a}}]
source: {{kind: saturated}}
stations:
  - {{name: s1, buffer: 3, process: {{dist: exponential, mean: 0.5}}}}
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("hostile", ["../../outside/evil", "ABSOLUTE/evil"])
def test_compare_writes_charts_only_inside_reports(tmp_path, monkeypatch, hostile):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    outside = Path(tempfile.mkdtemp(prefix="ft-", dir="/tmp"))  # short: names are <= 64 chars
    monkeypatch.chdir(work)
    try:
        _compare(work, tmp_path, hostile.replace("ABSOLUTE", str(outside)))
    finally:
        escaped = list(outside.rglob("*"))
        shutil.rmtree(outside)
    assert escaped == []


def _compare(work: Path, tmp_path: Path, name: str) -> None:
    (work / "line.yaml").write_text(LINE.format(name=name))
    args = ["compare", "line.yaml", "--steps", "1024", "--train-seeds", "1", "--methods", "ps"]
    args += ["--eval-seeds", "2", "--workers", "1", "--db", str(work / "log.sqlite")]
    done = CliRunner().invoke(app, [*args, "--store", str(work / "store")])
    assert done.exit_code == 0, done.output
    written = sorted(p for p in tmp_path.rglob("*.png"))
    assert len(written) == 3  # compare, curves, stations
    assert all(p.parent == work / "reports" for p in written), written
    assert not (tmp_path / "outside").exists() and not (tmp_path / "a" / "outside").exists()
