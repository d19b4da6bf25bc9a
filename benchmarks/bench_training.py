"""Training throughput: env steps per CPU-second, today's default configuration against the new.

Why: the comparison trains every method on several training seeds, so what a planner waits
for is training. This measures it directly: for PS and LoRASA on every shipped line, a short
training run under each configuration (collect + PPO update, LoRASA switching to its adapters
half-way so both phases count), timed in CPU seconds of this process (`time.process_time`, so
another program's load on the machine does not count), interleaved round by round. Whether
the new configuration learns as well, over 5 training seeds, is `training.py config`'s; this
script only times.

    python benchmarks/bench_training.py            # every shipped line (a few minutes)
    python benchmarks/bench_training.py --write    # ... and update RESULTS.md
    python benchmarks/bench_training.py --quick    # one line, tiny runs (smoke)
"""

from __future__ import annotations

import argparse
import statistics

import torch

from common import (
    ROUND1_CONFIG,
    interleaved,
    machine_lines,
    markers,
    publish,
    ratio_summary,
    shipped_scenarios,
    training_cpu_rate,
)
from factory_twin.train.config import TrainConfig

NAME = "bench_training"
METHODS = ("ps", "lorasa")


def configs() -> dict[str, dict]:
    new = TrainConfig()
    fields = {
        "hidden": new.hidden,
        "update_epochs": new.update_epochs,
        "minibatches": new.minibatches,
    }
    return {"today": ROUND1_CONFIG, "new": fields}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=8, help="PPO updates per timed run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    lines = shipped_scenarios()
    if args.quick:
        lines = {"smt": lines["smt"]}
        args.updates, args.rounds = 2, 1
    cases = {
        (line, method, name): (
            lambda r, sc=sc, m=method, ov=ov: training_cpu_rate(
                sc, TrainConfig(method=m, seed=r, **ov), args.updates
            )
        )
        for line, sc in lines.items()
        for method in METHODS
        for name, ov in configs().items()
    }
    samples = interleaved(cases, args.rounds)
    start, end = markers(NAME)
    out = [
        start,
        "## bench_training: training env steps per CPU-second, today's configuration vs the new",
        "",
        *machine_lines(),
        "",
        f"Today: {ROUND1_CONFIG}; new: {configs()['new']} (TrainConfig defaults). Each run is "
        f"{args.updates} PPO updates of {TrainConfig.n_envs} envs x {TrainConfig.rollout_len} "
        "steps (LoRASA: half in each phase), CPU seconds of one process with one torch "
        f"thread; median over {args.rounds} interleaved rounds.",
        "",
        "| line | method | today [steps/CPU-s] | new [steps/CPU-s] | new/today |",
        "|---|---|---|---|---|",
    ]
    ratios, medians = [], []
    for line in lines:
        for method in METHODS:
            today = [s["steps_per_cpu_s"] for s in samples[(line, method, "today")]]
            new = [s["steps_per_cpu_s"] for s in samples[(line, method, "new")]]
            per_round = [n / t for n, t in zip(new, today, strict=True)]
            ratios += per_round
            medians.append(statistics.median(per_round))
            out.append(f"| {line} | {method} | {statistics.median(today):,.0f} | "
                       f"{statistics.median(new):,.0f} | {ratio_summary(per_round)} |")  # fmt: skip
    out += [
        "",
        f"The configuration's part of item 1 at this code: new/today {min(medians):.2f}x to "
        f"{max(medians):.2f}x (medians; lowest round {min(ratios):.2f}x). No target of its own: "
        "item 1's 2x is against round 1's code and configuration together "
        "(`bench_train_code_today`), and whether the new configuration learns as well is "
        "`training_config`'s.",
        "",
        end,
    ]
    summary = [f"ratio training new/today steps-per-cpu-s = {statistics.median(ratios):.2f}x"]
    publish("\n".join(out) + "\n", NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
