"""Training cost per method as lines get longer: env steps per CPU-second of PS, PS+ID, NPS
and LoRASA on a 6-station line, the shipped 22-station packaging line and a synthetic
32-station line.

Why: separate networks (NPS) run one network per station in every forward and backward pass,
so their cost grows with the stations while a shared network's does not; a planner choosing
a method for a long line needs that factor. Each timed run is a short training run at the
default configuration (LoRASA switching half-way, so both phases count), in CPU seconds of
this process, interleaved round by round.

    python benchmarks/bench_method_cost.py            # a few minutes
    python benchmarks/bench_method_cost.py --write    # ... and update RESULTS.md
    python benchmarks/bench_method_cost.py --quick    # tiny runs (smoke)
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

import torch

from common import (
    QUICK_TRAIN,
    SCENARIOS,
    interleaved,
    machine_lines,
    markers,
    publish,
    ratio_summary,
    training_cpu_rate,
)
from factory_twin.policy.registry import METHODS
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.scenario.synthetic import serial_line
from factory_twin.train.config import TrainConfig

NAME = "bench_method_cost"


def lines(quick: bool) -> dict[str, Scenario]:
    if quick:
        return {"bottling (6)": load_scenario(SCENARIOS / "bottling.yaml")}
    return {
        "bottling (6)": load_scenario(SCENARIOS / "bottling.yaml"),
        "packaging (22)": load_scenario(SCENARIOS / "packaging.yaml"),
        "synthetic (32)": serial_line(32, 4800.0),
    }


def config(method: str, seed: int, quick: bool) -> TrainConfig:
    base = TrainConfig(method=method, seed=seed)
    return replace(base, **QUICK_TRAIN) if quick else base


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=6, help="PPO updates per timed run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.updates, args.rounds = 2, 1
    scenarios = lines(args.quick)
    cases = {
        (line, method): (
            lambda r, sc=sc, m=method: training_cpu_rate(sc, config(m, r, args.quick), args.updates)
        )
        for line, sc in scenarios.items()
        for method in METHODS
    }
    samples = interleaved(cases, args.rounds)
    start, end = markers(NAME)
    out = [
        start,
        "## bench_method_cost: training env steps per CPU-second by method and line length",
        "",
        *machine_lines(),
        "",
        f"Each timed run is {args.updates} PPO updates of {TrainConfig.n_envs} envs x "
        f"{TrainConfig.rollout_len} steps at the default configuration (LoRASA: half in each "
        "phase), CPU seconds of one process with one torch thread; median over "
        f"{args.rounds} interleaved rounds. x PS: the method's CPU time per step over PS's, "
        "per round.",
        "",
        "| line (stations) | " + " | ".join(f"{m} [steps/CPU-s]" for m in METHODS)
        + " | " + " | ".join(f"{m} x PS" for m in METHODS if m != "ps") + " |",
        "|---|" + "---|" * (2 * len(METHODS) - 1),
    ]  # fmt: skip
    nps_factor = {}
    for line in scenarios:
        rate = {m: [s["steps_per_cpu_s"] for s in samples[(line, m)]] for m in METHODS}
        cost = {m: [ps / x for ps, x in zip(rate["ps"], rate[m], strict=True)] for m in METHODS}
        nps_factor[line] = statistics.median(cost["nps"])
        out.append(
            f"| {line} | " + " | ".join(f"{statistics.median(rate[m]):,.0f}" for m in METHODS)
            + " | " + " | ".join(ratio_summary(cost[m]) for m in METHODS if m != "ps") + " |"
        )  # fmt: skip
    first, last = next(iter(nps_factor)), list(nps_factor)[-1]
    out += [
        "",
        f"NPS costs {nps_factor[first]:.2f}x PS per step on {first} and "
        f"{nps_factor[last]:.2f}x on {last}.",
        "",
        end,
    ]
    summary = [f"ratio nps/ps cpu-per-step longest = {nps_factor[last]:.2f}x"]
    publish("\n".join(out) + "\n", NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
