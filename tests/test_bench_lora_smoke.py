"""Smoke test: the LoRA benchmark runs end to end at tiny sizes and prints its ratio lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lora.py"


def test_bench_lora_quick_runs_and_prints_ratios() -> None:
    before = _own_section()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    ratios = dict(re.findall(r"^ratio (\w+)/shared = ([0-9.]+)x$", proc.stdout, re.MULTILINE))
    expected = {"lora_grouped", "lora_flat_shuffled", "naive_gather", "python_loop", "merged_bmm",
                "mb_shuffled", "mb_grouped", "mb_grouped_train", "mb_merged",
                "mb_merged_train"}  # fmt: skip
    assert expected <= set(ratios)
    assert all(float(v) > 0 for v in ratios.values())
    assert "<!-- bench_lora:start -->" in proc.stdout and "| LoRASA |" in proc.stdout
    assert "### Training minibatch:" in proc.stdout
    # a missed minibatch target also says what the merged-weights alternative measured
    merged = r"Merging instead .* measures [0-9.]+x forward and [0-9.]+x forward \+ backward here"
    assert re.search(merged, proc.stdout)
    assert _own_section() == before  # without --write our section of RESULTS.md is untouched


def _own_section() -> str | None:
    """This benchmark's part of RESULTS.md (other benchmarks may edit the rest concurrently)."""
    results = SCRIPT.parent / "RESULTS.md"
    if not results.exists():
        return None
    text = results.read_text()
    start, end = text.find("<!-- bench_lora:start -->"), text.find("<!-- bench_lora:end -->")
    return text[start:end] if 0 <= start < end else None
