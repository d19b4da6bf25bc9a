"""Smoke test: the new-station benchmark runs end to end at tiny sizes, prints a ratio line per
method and leaves its section of RESULTS.md alone without --write."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_new_station.py"
METHODS = ("ps", "ps-id", "nps", "lorasa")


def test_bench_new_station_quick_runs_and_prints_ratios() -> None:
    before = _own_section()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pattern = r"^ratio adapt/scratch env-steps to 99% of ([\w-]+) = ([0-9.]+x|n/a)$"
    found = dict(re.findall(pattern, proc.stdout, re.MULTILINE))
    assert set(found) == set(METHODS)
    rows = re.findall(r"^\| (.+?) \| ([0-9.]+) \| ", proc.stdout, re.MULTILINE)
    assert len(rows) == len(METHODS) and all(float(v) >= 0 for _, v in rows)  # tiny budget
    assert _own_section() == before


def _own_section() -> str | None:
    results = SCRIPT.parent / "RESULTS.md"
    if not results.exists():
        return None
    text = results.read_text()
    start = text.find("<!-- bench_new_station:start -->")
    end = text.find("<!-- bench_new_station:end -->")
    return text[start:end] if 0 <= start < end else None
