"""Benchmark `factory-twin sweep`: evaluation seeds in parallel worker processes.

Why: a planner's what-if question is answered with many seeds; `factory_twin.sweep.run_sweep`
spreads them over `spawn`ed worker processes. This script measures the speed-up of 2 workers
over 1 (in-process, no pool) on the longest shipped scenario under min-setup, alternating the
two (ABAB...) and checking that both give identical KPIs for every seed. Also reported: when
the first result of the 2-worker pool arrives (the start-up cost of spawning workers), which is
what keeps short sweeps from scaling.

    python benchmarks/bench_sweep.py            # print results
    python benchmarks/bench_sweep.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_sweep.py --quick    # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import (
    RESULTS,
    longest,
    machine_lines,
    markers,
    publish,
    ratio_summary,
    shipped_scenarios,
)
from factory_twin.execute import make_executor
from factory_twin.scenario import Scenario, parse_scenario
from factory_twin.sweep import run_sweep

NAME = "bench_sweep"
POLICY = "min-setup"


def shortened(sc: Scenario, warmup: float, length: float) -> Scenario:
    doc = sc.model_dump(mode="json")
    doc["horizon"] = {"warmup": warmup, "length": length}
    return parse_scenario(doc, "bench_sweep")


def timed_sweep(sc: Scenario, seeds: list[int], workers: int) -> dict:
    t0 = time.perf_counter()
    first: list[float] = []

    def on_result(_n: int) -> None:
        if not first:
            first.append(time.perf_counter() - t0)

    res = run_sweep(sc, POLICY, seeds, make_executor(workers=workers), on_result=on_result)
    return {"seconds": time.perf_counter() - t0, "first": first[0], "kpis": repr(res.kpis)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 seeds of a short horizon (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="sweep sizes to measure (default 16 64)")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = args.seeds or ([2] if args.quick else [16, 64])
    scenarios = shipped_scenarios()
    name = longest(scenarios)
    sc = scenarios[name]
    if args.quick:
        sc = shortened(sc, 60.0, 300.0)
    load_before = os.getloadavg()
    rows = []
    for n in sizes:
        seeds = list(range(n))
        samples: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(rounds):
            for w in (1, 2):
                samples[w].append(timed_sweep(sc, seeds, w))
        reference = samples[1][0]["kpis"]
        for w, runs in samples.items():
            for s in runs:
                assert s["kpis"] == reference, f"{n} seeds, {w} workers: KPIs differ"
        speedups = [a["seconds"] / b["seconds"] for a, b in zip(samples[1], samples[2],
                                                                strict=True)]  # fmt: skip
        rows.append({
            "seeds": n, "speedups": speedups,
            "w1": statistics.median(s["seconds"] for s in samples[1]),
            "w2": statistics.median(s["seconds"] for s in samples[2]),
            "first": statistics.median(s["first"] for s in samples[2]),
        })  # fmt: skip

    h = sc.horizon
    start, end = markers(NAME)
    out = [
        start,
        "## bench_sweep: parallel evaluation seeds (`factory-twin sweep`)",
        "",
        *machine_lines(),
        f"- Load average before the run: {' '.join(f'{x:.2f}' for x in load_before)} (a "
        "load near 1 on 2 CPUs means one core is already busy: 2 workers then share about "
        "one free core and cannot reach 2x)",
        "",
        f"Scenario **{name}**, policy {POLICY}, {h.warmup:g} + {h.length:g} min per seed. "
        "1 worker = in-process, no pool; 2 workers = `spawn` process pool, one seed per work "
        f"item. {rounds} interleaved rounds (1, 2, 1, 2, ...), medians; KPIs of every seed "
        "are identical across all runs (asserted).",
        "",
        "| seeds | 1 worker s | 2 workers s | speed-up 2 vs 1 | s per seed (1 worker) "
        "| first result with 2 workers (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['seeds']} | {r['w1']:.2f} | {r['w2']:.2f} | {ratio_summary(r['speedups'])} "
            f"| {r['w1'] / r['seeds']:.3f} | {r['first']:.2f} |"
        )
    out += [
        "",
        "The 2-worker time includes spawning the workers (a fresh interpreter importing "
        "numpy, SimPy and the model each: the 'first result' column); what is left of a "
        "perfect 2x is that start-up plus whatever else runs on the machine.",
        end,
    ]
    section = "\n".join(out) + "\n"
    summary = [f"ratio speedup workers=2/workers=1 seeds={r['seeds']} = "
               f"{statistics.median(r['speedups']):.2f}x" for r in rows]  # fmt: skip
    first = statistics.median(rows[0]["speedups"])
    summary.append(f"ratio speedup workers=2/workers=1 = {first:.2f}x")
    publish(section, NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
