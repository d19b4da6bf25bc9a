"""A new station without retraining: adapting it on the stored base vs training from scratch.

Trains LoRASA on the bottling line, adds a second labeler after the first (the planner's
change), adapts only the new station's adapter and the pooled critic on the stored base
(`factory_twin.train.extend`; the base sees station ids, so the new labeler wears the first
one's), and trains every method from scratch on the longer line. Both
are measured by greedy throughput on held-out evaluation seeds along the way (training time
only; evaluation time is left out of the wall times). Reported per method: the env steps and
training seconds adaptation needs to come within 1% of that method's final throughput from
scratch, against what the scratch run itself needed to come within 1% of its own final value.
The base's own training is a cost already paid (the line was trained before the change) and
is reported apart.

    python benchmarks/bench_new_station.py --write            # full: default budgets
    python benchmarks/bench_new_station.py --quick            # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from common import QUICK_TRAIN, SCENARIOS, machine_lines, markers, publish
from factory_twin.comparison import eval_seeds
from factory_twin.policy.registry import METHODS, label
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.stats import mean_ci
from factory_twin.store.policies import PolicyStore
from factory_twin.store.runlog import open_db
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.extend import start_trainer, train_only, twin_of
from factory_twin.train.mappo import MAPPO
from factory_twin.train.pipeline import read_lorasa, train_method

NAME = "bench_new_station"
NEW = "labeler-2"
WITHIN = 0.99  # "within 1%" of the from-scratch throughput


@dataclass
class Curve:
    """Greedy throughput (parts/h) against env steps and training seconds (evaluation
    excluded), measured at step 0 and then every `every` steps."""

    points: list[tuple[int, float, float]] = field(default_factory=list)

    def reach(self, target: float) -> tuple[int, float] | None:
        """(steps, seconds) of the first point at or above `target`, None if never."""
        return next(((s, t) for s, t, v in self.points if v >= target), None)

    @property
    def final(self) -> float:
        return self.points[-1][2]


def extended(sc: Scenario) -> Scenario:
    """The line with a second labeler (a copy of the first) right after the first."""
    stations = []
    for st in sc.stations:
        stations.append(st)
        if st.name == "labeler":
            stations.append(st.model_copy(update={"name": NEW}))
    return sc.model_copy(update={"name": f"{sc.name}-2-labelers", "stations": stations})


def shortened(sc: Scenario, quick: bool) -> Scenario:
    if not quick:
        return sc
    return sc.model_copy(update={"horizon": sc.horizon.model_copy(update={"length": 60.0})})


def measured(trainer: MAPPO, sc: Scenario, seeds: list[int], every: int) -> Curve:
    """Train to the budget, evaluating greedily every `every` steps (clock paused)."""
    curve = Curve()
    spent, next_eval = 0.0, every

    def point() -> None:
        th = [k.throughput * 60.0 for k in evaluate_actor(sc, trainer.actor, seeds)]
        curve.points.append((trainer.steps, spent, sum(th) / len(th)))

    point()
    clock = time.perf_counter()

    def on_progress(p) -> None:
        nonlocal spent, next_eval, clock
        spent += time.perf_counter() - clock
        if p.steps >= next_eval or p.steps >= trainer.cfg.total_steps:
            point()
            next_eval += every
        clock = time.perf_counter()

    trainer.train(on_progress)
    return curve


def one_seed(args, seed: int) -> dict:
    """Base on the line, adaptation on the longer line, every method from scratch there."""
    line = shortened(load_scenario(SCENARIOS / "bottling.yaml"), args.quick)
    longer = extended(line)
    seeds = eval_seeds(args.eval_seeds)
    small = QUICK_TRAIN if args.quick else {}
    with tempfile.TemporaryDirectory() as tmp:
        db, store = open_db(f"sqlite:///{tmp}/log.sqlite"), PolicyStore(Path(tmp) / "store")
        sid = db.ensure_scenario(line.name, line.content_hash(), "yaml")
        cfg = TrainConfig(method="lorasa", total_steps=args.steps, seed=seed, **small)
        t0 = time.perf_counter()
        train_method(line, sid, cfg, db, store)
        base_seconds = time.perf_counter() - t0
        before = read_lorasa(store, line.name)
    twin = twin_of(longer, NEW, before, None)  # the first labeler, where the base sees ids
    trainer = start_trainer(longer, before, line.name, NEW, args.adapt_steps, seed, twin)
    train_only(trainer, [NEW])
    adapt = measured(trainer, longer, seeds, args.adapt_steps // args.points)
    scratch = {}
    for method in METHODS:
        cfg = TrainConfig(method=method, total_steps=args.steps, seed=seed, **small)
        scratch[method] = measured(MAPPO(longer, cfg), longer, seeds, args.steps // args.points)
    return {"base_seconds": base_seconds, "adapt": adapt, "scratch": scratch}


def _reach_text(found: tuple[int, float] | None) -> str:
    return "not reached" if found is None else f"{found[0]:,} steps, {found[1]:.1f} s"


def render(args, runs: list[dict]) -> tuple[str, list[str]]:
    start, end = markers(NAME)
    out = [
        start,
        "## New station without retraining the base (bottling + a second labeler)",
        "",
        *machine_lines(),
        "",
        f"Base: LoRASA on bottling ({TrainConfig.lorasa_base} base), {args.steps:,} env steps "
        f"(already paid before the change: {fmean([r['base_seconds'] for r in runs]):.0f} s). "
        f"Adaptation: only `{NEW}`'s adapter (from zero; where the base sees the station id, "
        f"`{NEW}` takes the first labeler's) and a pooled critic, {args.adapt_steps:,} steps. "
        f"From scratch on "
        f"the longer line: {args.steps:,} steps per method. {len(runs)} training seed(s), "
        f"{args.eval_seeds} held-out evaluation seeds, greedy throughput every "
        f"1/{args.points} of a budget; seconds are training time only. A run 'reaches' a "
        f"target at its first point at or above {WITHIN:.0%} of it.",
        "",
        "| from scratch | final [parts/h] | scratch to 99% of its final | adaptation to 99% of it "
        "| adapt/scratch steps | adapt/scratch seconds |",
        "|---|---|---|---|---|---|",
    ]
    summary = []
    adapt_final = fmean([r["adapt"].final for r in runs])
    for method in METHODS:
        finals = [r["scratch"][method].final for r in runs]
        own = [r["scratch"][method].reach(WITHIN * r["scratch"][method].final) for r in runs]
        ours = [r["adapt"].reach(WITHIN * r["scratch"][method].final) for r in runs]
        steps, seconds = _ratio(own, ours, 0), _ratio(own, ours, 1)
        out.append(
            f"| {label(method)} | {mean_ci(finals)} | {_reach_text(_mean_reach(own))} | "
            f"{_reach_text(_mean_reach(ours))} | {steps} | {seconds} |"
        )
        summary.append(f"ratio adapt/scratch env-steps to 99% of {method} = {steps}")
        summary.append(f"ratio adapt/scratch seconds to 99% of {method} = {seconds}")
    out += [
        "",
        f"Adapted longer line: {adapt_final:.1f} parts/h at the end of adaptation; "
        f"{runs[0]['adapt'].points[0][2]:.1f} parts/h with `{NEW}` on the shared base (step 0, "
        "first seed).",
        end,
        "",
    ]
    return "\n".join(out), summary


def _mean_reach(found: list[tuple[int, float] | None]) -> tuple[int, float] | None:
    """Mean steps and seconds over seeds; None unless every seed reached the target."""
    if any(f is None for f in found):
        return None
    return round(fmean([f[0] for f in found])), fmean([f[1] for f in found])


def _ratio(own: list, ours: list, what: int) -> str:
    """Adaptation's mean steps (`what` 0) or seconds (1) over the scratch run's, as 'N.NNx';
    'n/a' when either never reached its target or the scratch run needed nothing."""
    a, b = _mean_reach(ours), _mean_reach(own)
    if a is None or b is None or b[what] == 0:
        return "n/a"
    return f"{a[what] / b[what]:.2f}x"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=TrainConfig.total_steps)
    p.add_argument("--adapt-steps", type=int, default=TrainConfig.total_steps // 4)
    p.add_argument("--seeds", type=int, default=3, help="training seeds")
    p.add_argument("--eval-seeds", type=int, default=5)
    p.add_argument("--points", type=int, default=10, help="evaluations per budget")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.adapt_steps, args.seeds, args.eval_seeds, args.points = 512, 256, 1, 2, 4
    runs = []
    for seed in range(args.seeds):
        runs.append(one_seed(args, seed))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    section, summary = render(args, runs)
    publish(section, NAME, summary, args.write and not args.quick)


if __name__ == "__main__":
    main()
