"""Benchmark raw simulation speed: good parts per wall-clock second under min-setup.

Why: every learning step, evaluation seed and what-if question is paid in simulated parts, so
the simulator's cost per part is the unit everything else is measured in. Absolute parts/s
depend on the machine; the stable figure is the ratio to a trivial hand-written SimPy M/M/1
loop run in the same process, interleaved with ours (our per-part cost / bare SimPy per-part
cost), and the same ratio per station visit (a part of a 6-station line is 6 services).

Every shipped scenario is run over its whole horizon (warm-up included, every good part
counted), and the longest one (most stations) also over a long run to show the steady-state
rate without the start-up. Events are counted in a separate, untimed pass over the same seed
(the trajectory is deterministic), so counting costs nothing in the timed runs.

    python benchmarks/bench_sim.py            # print results
    python benchmarks/bench_sim.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_sim.py --quick    # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import simpy

from common import (
    RESULTS,
    interleaved,
    longest,
    machine_lines,
    markers,
    med,
    publish,
    ratio_summary,
    shipped_scenarios,
)
from factory_twin.policy.heuristics import min_setup
from factory_twin.scenario import Scenario
from factory_twin.sim.line import Line

NAME = "bench_sim"


def run_line(sc: Scenario, seed: int, minutes: float) -> dict:
    """One min-setup run of `minutes` with no warm-up, so every good part counts."""
    t0 = time.perf_counter()
    line = Line(sc, seed, min_setup, warmup=0.0, length=minutes)
    line.run()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "parts": line.totals.good}


def count_line_events(sc: Scenario, seed: int, minutes: float) -> int:
    line = Line(sc, seed, min_setup, warmup=0.0, length=minutes)
    env, n = line.env, 0
    while env.peek() < line.end:
        env.step()
        n += 1
    return n


def mm1(seed: int, minutes: float, count: bool = False) -> dict:
    """Bare SimPy M/M/1 (arrival rate 0.9/min, service rate 1/min): a source process, a Store
    as the queue and one server process; the smallest loop that moves parts through SimPy."""
    t0 = time.perf_counter()
    env = simpy.Environment()
    rng = random.Random(seed)
    queue = simpy.Store(env)
    done = [0]

    def source():
        while True:
            yield env.timeout(rng.expovariate(0.9))
            queue.put(done)  # the item itself does not matter

    def server():
        while True:
            yield queue.get()
            yield env.timeout(rng.expovariate(1.0))
            done[0] += 1

    env.process(source())
    env.process(server())
    events = 0
    if count:
        while env.peek() < minutes:
            env.step()
            events += 1
    else:
        env.run(until=minutes)
    return {"seconds": time.perf_counter() - t0, "parts": done[0], "events": events}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny horizons and few rounds (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument("--long-factor", type=float, default=None,
                   help="long run = this many times the longest scenario's horizon")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 9)
    factor = args.long_factor or (0.2 if args.quick else 10.0)
    scenarios = shipped_scenarios()
    long_name = longest(scenarios)
    minutes = {
        n: (200.0 if args.quick else sc.horizon.warmup + sc.horizon.length)
        for n, sc in scenarios.items()
    }
    sc_long = scenarios[long_name]
    long_minutes = factor * (sc_long.horizon.warmup + sc_long.horizon.length)
    mm1_minutes = 500.0 if args.quick else 5000.0  # about as many parts as one scenario run

    cases: dict[str, Callable[[int], dict]] = {
        "mm1": lambda r: mm1(r, mm1_minutes),
        **{n: (lambda r, n=n: run_line(scenarios[n], r, minutes[n])) for n in scenarios},
        "long": lambda r: run_line(sc_long, r, long_minutes),
    }
    for fn in cases.values():  # warm-up (imports, caches)
        fn(0)
    samples = interleaved(cases, rounds)

    def per_part(s: dict) -> float:
        return s["seconds"] / max(s["parts"], 1)

    rows = []
    labels = {n: n for n in scenarios} | {"long": f"{long_name} (long run)"}
    for key in [*scenarios, "long"]:
        sc = sc_long if key == "long" else scenarios[key]
        mins = long_minutes if key == "long" else minutes[key]
        n_st = len(sc.stations)
        ratios = [per_part(a) / per_part(b) for a, b in zip(samples[key], samples["mm1"],
                                                              strict=True)]  # fmt: skip
        events = count_line_events(sc, 0, mins)
        ev_run = run_line(sc, 0, mins)  # the seed the events were counted on, for events/part
        t = med(samples[key], "seconds")
        parts = med(samples[key], "parts")
        rows.append({
            "label": labels[key], "stations": n_st, "minutes": mins, "parts": parts,
            "ms": t * 1e3, "parts_s": statistics.median(s["parts"] / s["seconds"]
                                                        for s in samples[key]),
            "ev_part": events / max(ev_run["parts"], 1),
            "ev_s": events / ev_run["seconds"],
            "ratio": ratios, "per_visit": [x / n_st for x in ratios],
        })  # fmt: skip
    mm1_count = mm1(0, mm1_minutes, count=True)
    mm1_ev_part = mm1_count["events"] / max(mm1_count["parts"], 1)
    mm1_parts_s = statistics.median(s["parts"] / s["seconds"] for s in samples["mm1"])

    start, end = markers(NAME)
    out = [
        start,
        "## bench_sim: raw simulation speed (min-setup)",
        "",
        *machine_lines(),
        "",
        f"Each scenario over {'200 min (--quick)' if args.quick else 'its whole horizon'} "
        "with no warm-up (every good part counts), one seed per round, "
        f"{rounds} interleaved rounds, medians. *Cost vs bare SimPy* = (our wall time per good "
        "part) / (a hand-written SimPy M/M/1's wall time per part) measured in the same round; "
        "*per station visit* divides that by the number of stations a part passes. Events "
        "come from a separate untimed pass over seed 0.",
        "",
        "| run | stations | sim minutes | good parts | wall ms | good parts/s | events/part "
        "| events/s | cost vs bare SimPy (per part) | per station visit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| bare SimPy M/M/1 | 1 | {mm1_minutes:,.0f} | {med(samples['mm1'], 'parts'):,.0f} "
        f"| {med(samples['mm1'], 'seconds') * 1e3:.1f} | {mm1_parts_s:,.0f} | {mm1_ev_part:.2f} "
        f"| {mm1_count['events'] / med(samples['mm1'], 'seconds'):,.0f} | 1.00x | 1.00x |",
    ]
    for r in rows:
        out.append(
            f"| {r['label']} | {r['stations']} | {r['minutes']:,.0f} | {r['parts']:,.0f} "
            f"| {r['ms']:.1f} | {r['parts_s']:,.0f} | {r['ev_part']:.1f} | {r['ev_s']:,.0f} "
            f"| {ratio_summary(r['ratio'])} | {ratio_summary(r['per_visit'])} |"
        )
    long_row = rows[-1]
    out += [
        "",
        f"Longest shipped scenario: **{long_name}** ({long_row['stations']} stations); its "
        f"long run simulates {long_row['minutes']:,.0f} min. Ratios are medians over rounds "
        f"(min-max in brackets). An M/M/1 part costs {mm1_ev_part:.0f} events (arrival, queue "
        "put, queue get, service end); a line part costs a few per station visit (buffer "
        "wake-ups, set-up, service, blocking, breakdowns), so the per-visit ratio is the fair "
        "one for the overhead our model adds on top of SimPy.",
        end,
    ]
    section = "\n".join(out) + "\n"
    summary = []
    for r in rows:
        key = r["label"].split(" ")[0] + ("_long" if "long" in r["label"] else "")
        summary.append(f"ratio {key}/simpy per-part = {statistics.median(r['ratio']):.2f}x")
    publish(section, NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
