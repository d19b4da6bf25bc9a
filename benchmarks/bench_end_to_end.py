"""Benchmark the README's main job end to end: train every method and compare, wall clock.

Why: the planner's first experience is the README's one command, `factory-twin compare
scenarios/bottling.yaml`: four heuristics evaluated, four methods trained for the default
budget, each evaluated on held-out seeds, a table and a chart. It should finish within 10
minutes on a 2-core machine (target). This script runs exactly that command in a subprocess
with the same interpreter, pointed at a temporary database and adapter store so that the
committed `adapters_store/` and `db/` stay untouched, and reports its wall time as a share of
the budget and its CPU time as a share of the wall time (how many cores it kept busy).

    python benchmarks/bench_end_to_end.py            # print results (about 8 minutes)
    python benchmarks/bench_end_to_end.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_end_to_end.py --quick    # 2 methods, 1 training seed (smoke)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, machine_lines, markers, publish

NAME = "bench_end_to_end"
BUDGET_S = 600.0
SCENARIO = "scenarios/bottling.yaml"


def run_main_job(extra: list[str]) -> dict:
    """Run the main job in a fresh temporary store; wall and CPU seconds, its output and its
    JSON document."""
    with tempfile.TemporaryDirectory(prefix="ft-e2e-") as tmp:
        doc = Path(tmp) / "compare.json"
        cmd = [sys.executable, "-m", "factory_twin.cli", "compare", SCENARIO,
               "--db", str(Path(tmp) / "log.sqlite"), "--store", str(Path(tmp) / "store"),
               "--out", str(Path(tmp) / "compare.png"), "--json", str(doc), *extra]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"main job failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        found = json.loads(doc.read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "stdout": proc.stdout, "json": found}


def most_of_bound(doc: dict) -> float:
    """The highest '% of bound' in the comparison (each training seed's policy, as its mean
    over the evaluation seeds, and the best heuristic): the bound holds for every policy in
    the long run, so well above 100 the bound (or the simulator) is wrong."""
    values = [v["bound_pct"] for m in doc["methods"] for v in m["per_seed"]]
    values.append(doc["best_heuristic"]["levels"]["bound_pct"]["mean"])
    return max(values)


def table_lines(stdout: str) -> list[str]:
    """The comparison table (from its title line, just above the top border) to the end."""
    lines = stdout.rstrip().splitlines()
    top = next((i for i, line in enumerate(lines) if line.lstrip().startswith("┏")), 1)
    return lines[max(top - 1, 0) :]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny budget (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quick = ["--steps", "2048", "--eval-seeds", "2", "--train-seeds", "1", "--methods", "ps,lorasa"]
    extra = quick if args.quick else []
    res = run_main_job(extra)
    share = res["wall"] / BUDGET_S
    verdict = "met" if share <= 1.0 else "MISSED"
    if args.quick:
        verdict = "not judged (--quick)"
    top = most_of_bound(res["json"])
    if top > 100.0:
        raise SystemExit(f"a policy reached {top:.1f}% of the throughput bound: it does not bound")
    minutes, seconds = divmod(res["wall"], 60)
    start, end = markers(NAME)
    out = [
        start,
        "## bench_end_to_end: the README's main job, wall clock",
        "",
        *machine_lines(),
        "",
        f"`factory-twin compare {SCENARIO}{' ' + ' '.join(extra) if extra else ''}` (default "
        "budget per run, all four methods on 3 training seeds each as jobs on both cores, the "
        "four heuristics, held-out evaluation seeds), run in a subprocess against a temporary "
        "database and policy store.",
        "",
        "| wall time | share of the 10-minute budget | CPU time | CPU / wall (cores kept busy) |",
        "|---:|---:|---:|---:|",
        f"| {int(minutes)}:{seconds:04.1f} | {share:.2f}x | {res['cpu']:.0f} s "
        f"| {res['cpu'] / res['wall']:.2f}x |",
        "",
        f"Target: wall time <= 10 minutes on 2 cores: **{verdict}**.",
        "",
        f"Highest % of bound of any policy: {top:.1f} (the bound holds: no policy above 100).",
        "",
        "The job's own output (its comparison table):",
        "",
        "```",
        *table_lines(res["stdout"]),
        "```",
        end,
    ]
    section = "\n".join(out) + "\n"
    lines = [f"ratio end-to-end wall/budget = {share:.2f}x", f"most of bound = {top:.1f}%"]
    publish(section, NAME, lines, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
