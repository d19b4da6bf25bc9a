"""The KPI table: extra columns keep their values under their own headers in every process.

String hashing is salted per process (PYTHONHASHSEED), so anything that takes the order of
columns from a set can put one column's values under another's header in some runs only; the
table is therefore rendered in fresh interpreters under several hash seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Renders a table like `compare`'s: two extra columns, one row without the second one.
RENDER = """
import io
from rich.console import Console
from factory_twin.report import kpi_table
from factory_twin.sim.kpi import KPIs

def kpis(t):
    return KPIs(throughput=t, wip=3.0, lead_time_mean=20.0, lead_time_p95=40.0, oee=0.5,
                scrap_rate=0.01, utilisation=0.6, bound_pct=80.0, good_parts=100,
                scrapped_parts=1, sim_minutes=600.0, departure_rate=t, sojourn_mean=20.0)

results = {"PS": [kpis(0.5), kpis(0.6)], "LoRASA": [kpis(0.7), kpis(0.8)], "FIFO": [kpis(0.4)]}
extra = {
    "PS": {"actor params": "P-ps", "adapter/station": ""},
    "LoRASA": {"actor params": "P-lorasa", "adapter/station": "A-lorasa"},
    "FIFO": {"actor params": "P-fifo"},
}
console = Console(record=True, width=250, file=io.StringIO())
console.print(kpi_table("t", results, extra))
print(console.export_text())
"""


def render(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", RENDER], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout


def cells(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Headers and, per policy, header -> cell, from rich's box-drawn text. Header rows are
    split on heavy bars (┃) and a header wrapped over several lines is joined again; body rows
    are split on light bars (│)."""

    def split(line: str, bar: str) -> list[str]:
        return [part.strip() for part in line.strip().strip(bar).split(bar)]

    header_lines = [split(ln, "┃") for ln in text.splitlines() if "┃" in ln]
    heads = [" ".join(filter(None, parts)) for parts in zip(*header_lines, strict=True)]
    rows = {}
    for ln in text.splitlines():
        if ln.count("│") == len(heads) + 1:
            values = split(ln, "│")
            rows[values[0]] = dict(zip(heads, values, strict=True))
    return heads, rows


@pytest.mark.parametrize("hash_seed", ["0", "1", "2", "3", "4", "5"])
def test_extra_columns_sit_under_their_own_headers_for_any_hash_seed(hash_seed: str) -> None:
    heads, rows = cells(render(hash_seed))
    assert heads[-2:] == ["actor params", "adapter/station"]  # first-seen order
    assert set(rows) == {"PS", "LoRASA", "FIFO"}
    assert rows["PS"]["actor params"] == "P-ps" and rows["PS"]["adapter/station"] == ""
    assert rows["LoRASA"]["actor params"] == "P-lorasa"
    assert rows["LoRASA"]["adapter/station"] == "A-lorasa"
    assert rows["FIFO"]["actor params"] == "P-fifo" and rows["FIFO"]["adapter/station"] == ""
