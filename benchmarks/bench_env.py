"""Benchmark the environment's overhead over the raw simulator, on the same line and seed.

Why: training pays for every simulated part through `LineEnv`, so the environment should add
little on top of the simulator (targets: time per good part through `step_arrays` <= 2.5x the
raw simulator's, through the PettingZoo dict API <= 4x). The same scenario and seed are
driven three ways, interleaved per round:

* raw: `Line(scenario, seed, min_setup).run()`, the heuristic called inside the simulator;
* env arrays: `LineEnv.reset_arrays(seed)` / `step_arrays(actions)`, each acting station's
  action chosen by the same `min_setup(station, machine)` on `env.line.stations[i]` and the
  machine of its pending request;
* env dict: the PettingZoo `reset(seed=...)` / `step({agent: action})` API, same choices.

All three must make the same number of good parts (asserted): the environment parks a request
and answers it at the same simulated time, and stale requests are re-checked, so min-setup sees
the same buffers either way. A cProfile pass over one `step_arrays` run shows where the extra
time goes.

    python benchmarks/bench_env.py            # print results
    python benchmarks/bench_env.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_env.py --quick    # tiny smoke run (seconds)
    python benchmarks/bench_env.py --scenario scenarios/packaging.yaml   # one line only
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from pathlib import Path

from common import (
    RESULTS,
    ROOT,
    interleaved,
    machine_lines,
    markers,
    med,
    publish,
    ratio_summary,
    shipped_scenarios,
)
from factory_twin.env import LineEnv
from factory_twin.policy.heuristics import min_setup
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.sim.line import Line

NAME = "bench_env"
TARGET = 2.5  # issue 13, item 2 (was 3.0)
DICT_TARGET = 4.0  # the PettingZoo dict API, same issue
SIM_PART = "simulation to the next decision (`Line.advance`)"
OBS_PART = "observation + mask (`Observer.update`)"
ARRAYS_NOTE = (
    "What stops it: over {target:g}x on {over}. Of an env step's {total:.1f} µs on {line} "
    "(the wrapped run below), {sim:.1f} µs is the simulation to the next decision, against the "
    "raw simulator's {raw:.1f} µs for the same simulation: the difference is what handing each "
    "decision out of the simulation and back costs, since the raw simulator decides inside its "
    "processes. The observation and mask add {obs:.1f} µs and everything else {rest:.1f}. "
    "{target:g}x needs the whole step at or under {need:.1f} µs; unwrapped it is {bare:.1f}. "
    "What it would take: fewer Python-level calls per event in that hand-off and in the "
    "observation writes (the top functions below), simulator work rather than environment "
    "bookkeeping."
)
DICT_NOTE = (
    "What stops it: the PettingZoo parallel API takes an action dict and hands back five "
    "dicts (observations, rewards, terminations, truncations, infos) with an entry for every "
    "station at every step, and a PettingZoo caller reads every station's `acting` flag, so "
    "its cost over step_arrays grows with the stations while a step's simulation involves "
    "the one or two that act: over {target:g}x here on {over}. What it would take: a "
    "parallel env whose dicts name only the acting stations, which breaks the API's "
    "contract that every live agent appears every step; so step_arrays is the interface "
    "for speed and the dict API the one for compatibility."
)


def dict_note(rows: list[dict]) -> str:
    """DICT_NOTE naming the lines (with their station counts) over the dict API's target."""
    over = [f"{r['name']} ({r['stations']} stations)" for r in rows
            if statistics.median(r["dict"]) > DICT_TARGET]  # fmt: skip
    return DICT_NOTE.format(target=DICT_TARGET, over=", ".join(over))


def arrays_note(rows: list[dict], line: str, parts: dict, total: float, raw: float) -> str:
    """ARRAYS_NOTE from the lines over step_arrays' target and one line's measured split."""
    over = [r["name"] for r in rows if statistics.median(r["arr"]) > TARGET]
    sim, obs = parts[SIM_PART], parts[OBS_PART]
    bare = next(r["us_step"] for r in rows if r["name"] == line)
    return ARRAYS_NOTE.format(target=TARGET, over=", ".join(over), total=total, line=line,
                              sim=sim, raw=raw, obs=obs, rest=total - sim - obs,
                              need=TARGET * raw, bare=bare)  # fmt: skip


def horizon(sc: Scenario, quick: bool) -> tuple[float, float]:
    """(warm-up, measured length) of a run."""
    if quick:
        return 60.0, 300.0
    return sc.horizon.warmup, sc.horizon.length


def run_raw(sc: Scenario, seed: int, warmup: float, length: float) -> dict:
    t0 = time.perf_counter()
    line = Line(sc, seed, min_setup, warmup=warmup, length=length)
    line.run()
    return {"seconds": time.perf_counter() - t0, "parts": line.totals.good, "decisions": 0}


def min_setup_actions(env: LineEnv, acts: list[int]) -> int:
    """Fill `acts` for the acting stations with min-setup's choice; returns how many acted."""
    stations = env.line.stations
    idx = env.acting_stations
    for i in idx:
        st = stations[i]
        acts[i] = min_setup(st, st.pending[0].machine)
    return len(idx)


def run_env_arrays(sc: Scenario, seed: int, warmup: float, length: float) -> dict:
    t0 = time.perf_counter()
    env = LineEnv(sc, length, warmup=warmup)
    env.reset_arrays(seed)
    acts = [0] * env.n_agents  # step_arrays takes any int sequence; a list is cheapest here
    decisions, steps, done = 0, 0, False
    while not done:
        decisions += min_setup_actions(env, acts)
        *_, done = env.step_arrays(acts)
        steps += 1
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "parts": env.line.totals.good, "decisions": decisions,
            "steps": steps}  # fmt: skip


def run_env_dict(sc: Scenario, seed: int, warmup: float, length: float) -> dict:
    t0 = time.perf_counter()
    env = LineEnv(sc, length, warmup=warmup)
    _, infos = env.reset(seed=seed)
    names = env.possible_agents
    decisions = 0
    while env.agents:
        stations = env.line.stations
        actions = {}
        for i, name in enumerate(names):
            if infos[name]["acting"]:
                st = stations[i]
                actions[name] = min_setup(st, st.pending[0].machine)
                decisions += 1
            else:
                actions[name] = 0
        _, _, _, _, infos = env.step(actions)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "parts": env.line.totals.good, "decisions": decisions}


def breakdown(sc: Scenario, seed: int, warmup: float, length: float) -> dict[str, float]:
    """Microseconds per env step spent in each part of `step_arrays` (plus the driver's
    min-setup calls), from one run with timing wrappers on the instance's methods."""
    pc = time.perf_counter
    spent: dict[str, float] = {}

    def timed(label: str, fn):
        spent.setdefault(label, 0.0)

        def wrapper(*a, **k):
            t0 = pc()
            try:
                return fn(*a, **k)
            finally:
                spent[label] += pc() - t0

        return wrapper

    env = LineEnv(sc, length, warmup=warmup)
    env.reset_arrays(seed)
    line = env.line
    line.advance = timed(SIM_PART, line.advance)
    line.answer = timed("answering requests (`Line.answer`)", line.answer)
    observer = env._observer
    observer.update = timed(OBS_PART, observer.update)
    env._reward = timed("reward (`LineEnv._reward`)", env._reward)
    acts = [0] * env.n_agents  # step_arrays takes any int sequence; a list is cheapest here
    choose = timed("min-setup choices (benchmark driver)", min_setup_actions)
    step = timed("total per step", env.step_arrays)
    steps, done = 0, False
    while not done:
        choose(env, acts)
        *_, done = step(acts)
        steps += 1
    total = spent.pop("total per step")
    inner = sum(v for k, v in spent.items() if "driver" not in k)
    spent["rest of `step_arrays` (action checks, bookkeeping)"] = total - inner
    spent["total per step (incl. driver)"] = total + spent["min-setup choices (benchmark driver)"]
    return {k: v / steps * 1e6 for k, v in spent.items()}


def profile_env(sc: Scenario, seed: int, warmup: float, length: float, top: int) -> list:
    """Top functions by own time in one `step_arrays` run: (where, calls, own ms, share)."""
    prof = cProfile.Profile()
    prof.enable()
    run_env_arrays(sc, seed, warmup, length)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = []
    for (file, line, func), (_, calls, tottime, _, _) in stats.stats.items():
        path = Path(file)
        try:
            where = str(path.relative_to(ROOT))
        except ValueError:
            where = f"{path.parent.name}/{path.name}" if file.startswith("/") else file
        rows.append((f"{where}:{line}({func})", calls, tottime * 1e3, tottime / total))
    rows.sort(key=lambda r: -r[2])
    return rows[:top]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny horizons and few rounds (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument(
        "--scenario", action="append", type=Path, default=None,
        help="time this scenario file only (repeatable; default: every shipped line)",
    )  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 7)
    scenarios = shipped_scenarios()
    if args.scenario:
        scenarios = {p.stem: load_scenario(p) for p in args.scenario}
    if args.quick:
        scenarios = dict(list(scenarios.items())[:1])
    runners = {"raw": run_raw, "arrays": run_env_arrays, "dict": run_env_dict}
    cases = {}
    for name, sc in scenarios.items():
        w, length = horizon(sc, args.quick)
        for kind, fn in runners.items():
            cases[(name, kind)] = lambda r, fn=fn, sc=sc, w=w, n=length: fn(sc, r, w, n)
    for fn in cases.values():  # warm-up
        fn(0)
    samples = interleaved(cases, rounds)

    rows = []
    for name, sc in scenarios.items():
        raw, arr, dct = (samples[(name, k)] for k in runners)
        for r, (a, b, c) in enumerate(zip(raw, arr, dct, strict=True)):
            assert a["parts"] == b["parts"] == c["parts"], (
                f"{name} seed {r}: raw {a['parts']}, step_arrays {b['parts']}, "
                f"PettingZoo {c['parts']} good parts: the environment changed the trajectory"
            )
        rows.append({
            "name": name, "stations": len(sc.stations), "parts": med(raw, "parts"),
            "decisions": med(arr, "decisions"), "steps": med(arr, "steps"),
            "raw_ms": med(raw, "seconds") * 1e3, "arr_ms": med(arr, "seconds") * 1e3,
            "dict_ms": med(dct, "seconds") * 1e3,
            "us_step": statistics.median(s["seconds"] / s["steps"] for s in arr) * 1e6,
            "arr": [b["seconds"] / a["seconds"] for a, b in zip(raw, arr, strict=True)],
            "dict": [c["seconds"] / a["seconds"] for a, c in zip(raw, dct, strict=True)],
        })  # fmt: skip
    all_arr = [x for r in rows for x in r["arr"]]
    all_dict = [x for r in rows for x in r["dict"]]
    worst = max(statistics.median(r["arr"]) for r in rows)
    worst_dict = max(statistics.median(r["dict"]) for r in rows)
    verdict = "met" if worst <= TARGET else "MISSED"
    dict_verdict = "met" if worst_dict <= DICT_TARGET else "MISSED"
    if args.quick:
        verdict = dict_verdict = "not judged (--quick)"
    prof_name = next(iter(scenarios))
    w, length = horizon(scenarios[prof_name], args.quick)
    profile = profile_env(scenarios[prof_name], 0, w, length, 6 if args.quick else 10)
    parts = breakdown(scenarios[prof_name], 0, w, length)
    raw_step = med(samples[(prof_name, "raw")], "seconds") / med(samples[(prof_name, "arrays")],
                                                                  "steps") * 1e6  # fmt: skip
    total_step = parts.pop("total per step (incl. driver)")

    start, end = markers(NAME)
    out = [
        start,
        "## bench_env: environment overhead over the raw simulator",
        "",
        *machine_lines(),
        "",
        f"Same scenario and seed (one per round, {rounds} interleaved rounds, medians); "
        f"{'60 + 300 min (--quick)' if args.quick else 'each scenario horizon (warm-up + length)'}"
        ". Good parts are identical in all three (asserted). Ratios are time per good part "
        "relative to the raw simulator in the same round: median (min-max).",
        "",
        "| scenario | stations | good parts | decisions | env steps | raw ms | step_arrays ms "
        "| PettingZoo ms | µs / env step | step_arrays / raw | PettingZoo / raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['stations']} | {r['parts']:,.0f} | {r['decisions']:,.0f} "
            f"| {r['steps']:,.0f} | {r['raw_ms']:.0f} | {r['arr_ms']:.0f} | {r['dict_ms']:.0f} "
            f"| {r['us_step']:.1f} | {ratio_summary(r['arr'])} | {ratio_summary(r['dict'])} |"
        )
    out += [
        "",
        f"Target: step_arrays <= {TARGET:g}x raw per good part in every scenario: **{verdict}** "
        f"(worst scenario median {worst:.2f}x).",
        "",
        *(
            [arrays_note(rows, prof_name, parts, total_step, raw_step), ""]
            if verdict == "MISSED"
            else []
        ),  # fmt: skip
        f"Target: PettingZoo <= {DICT_TARGET:g}x raw per good part in every scenario: "
        f"**{dict_verdict}** (worst scenario median {worst_dict:.2f}x).",
        "",
        *([dict_note(rows), ""] if dict_verdict == "MISSED" else []),
        f"Where an env step's time goes ({prof_name}, seed 0, one run with timing wrappers, "
        "which add about 0.2 µs per wrapped call). For scale: the raw simulator spends "
        f"{raw_step:.1f} µs of wall time per env step's worth of simulation.",
        "",
        "| part | µs / env step | share |",
        "|---|---:|---:|",
    ]
    for label, us in parts.items():
        out.append(f"| {label} | {us:.1f} | {us / total_step:.0%} |")
    out += [
        f"| **total** | **{total_step:.1f}** | 100% |",
        "",
        "Top functions by own time (cProfile, same run; profiling inflates call-heavy code, "
        "so read the ranking, not the absolute times):",
        "",
        "| function | calls | own ms | share |",
        "|---|---:|---:|---:|",
    ]
    for where, calls, ms, share in profile:
        out.append(f"| `{where}` | {calls:,} | {ms:.0f} | {share:.0%} |")
    out.append(end)
    section = "\n".join(out) + "\n"
    summary = [
        f"ratio env/raw time-per-part = {statistics.median(all_arr):.2f}x",
        f"ratio pettingzoo/raw time-per-part = {statistics.median(all_dict):.2f}x",
    ]
    publish(section, NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
