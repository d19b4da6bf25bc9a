"""LoRASA ablations over several training seeds (adapter rank, adapter layers, switch point,
the shared policy the adapters start from) on one line, and round 1's training configuration
against today's defaults (does the faster configuration learn as well, and where it does not,
which of its changes costs it, and what wins it back?); the four methods on every line are
`methods_table.py`'s job.

Each (variant, training seed) is trained under the same step budget (a variant may ask for a
multiple of it) and evaluated greedily on held-out line seeds; tables give mean throughput over
training seeds with a 95% confidence interval (Student t). Runs are jobs for
factory_twin.execute: `--jobs` local worker processes (one torch thread each) or Ray tasks
(`--ray ADDRESS`).

    python benchmarks/training.py ablation scenarios/engine.yaml --seeds 2 --jobs 2 --write
    python benchmarks/training.py ablation scenarios/bottling.yaml --quick      # smoke run
    python benchmarks/training.py config scenarios/*.yaml --seeds 5 --jobs 2 --write
    python benchmarks/training.py levers scenarios/engine.yaml --seeds 5 --jobs 2 --write
    python benchmarks/training.py minibatches scenarios/smt.yaml --seeds 5 --jobs 2 --write
    python benchmarks/training.py candidate scenarios/glass_line.yaml --seeds 5 --jobs 2 --write
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import platform
import shlex
import sys
import time
from pathlib import Path
from statistics import fmean

from common import QUICK_TRAIN, ROUND1_CONFIG, cpu_name, markers, write_section
from factory_twin.comparison import eval_seeds
from factory_twin.execute import Job, make_executor
from factory_twin.policy.networks import Actor
from factory_twin.policy.registry import HEURISTICS
from factory_twin.policy.truncation import padded, truncated
from factory_twin.scenario import load_scenario
from factory_twin.stats import Estimate, mean_ci
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor, evaluate_heuristic
from factory_twin.train.mappo import MAPPO

ABLATION = [
    ("PS (no adapters)", "baseline", {"method": "ps"}),
    ("PS+ID (no adapters)", "baseline", {"method": "ps-id"}),
    ("rank 1", "rank", {"rank": 1}),
    ("rank 4", "rank", {"rank": 4}),
    ("rank 8, switch at 50% (default)", "rank, layers, switch, base", {}),
    ("rank 8, switch at 10%", "switch point", {"switch_fraction": 0.1}),
    ("rank 16", "rank", {"rank": 16}),
    ("rank 8, deeper layer only", "layers", {"adapter_layers": "deeper"}),
    ("rank 8, switch at 80%", "switch point", {"switch_fraction": 0.8}),
    (
        "rank 8, switch at 10%, base sees the station id",
        "base",
        {"switch_fraction": 0.1, "lorasa_base": "ps-id"},
    ),
    ("rank 8, base sees the station id", "base", {"lorasa_base": "ps-id"}),
    ("rank 8, switch on the plateau (at most 50%)", "switch point", {"lorasa_switch": "plateau"}),
    (
        "rank 8, adapter entropy 0.03 (as the base)",
        "exploration",
        {"adapter_ent_coef": TrainConfig.ent_coef, "adapter_ent_anneal": False},
    ),
    (
        "rank 8, adapter entropy 0.1, constant",
        "exploration",
        {"adapter_ent_anneal": False},
    ),
]

# issue 13 item 1: the defaults must learn what round 1's slower configuration learns
CONFIG = [
    ("PS, round 1's configuration", "config", {"method": "ps", **ROUND1_CONFIG}),
    ("PS (defaults)", "config", {"method": "ps"}),
    ("LoRASA, round 1's configuration", "config", dict(ROUND1_CONFIG)),
    ("LoRASA (defaults)", "config", {}),
]
CONFIG_STOPS = (
    "What stops it: much of the defaults' speed is their narrower network (128 against 256 "
    "wide) and fewer epochs (3 against 4), and on the lines named they learn less from the same "
    "step budget. What wins it back, and at what cost in seconds per run: the `levers` "
    "experiment (`training_levers`) undoes each change on its own and gives the defaults twice "
    "the steps; the `minibatches` experiment (`training_minibatches`) keeps the narrow network "
    "and splits each update into more, smaller minibatches, and `candidate` "
    "(`training_candidate`) runs its best trade, 8 minibatches, on the other lines. Each lever "
    "is paired with both configurations in one run."
)
STEP_FACTOR = "step_factor"  # a variant's multiple of the step budget (not a TrainConfig field)
# where the defaults learn less than round 1's configuration: which change costs it, and
# whether round 1's CPU time (the defaults run about twice as many steps in it) wins it back;
# the config rows are the yardsticks, rerun here so each lever is paired with them in one run
LEVERS = [
    *CONFIG[:2],
    ("PS, round 1's width, the defaults' epochs", "width", {"method": "ps", "hidden": (256, 256)}),
    ("PS, the defaults' width, round 1's epochs", "epochs", {"method": "ps", "update_epochs": 4}),
    ("PS (defaults), twice the steps", "budget", {"method": "ps", STEP_FACTOR: 2}),
    *CONFIG[2:],
    ("LoRASA, round 1's width, the defaults' epochs", "width", {"hidden": (256, 256)}),
    ("LoRASA (defaults), twice the steps", "budget", {STEP_FACTOR: 2}),
]
# the other named lever: more, smaller PPO minibatches give the narrow network more
# gradient steps from the same rows at almost the same update cost (the GEMMs shrink with them);
# with 2 epochs, 8 minibatches still take more gradient steps (16) than the defaults (12) in
# fewer passes over the rows
PS_8_MINIBATCHES = (
    "PS, the defaults with 8 minibatches",
    "minibatches",
    {"method": "ps", "minibatches": 8},
)
LORASA_8_MINIBATCHES = (
    "LoRASA, the defaults with 8 minibatches",
    "minibatches",
    {"minibatches": 8},
)
MINIBATCHES = [
    *CONFIG[:2],
    PS_8_MINIBATCHES,
    ("PS, 8 minibatches, round 1's epochs", "minibatches",
     {"method": "ps", "minibatches": 8, "update_epochs": 4}),
    ("PS, 8 minibatches, 2 epochs", "minibatches",
     {"method": "ps", "minibatches": 8, "update_epochs": 2}),
    ("PS, the defaults with 16 minibatches", "minibatches", {"method": "ps", "minibatches": 16}),
    *CONFIG[2:],
    LORASA_8_MINIBATCHES,
    ("LoRASA, 8 minibatches, 2 epochs", "minibatches", {"minibatches": 8, "update_epochs": 2}),
]  # fmt: skip
# the minibatches experiment's best trade (learning back at about the defaults' cost) before it
# can become the default: its two rows and their yardsticks alone, on the other shipped lines
CANDIDATE = [*CONFIG[:2], PS_8_MINIBATCHES, *CONFIG[2:], LORASA_8_MINIBATCHES]
EXPERIMENTS = {
    "ablation": ("LoRASA ablations", ABLATION),
    "config": ("Round 1's training configuration against the defaults", CONFIG),
    "levers": ("Which of the defaults' changes costs learning", LEVERS),
    "minibatches": ("Smaller minibatches at the defaults' width", MINIBATCHES),
    "candidate": ("The defaults with 8 minibatches, the next default to weigh", CANDIDATE),
}
# the experiments whose rows are levers, each judged against the config rows it runs beside
LEVER_EXPERIMENTS = ("levers", "minibatches", "candidate")


def without_adapters(actor: Actor) -> Actor:
    """The frozen base alone (every adapter cut to rank 0): what the adapter phase started
    from, so a run shows whether its adapters gained or lost."""
    plain, rank = copy.deepcopy(actor), actor.config.rank
    for i in range(actor.config.n_agents):
        plain.load_adapter(i, padded(truncated(actor.export_adapter(i), 0), rank))
    return plain


def run_one(path: str, overrides: dict, steps: int, seed: int, n_eval: int, quick: bool):
    """Train one variant with one seed; returns (throughput parts/h per eval seed, scrap %,
    seconds, the step LoRASA switched to its adapters at or None, the base alone's throughput
    per eval seed or None)."""
    sc = load_scenario(path)
    if quick:
        sc = sc.model_copy(update={"horizon": sc.horizon.model_copy(update={"length": 60.0})})
    overrides = dict(overrides)
    steps *= overrides.pop(STEP_FACTOR, 1)
    sizes = QUICK_TRAIN if quick else {}
    cfg = TrainConfig(
        **{"method": "lorasa", "total_steps": steps, "seed": seed, **overrides, **sizes}
    )
    t0 = time.perf_counter()
    trainer = MAPPO(sc, cfg)
    trainer.train()
    kpis = evaluate_actor(sc, trainer.actor, eval_seeds(n_eval))
    th = [k.throughput * 60.0 for k in kpis]
    scrap = sum(k.scrap_rate for k in kpis) / len(kpis) * 100.0
    seconds = time.perf_counter() - t0
    if trainer.phase != "adapters":
        return th, scrap, seconds, None, None
    base = evaluate_actor(sc, without_adapters(trainer.actor), eval_seeds(n_eval))
    return th, scrap, seconds, trainer.phase_start, [k.throughput * 60.0 for k in base]


def best_heuristic(path: str, n_eval: int) -> tuple[str, object]:
    sc = load_scenario(path)
    best = None
    for name in HEURISTICS:
        est = mean_ci(k.throughput * 60 for k in evaluate_heuristic(sc, name, eval_seeds(n_eval)))
        if best is None or est.mean > best[1].mean:
            best = (name, est)
    return best


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=list(EXPERIMENTS))
    p.add_argument("scenarios", type=Path, nargs="+")
    p.add_argument("--steps", type=int, default=TrainConfig.total_steps)
    p.add_argument("--seeds", type=int, default=3, help="training seeds per variant")
    p.add_argument("--eval-seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=None, help="local workers (default: every core)")
    p.add_argument("--ray", default=None, help="run the jobs as Ray tasks on this cluster")
    p.add_argument("--only", nargs="+", help="run only the variants with these labels")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.eval_seeds = 256, 2, 2
    variants = [v for v in EXPERIMENTS[args.experiment][1] if not args.only or v[0] in args.only]
    tasks = [
        (str(sc), label, ov, s)
        for sc in args.scenarios
        for label, _, ov in variants
        for s in range(args.seeds)
    ]
    keys = [(sc, label, s) for sc, label, _, s in tasks]
    jobs = [Job(run_one, (sc, ov, args.steps, s, args.eval_seeds, args.quick))
            for sc, _, ov, s in tasks]  # fmt: skip

    def arrived(i: int, result) -> None:
        (sc, label, seed), (th, _, secs, switched, base) = keys[i], result
        at = (
            ""
            if switched is None
            else f", adapters from step {switched:,}; base alone {mean_ci(base)}"
        )
        print(f"{Path(sc).stem:10s} {label:28s} seed {seed}: {mean_ci(th)} parts/h "
              f"({secs:.0f} s{at})", flush=True)  # fmt: skip

    results = dict(zip(keys, make_executor(args.jobs, args.ray).map(jobs, arrived), strict=True))
    section = render(args, variants, results)
    print(section)
    if args.write:
        write_section(section, f"training_{args.experiment}")


def _over_seeds(per_seed: list[list[float]]):
    """Several training seeds: CI over their means; one: CI over the evaluation seeds."""
    return mean_ci(map(fmean, per_seed)) if len(per_seed) > 1 else mean_ci(per_seed[0])


def render(args, variants, results) -> str:
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    start, end = markers(f"training_{args.experiment}")
    title = EXPERIMENTS[args.experiment][0]
    out = [
        start,
        f"## {title}",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, {cpu_name()}, "
        f"command: `{cmd}`",
        "",
        f"Budget {args.steps:,} env steps per run, {args.seeds} training seeds per variant, "
        f"{args.eval_seeds} held-out evaluation seeds (greedy). Throughput in good parts/h: "
        "mean ± 95% CI over training seeds (over evaluation seeds when there is one training "
        "seed). A seed's run repeats exactly on CPUs of one kernel family (tests/"
        "test_same_result.py), not across families: compare rows of one run.",
        "",
    ]
    verdicts: list = []
    for sc in args.scenarios:
        name, heur = best_heuristic(str(sc), args.eval_seeds)
        out += [
            f"### {sc.stem} (best heuristic: {name}, {heur} parts/h over eval seeds)",
            "",
            "| variant | probes | throughput [parts/h] | per training seed | the base alone "
            "| adapters' gain (paired) | scrap [%] | s per run |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, probes, _ in variants:
            rows = [results[(str(sc), label, s)] for s in range(args.seeds)]
            th = _over_seeds([r[0] for r in rows])
            seeds = ", ".join(f"{fmean(r[0]):.2f}" for r in rows)
            base = gain = "-"
            if rows[0][4] is not None:
                base = _over_seeds([r[4] for r in rows])
                gain = mean_ci(fmean(r[0]) - fmean(r[4]) for r in rows)
            scrap = mean_ci(r[1] for r in rows)
            secs = _seconds(results, sc, label, args.seeds)
            out.append(f"| {label} | {probes} | {th} | {seeds} | {base} | {gain} | {scrap} "
                       f"| {secs:.0f} |")  # fmt: skip
        out.append("")
        if args.experiment == "config":
            out += _config_verdicts(sc, results, args.seeds, verdicts)
        if args.experiment in LEVER_EXPERIMENTS:
            out += _lever_verdicts(sc, variants, results, args.seeds)
    if args.experiment == "config":
        out.append(_config_target(verdicts, args.seeds))
        if not all(ok for *_, ok in verdicts):
            out += ["", CONFIG_STOPS]
    out.append(end)
    return "\n".join(out)


def _config_verdicts(sc: Path, results, n_seeds: int, verdicts: list) -> list[str]:
    """Per method, the defaults against round 1's configuration on one line: the paired
    difference (same training seed index, same evaluation seeds) and whether the defaults'
    mean lies at or above the lower end of round 1's 95% interval over training seeds."""
    out = []
    for method in ("PS", "LoRASA"):
        old, new = (
            _seed_means(results, sc, label, n_seeds)
            for label in (f"{method}, round 1's configuration", f"{method} (defaults)")
        )
        diff, where, ok = _against(new, old)
        verdicts.append((sc.stem, method, ok))
        out.append(
            f"- {method}: defaults - round 1's configuration, paired by training seed: {diff} "
            f"parts/h; the defaults' mean {fmean(new):.2f} is {where} round 1's interval "
            f"{mean_ci(old)}."
        )
    return [*out, ""]


def _lever_verdicts(sc: Path, variants, results, n_seeds: int) -> list[str]:
    """Each lever against its method's defaults (what it wins back, paired by training seed)
    and round 1's interval (whether that is enough), with its cost in seconds per run."""
    out = []
    for label, probes, overrides in variants:
        if probes == "config":
            continue
        method = "PS" if overrides.get("method") == "ps" else "LoRASA"
        lever, defaults, old = (
            _seed_means(results, sc, name, n_seeds)
            for name in (label, f"{method} (defaults)", f"{method}, round 1's configuration")
        )
        gain, where = _against(lever, defaults)[0], _against(lever, old)[1]
        cost = _seconds(results, sc, label, n_seeds) / _seconds(
            results, sc, f"{method} (defaults)", n_seeds
        )
        out.append(
            f"- {label}: {gain} parts/h over the defaults, paired by training seed; its mean "
            f"{fmean(lever):.2f} is {where} round 1's interval {mean_ci(old)}; {cost:.2f}x the "
            "defaults' seconds per run."
        )
    return [*out, ""]


def _seed_means(results, sc: Path, label: str, n_seeds: int) -> list[float]:
    return [fmean(results[(str(sc), label, s)][0]) for s in range(n_seeds)]


def _seconds(results, sc: Path, label: str, n_seeds: int) -> float:
    return fmean(results[(str(sc), label, s)][2] for s in range(n_seeds))


def _against(new: list[float], old: list[float]) -> tuple[Estimate, str, bool]:
    """The paired difference new - old over training seeds, and whether new's mean lies at or
    above the lower end of old's 95% interval (the item 1 criterion)."""
    old_ci = mean_ci(old)
    ok = fmean(new) >= old_ci.mean - old_ci.half_width
    diff = mean_ci(n - o for n, o in zip(new, old, strict=True))
    return diff, "within or above" if ok else "BELOW", ok


def _config_target(verdicts: list, n_seeds: int) -> str:
    missed = [f"{line} {method}" for line, method, ok in verdicts if not ok]
    verdict = "**MISSED** on " + ", ".join(missed) if missed else "met"
    return (
        "Target: learned throughput at the defaults within (or above) the 95% CI of round 1's "
        f"configuration over {n_seeds} training seeds, every line and method: {verdict}"
    )


if __name__ == "__main__":
    main()
