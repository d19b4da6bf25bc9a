"""Benchmark code-level training speed: this checkout against a base commit, same config.

Why: issue 13 asks for more env steps per CPU-second from the code itself (acting-rows-only
forwards, fewer tensor ops per minibatch, LoRASA's base phase without its zero adapters),
measured against the commit before the change. The base commit's `factory_twin` is exported
with `git archive` into a temporary folder; each run is a fresh subprocess (one torch thread)
importing one version or the other, so both pay their own start-up, and the runs alternate
(ABAB...) so that load on the shared machine hits both alike.

Each run trains `--steps` env steps with this checkout's `TrainConfig` defaults of the settings
that decide the work per step, pinned on both sides, and reports the CPU
seconds of `train()` (collect + update), of `import torch`, and of building the trainer (which
imports `torch._dynamo` through the optimiser).

    python benchmarks/bench_train_code.py --base 9e47d74            # print results
    python benchmarks/bench_train_code.py --base 9e47d74 --write    # ... and update RESULTS.md
    python benchmarks/bench_train_code.py --quick                   # tiny smoke run

With `--own-defaults` each version trains under its own defaults instead, so `--base 5e4280d`
(round 1's last commit, where issue 13 started) measures item 1's "today's env steps per
CPU-second" whole, code and configuration together, in its own RESULTS.md section:

    python benchmarks/bench_train_code.py --base 5e4280d --own-defaults --scenarios all --write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from common import (
    QUICK_TRAIN,
    RESULTS,
    ROOT,
    SCENARIOS,
    interleaved,
    machine_lines,
    markers,
    publish,
    ratio_summary,
)
from factory_twin.train.config import TrainConfig

NAME = "bench_train_code"
TARGET = 2.0  # issue 13, item 1: env steps per CPU-second, with the lead's config choices

WORKER = r"""
import json, sys, time
t0 = time.process_time()
import torch
t1 = time.process_time()
from factory_twin.scenario import load_scenario
try:
    from factory_twin.train.config import TrainConfig
except ImportError:  # round 1 (5e4280d) kept it beside the trainer
    from factory_twin.train.mappo import TrainConfig
from factory_twin.train.mappo import MAPPO
path, method, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = json.loads(sys.argv[4])  # pinned settings ({} with --own-defaults) and --quick's sizes
t2 = time.process_time()
trainer = MAPPO(load_scenario(path), TrainConfig(method=method, total_steps=steps, seed=0, **kw))
t3 = time.process_time()
trainer.train()
t4 = time.process_time()
print(json.dumps({"import_torch": t1 - t0, "build": t3 - t2, "train": t4 - t3,
                  "steps": trainer.steps}))
"""


def export(commit: str, into: Path) -> Path:
    """The commit's `factory_twin` package under `into` (for PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "archive", commit, "factory_twin"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    path = into / "archive.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    return into


def shared_config() -> dict:
    """This checkout's defaults of the settings that decide the work per step, pinned for both
    versions (a base commit may have other defaults: that is item 1's lever, not code)."""
    cfg = TrainConfig()
    keys = ("n_envs", "rollout_len", "hidden", "update_epochs", "minibatches", "switch_fraction")
    return {k: getattr(cfg, k) for k in keys}


def run_case(
    pythonpath: Path, scenario: Path, method: str, steps: int, quick: bool, pinned: dict
) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    kw = {**pinned, **QUICK_TRAIN} if quick else pinned
    args = [str(scenario), method, str(steps), json.dumps(kw)]
    out = subprocess.run(
        [sys.executable, "-c", WORKER, *args],
        env=env, capture_output=True, text=True, check=True, cwd=pythonpath,
    ).stdout  # fmt: skip
    sample = json.loads(out.strip().splitlines()[-1])
    sample["seconds"] = sample["train"]
    return sample


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="HEAD", help="commit to compare with (default HEAD)")
    p.add_argument(
        "--scenarios",
        nargs="+",
        default=["engine"],
        help="shipped lines, or 'all' (default engine)",
    )
    p.add_argument("--methods", nargs="+", default=["ps", "lorasa"])
    p.add_argument("--steps", type=int, default=None, help="env steps per run")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument(
        "--own-defaults",
        action="store_true",
        help="each version trains under its own TrainConfig defaults (code and config: with "
        "--base 5e4280d, round 1's last commit, this is item 1's 'today')",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = args.steps or (256 if args.quick else 16_384)
    if args.quick:
        args.methods = args.methods[:1]
    rounds = args.rounds or (1 if args.quick else 3)
    lines = (
        sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
        if args.scenarios == ["all"]
        else args.scenarios
    )
    pinned = {} if args.own_defaults else shared_config()
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.base, Path(tmp))
        versions = {"base": base, "head": ROOT}
        cases = {
            (line, m, v): (
                lambda _r, p=p, m=m, sc=SCENARIOS / f"{line}.yaml": run_case(
                    p, sc, m, steps, args.quick, pinned
                )
            )
            for line in lines
            for m in args.methods
            for v, p in versions.items()
        }
        samples = interleaved(cases, rounds)
    rows, summary, medians, lows, highs = [], [], {}, [], {}
    for line, m in ((line, m) for line in lines for m in args.methods):
        base_s, head_s = samples[(line, m, "base")], samples[(line, m, "head")]
        ratios = [
            (h["steps"] / h["train"]) / (b["steps"] / b["train"])
            for b, h in zip(base_s, head_s, strict=True)
        ]
        ratio = statistics.median(ratios)
        medians[(line, m)] = ratio
        lows.append(min(ratios))
        highs[(line, m)] = max(ratios)
        rate = {v: statistics.median(s["steps"] / s["train"] for s in samples[(line, m, v)])
                for v in versions}  # fmt: skip
        build = {v: statistics.median(s["build"] for s in samples[(line, m, v)]) for v in versions}
        rows.append(
            f"| {line} | {m} | {rate['base']:,.0f} | {rate['head']:,.0f} | {ratio_summary(ratios)} "
            f"| {build['base']:.2f} / {build['head']:.2f} |"
        )
        summary.append(f"ratio {line} {m} head/base steps-per-cpu-s = {ratio:.2f}x")
    profile = None
    if args.own_defaults and min(medians.values()) < TARGET:
        line, m = min(medians, key=medians.get)
        profile = where_time_goes(SCENARIOS / f"{line}.yaml", m, steps, args.quick)
    for m in args.methods:  # the method's slowest line
        worst = min(medians[(line, m)] for line in lines)
        summary.append(f"ratio {m} head/base steps-per-cpu-s = {worst:.2f}x")
    imports = statistics.median(s["import_torch"] for ss in samples.values() for s in ss)
    name = f"{NAME}_today" if args.own_defaults else NAME
    shown = ", ".join(f"`{line}`" for line in lines)
    start, end = markers(name)
    settings = (
        "each version with its own `TrainConfig` defaults (code and configuration)"
        if args.own_defaults
        else f"both versions with this checkout's `TrainConfig` defaults {pinned}"
    )
    closing = (
        f"Target: head/base >= {TARGET:g}x for every method on {shown} (item 1, "
        f"against base {args.base}'s code at its own defaults): "
        f"{'met' if min(medians.values()) >= TARGET else 'MISSED'} (lowest median "
        f"{min(medians.values()):.2f}x, lowest round {min(lows):.2f}x)"
        if args.own_defaults
        else "Code-level only: the network width, epochs, minibatches and LoRASA's switch "
        "point (item 1's other levers, see bench_training) are pinned to the same values on "
        "both sides."
    )
    section = "\n".join([
        start,
        f"## {name}: training env steps per CPU-second, this code vs a base commit"
        + (" at its own defaults" if args.own_defaults else ""),
        "",
        *machine_lines(f"; base commit {args.base}"),
        f"- {'Lines' if len(lines) > 1 else 'Line'} {shown}, {steps:,} env steps per run, "
        f"{settings}, one torch thread, "
        f"{rounds} interleaved rounds (base, head, base, ...), each run a fresh process; "
        "CPU seconds of `train()` (collect + update).",
        "",
        "| line | method | base steps / CPU-s | head steps / CPU-s | head / base | "
        "trainer build CPU-s base / head |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"`import torch` costs {imports:.2f} CPU-s per process (median). Building the trainer "
        "includes `torch._dynamo` (about 1.5 CPU-s), which `torch.optim.Optimizer` imports on "
        "its first `add_param_group` whatever `foreach`/`fused` say (those methods carry "
        "`torch._disable_dynamo`, which imports the compiler stack lazily but unconditionally).",
        "",
        closing,
        *(["", missed_note(medians, highs, profile)] if profile else []),
        end,
    ]) + "\n"  # fmt: skip
    publish(section, name, summary, args.write)
    return 0


def where_time_goes(scenario: Path, method: str, steps: int, quick: bool) -> dict:
    """Shares of this checkout's `train()` spent collecting (and in the environment's
    `step_arrays` within it) and updating, from cProfile of one run in this process. cProfile's
    per-call cost weighs on Python-level code (the environment) more than on torch's kernels,
    so the environment's share is an upper estimate."""
    import cProfile
    import pstats

    import torch

    from factory_twin.scenario import load_scenario
    from factory_twin.train.mappo import MAPPO

    torch.set_num_threads(1)
    kw = QUICK_TRAIN if quick else {}
    cfg = TrainConfig(method=method, total_steps=steps, seed=0, **kw)
    trainer = MAPPO(load_scenario(scenario), cfg)
    prof = cProfile.Profile()
    prof.runcall(trainer.train)
    cum = {(Path(f).name, fn): ct for (f, _, fn), (*_, ct, _) in pstats.Stats(prof).stats.items()}
    total = cum[("mappo.py", "train")]
    collect, env, update = (
        cum[key] / total
        for key in (("mappo.py", "collect"), ("env.py", "step_arrays"), ("mappo.py", "update"))
    )
    where = f"cProfile of one run, {scenario.stem} {method}, {steps:,} env steps"
    return {"collect": collect, "env": env, "update": update, "where": where}


def missed_note(medians: dict, highs: dict, profile: dict) -> str:
    """What stops the 2x where a (line, method) pair's median falls short: how far short,
    whether its own rounds reach 2x (then the miss is within round-to-round noise), and which
    part of training (`where_time_goes`) a further gain would have to come from."""
    short = {pair: r for pair, r in medians.items() if r < TARGET}
    pairs = "; ".join(
        f"{line} {m} {r:.2f}x (rounds up to {highs[(line, m)]:.2f}x)"
        for (line, m), r in short.items()
    )
    shares = (
        f"collection {profile['collect']:.0%} of `train()` (the environment's `step_arrays` "
        f"alone {profile['env']:.0%}), update {profile['update']:.0%} ({profile['where']})"
    )
    reading = (
        "the environment is now the largest part, so a further gain on every line would take "
        "environment and simulator work (fewer Python calls per event and per observation "
        "write) more than learner changes"
        if profile["env"] > profile["update"]
        else "the PPO update is still the larger part, so a further gain would come first from "
        "the learner (fewer or cheaper minibatch steps)"
    )
    return (
        f"What stops it: {len(medians) - len(short)} of {len(medians)} pairs are at or above "
        f"{TARGET:g}x; short: {pairs}. Where this code's training time goes: {shares}: {reading}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
