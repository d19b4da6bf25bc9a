"""The methods table: every learned method on every shipped line over several training seeds.

Why: a planner's question is "on my line, do adapters pay?", and the answer is a distribution
over training seeds, not one run. `run` calls the project's own `factory-twin compare` once per
line (the executor trains every (method, seed) job on all cores, or Ray with `--ray`) and keeps
its whole JSON document under benchmarks/results/<line>.json; `report` turns those documents
into one RESULTS.md section: levels over training seeds, LoRASA paired with PS and with PS+ID,
and sample efficiency (env steps to reach 95% of a run's final greedy throughput).

    python benchmarks/methods_table.py run scenarios/*.yaml --seeds 5     # hours on 2 cores
    python benchmarks/methods_table.py report --write                     # RESULTS.md section
    python benchmarks/methods_table.py run scenarios/bottling.yaml --quick  # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH, ROOT, SCENARIOS, machine_lines, markers, publish

NAME = "training_methods"
RESULTS_DIR = BENCH / "results"
METHOD_ORDER = ("ps", "ps-id", "nps", "lorasa")


def run_line(path: Path, seeds: int, extra: list[str], out_dir: Path) -> Path:
    """`factory-twin compare` on one line in a throw-away log and store; its JSON is kept."""
    out = out_dir / f"{path.stem}.json"
    with tempfile.TemporaryDirectory(prefix="ft-methods-") as tmp:
        cmd = [sys.executable, "-m", "factory_twin.cli", "compare", str(path),
               "--train-seeds", str(seeds), "--json", str(out),
               "--db", str(Path(tmp) / "log.sqlite"), "--store", str(Path(tmp) / "store"),
               "--out", str(Path(tmp) / "compare.png"), *extra]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"compare {path} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    doc["wall_s"] = time.perf_counter() - t0
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{path.stem}: {doc['wall_s']:.0f} s wall -> {out}", flush=True)
    return out


def level(d: dict, scale: float = 60.0, fmt: str = "{:.1f}") -> str:
    """'mean ± half-width' of a JSON level (scaled: parts/min -> parts/h)."""
    mean, low, high = d["mean"], d["ci_low"], d["ci_high"]
    if low is None:
        return fmt.format(mean * scale)
    return f"{fmt.format(mean * scale)} ± {fmt.format((high - low) / 2 * scale)}"


def difference(doc: dict, method: str, against: str) -> str:
    d = next((x for x in doc["differences"] if (x["method"], x["against"], x["kpi"]) ==
              (method, against, "throughput")), None)  # fmt: skip
    if d is None or d["ci_low_pct"] is None:
        return "n/a"
    return f"{d['mean_pct']:+.1f}% [{d['ci_low_pct']:+.1f}, {d['ci_high_pct']:+.1f}]"


def sample_efficiency(m: dict) -> str:
    """Median over training seeds of the steps to 95% of the final greedy throughput."""
    steps = [s for s in m.get("steps_to_95pct", []) if s is not None]
    return f"{statistics.median(steps) / 1000:.0f}k" if steps else "n/a"


def of_optimum(entry: dict) -> str:
    """Team reward as % of the line's exact optimum ('n/a' where the line is not solvable)."""
    share = entry.get("pct_of_optimum")
    return "n/a" if share is None else level(share["team_reward"], 1.0)


def line_section(doc: dict) -> list[str]:
    methods = {m["method"]: m for m in doc["methods"]}
    heur = doc["best_heuristic"]
    heuristic_share = ""
    if heur.get("pct_of_optimum") is not None:
        heuristic_share = f", {of_optimum(heur)}% of the optimal team reward"
    out = [
        f"### {doc['scenario']}",
        "",
        f"{doc['steps_per_run']:,} env steps per run; best heuristic {heur['name']}: "
        f"{level(heur['levels']['throughput'])} parts/h (over evaluation seeds)"
        f"{heuristic_share}; "
        f"{doc.get('wall_s', float('nan')) / 60:.0f} min wall for the whole line.",
        "",
        "| method | seeds | throughput [parts/h] | scrap [%] | % of optimal reward | "
        "steps to 95% of final | vs PS | vs PS+ID |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in METHOD_ORDER:
        m = methods.get(name)
        if m is None:
            continue
        out.append(
            f"| {m['label']} | {len(m['train_seeds'])} | {level(m['levels']['throughput'])} | "
            f"{level(m['levels']['scrap_rate'], 100.0)} | {of_optimum(m)} | "
            f"{sample_efficiency(m)} | "
            f"{difference(doc, name, 'ps') if name != 'ps' else '-'} | "
            f"{difference(doc, name, 'ps-id') if name == 'lorasa' else '-'} |"
        )
    return [*out, "", behaviour_line(doc), ""]


def behaviour_line(doc: dict) -> str:
    """Per station, how far LoRASA's decision mix is from PS's (total variation, 0-1)."""
    tv = doc.get("lorasa_vs_ps_tv")
    lora = next((m for m in doc["methods"] if m["method"] == "lorasa"), None)
    if not tv or lora is None:
        return "LoRASA vs PS decision mix: n/a"
    pairs = ", ".join(f"{s['station']} {d:.2f}" for s, d in zip(lora["stations"], tv, strict=True))
    return f"LoRASA vs PS decision mix per station (total variation): {pairs}"


def render(docs: list[dict]) -> str:
    start, end = markers(NAME)
    seeds = {d["file"]: min(len(m["train_seeds"]) for m in d["methods"]) for d in docs}
    shipped = sorted(
        p.stem for p in [*SCENARIOS.glob("*.yaml"), *SCENARIOS.glob("benchmarks/*.yaml")]
    )
    short = [name for name in shipped if seeds.get(name, 0) < 5]
    lines = [
        start,
        "## Methods on every shipped line",
        "",
        *machine_lines(),
        "",
        "Each line is one `factory-twin compare` (JSON under `benchmarks/results/`). Levels: mean "
        "± 95% CI half-width over training seeds, each seed's policy evaluated greedily on the "
        "same held-out evaluation seeds. `vs PS`, `vs PS+ID`: paired difference in throughput "
        "(same training seed index, same evaluation seeds), mean and 95% CI. Steps to 95%: "
        "median over training seeds of the first learning-curve point at 95% of that run's "
        "final greedy throughput. % of optimal reward: team reward as a share of the line's "
        "exact optimum (`factory-twin optimum`), where the line is small and Markovian.",
        "",
        "Target: at least 5 training seeds per method on every shipped line: "
        + ("met" if not short else f"MISSED (fewer or none on {', '.join(short)})"),
        "",
    ]
    for doc in docs:
        lines += line_section(doc)
    return "\n".join([*lines, end]) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    run = sub.add_parser("run", help="compare every line given; keep the JSON documents")
    run.add_argument("scenarios", type=Path, nargs="+")
    run.add_argument("--seeds", type=int, default=5, help="training seeds per method")
    run.add_argument("--workers", type=int, default=None)
    run.add_argument("--ray", default=None)
    run.add_argument("--quick", action="store_true", help="tiny budget, 2 seeds (smoke)")
    run.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    rep = sub.add_parser("report", help="the RESULTS.md section from the JSON documents")
    rep.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    rep.add_argument("--write", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.what == "run":
        extra = ["--workers", str(args.workers)] if args.workers else []
        extra += ["--ray", args.ray] if args.ray else []
        seeds = 2 if args.quick else args.seeds
        extra += ["--steps", "2000", "--eval-seeds", "2"] if args.quick else []
        for path in args.scenarios:
            run_line(path, seeds, extra, args.out_dir)
        return 0
    docs = [
        json.loads(p.read_text()) | {"file": p.stem} for p in sorted(args.out_dir.glob("*.json"))
    ]
    if not docs:
        raise SystemExit(f"no comparison documents under {args.out_dir}: run `run` first")
    publish(render(docs), NAME, [], args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
