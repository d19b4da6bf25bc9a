"""Smoke test: the viewer benchmark runs end to end at a tiny size and prints its fps lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_viz.py"


def test_bench_viz_quick_runs_and_prints_fps() -> None:
    results = SCRIPT.parent / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    )
    assert proc.returncode == 0, proc.stderr
    fps = re.findall(r"^fps panes=(\d) speed=\S+ = ([0-9.]+)$", proc.stdout, re.MULTILINE)
    assert {p for p, _ in fps} == {"1", "2"}
    assert all(float(v) > 0 for _, v in fps)
    live = re.findall(
        r"^live policy=(\S+) panes=1 fps = ([0-9.]+) sim-min/s = ([0-9.]+)$", proc.stdout, re.M
    )
    assert {p for p, _, _ in live} == {"heuristic", "ps", "lorasa"}
    assert all(float(f) > 0 and float(v) > 0 for _, f, v in live)
    assert "<!-- bench_viz:start -->" in proc.stdout and "<!-- bench_viz:end -->" in proc.stdout
    after = results.read_bytes() if results.exists() else None
    assert after == before  # without --write the results file is untouched
