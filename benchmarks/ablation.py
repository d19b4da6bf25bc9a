"""LoRASA ablations on one scenario: adapter rank, which layers carry adapters, and when to
switch from shared training to adapters (the paper's three findings).

Each variant is trained with several training seeds under the same step budget and evaluated
greedily on held-out line seeds; the table gives mean throughput over training seeds with a
95% confidence interval, next to plain parameter sharing (PS) trained with the same budget.

    python benchmarks/ablation.py scenarios/bottling.yaml --steps 150000 --seeds 3 --write
    python benchmarks/ablation.py scenarios/bottling.yaml --quick     # smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory_twin.scenario import load_scenario  # noqa: E402
from factory_twin.stats import mean_ci  # noqa: E402
from factory_twin.train.evaluate import eval_seeds, evaluate_actor  # noqa: E402
from factory_twin.train.mappo import MAPPO, TrainConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- ablation:start -->", "<!-- ablation:end -->"

# (label, finding it probes, TrainConfig overrides)
VARIANTS = [
    ("PS (no adapters)", "baseline", {"method": "ps"}),
    ("rank 1", "rank", {"rank": 1}),
    ("rank 4", "rank", {"rank": 4}),
    ("rank 8 (default)", "rank / layers / switch", {"rank": 8}),
    ("rank 16", "rank", {"rank": 16}),
    ("rank 8, deeper layer only", "layers", {"adapter_layers": "deeper"}),
    ("rank 8, switch at 10%", "switch point", {"switch_fraction": 0.1}),
    ("rank 8, switch at 80%", "switch point", {"switch_fraction": 0.8}),
]


def run_variant(sc, overrides: dict, steps: int, seed: int, n_eval: int, quick: bool) -> float:
    cfg = TrainConfig(**{"method": "lorasa", "total_steps": steps, "seed": seed, **overrides})
    if quick:
        cfg.n_envs, cfg.rollout_len, cfg.hidden = 2, 32, (32, 32)
    trainer = MAPPO(sc, cfg)
    trainer.train()
    kpis = evaluate_actor(sc, trainer.actor, eval_seeds(n_eval))
    return sum(k.throughput for k in kpis) / len(kpis) * 60.0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", type=Path)
    p.add_argument("--steps", type=int, default=150_000)
    p.add_argument("--seeds", type=int, default=3, help="training seeds per variant")
    p.add_argument("--eval-seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.eval_seeds = 256, 2, 2
    sc = load_scenario(args.scenario)
    if args.quick:
        sc = sc.model_copy(update={"horizon": sc.horizon.model_copy(update={"length": 60.0})})
    rows = []
    for label, finding, overrides in VARIANTS:
        t0 = time.perf_counter()
        values = [
            run_variant(sc, overrides, args.steps, s, args.eval_seeds, args.quick)
            for s in range(args.seeds)
        ]
        est = mean_ci(values)
        rows.append((label, finding, est, time.perf_counter() - t0))
        print(f"{label:28s} {est} parts/h  ({rows[-1][3]:.0f} s)", flush=True)
    section = render(args, sc.name, rows)
    print(section)
    if args.write:
        write_section(section)


def render(args, name: str, rows) -> str:
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = [
        START,
        f"## LoRASA ablations on `{name}`",
        "",
        f"{dt.date.today()}, {platform.platform()}, command: `{cmd}`",
        "",
        f"Budget {args.steps:,} env steps per run, {args.seeds} training seeds per variant, "
        f"{args.eval_seeds} held-out evaluation seeds; throughput in good parts/h, "
        "mean ± 95% CI over training seeds.",
        "",
        "| variant | probes | throughput [parts/h] | wall time [s] |",
        "|---|---|---|---|",
    ]
    for label, finding, est, secs in rows:
        lines.append(f"| {label} | {finding} | {est} | {secs:.0f} |")
    lines.append(END)
    return "\n".join(lines)


def write_section(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
