"""Rendering a `Comparison`: the KPI table over training seeds, verdict lines, the bar chart,
learning curves and the JSON document. Rendering only: nothing here computes a policy or
writes to the log."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.table import Table

from factory_twin.comparison import (
    DIFF_KPIS,
    Comparison,
    Difference,
    MethodResult,
    station_behaviour,
    steps_to_reach,
    total_variation,
    verdict,
)
from factory_twin.report import (
    CHART_PANELS,
    COLUMNS,
    OPTIMUM_COLUMNS,
    OPTIMUM_FORMAT,
    chart,
    estimate,
    finite,
    fmt,
    level_json,
    optimum_caption,
    optimum_json,
    optimum_shares,
    write_document,
)
from factory_twin.stats import mean_ci

HEURISTIC_LABEL = "best heuristic ({})"


def _levels(m: MethodResult) -> list[str]:
    return [fmt(mean_ci(m.per_seed(a) * s), f) for a, _, s, f in COLUMNS]


def _seed_shares(m: MethodResult, c: Comparison) -> dict[str, list[float]] | None:
    """Per training seed, its shares of the optimum (means over the evaluation seeds)."""
    if c.optimum is None:
        return None
    per_seed = [optimum_shares(seed, c.optimum) for seed in m.kpis]
    return {h: [float(np.mean(p[h])) for p in per_seed] for h, _ in OPTIMUM_COLUMNS}


def _heuristic_shares(c: Comparison) -> dict[str, list[float]] | None:
    return None if c.optimum is None else optimum_shares(c.heuristic_kpis, c.optimum)


def _share_cells(shares: dict[str, list[float]] | None) -> list[str]:
    if shares is None:
        return []
    return [fmt(mean_ci(v), OPTIMUM_FORMAT) for v in shares.values()]


def caption(c: Comparison) -> str:
    k = max((len(m.kpis) for m in c.methods), default=0)
    return (
        f"learned methods: mean over {k} training seeds ± 95% CI over training seeds (each "
        f"seed's value is its mean over {len(c.eval_seeds)} held-out evaluation seeds); "
        f"heuristic: ± 95% CI over the {len(c.eval_seeds)} evaluation seeds"
        + optimum_caption(c.optimum)
    )


def comparison_table(c: Comparison) -> Table:
    """One row per policy; a `runs` column says how many runs stand behind each interval."""
    n_eval = len(c.eval_seeds)
    table = Table(title=f"{c.scenario}: {c.steps:,} training steps per run", caption=caption(c))
    table.add_column("policy")
    shown = [head for _, head, _, _ in COLUMNS]
    if c.optimum is not None:
        shown += [head for head, _ in OPTIMUM_COLUMNS]
    params = list(dict.fromkeys(p for m in c.methods for p in m.params))
    for col in [*shown, "train x eval seeds", *params]:
        table.add_column(col, justify="right")
    heur = [fmt(estimate(c.heuristic_kpis, a, s), f) for a, _, s, f in COLUMNS]
    heur += _share_cells(_heuristic_shares(c))
    table.add_row(HEURISTIC_LABEL.format(c.heuristic), *heur, f"- x {n_eval}", *[""] * len(params))
    for m in c.methods:
        runs = f"{len(m.kpis)} x {n_eval}"
        counts = [f"{m.params[p]:,}" if p in m.params else "" for p in params]
        table.add_row(m.label, *_levels(m), *_share_cells(_seed_shares(m, c)), runs, *counts)
    return table


def _labels(c: Comparison) -> dict[str, str]:
    return {m.method: m.label for m in c.methods} | {
        c.heuristic: HEURISTIC_LABEL.format(c.heuristic)
    }


def verdict_lines(c: Comparison) -> list[str]:
    """Per learned method: throughput against PS and against the best heuristic."""
    labels = _labels(c)
    return [
        verdict(d, labels[d.method], labels[d.against])
        for d in c.differences()
        if d.kpi == "throughput"
    ]


def _difference_json(d: Difference, labels: dict[str, str]) -> dict:
    doc = {"method": d.method, "against": d.against, "kpi": d.kpi, "n_train_seeds": d.n}
    doc |= {"mean": d.mean, "ci_low": d.low, "ci_high": d.high, "reference": d.reference}
    doc |= {"mean_pct": d.pct(d.mean), "ci_low_pct": d.pct(d.low), "ci_high_pct": d.pct(d.high)}
    if d.kpi == "throughput":
        doc["verdict"] = verdict(d, labels[d.method], labels[d.against])
    return {k: finite(v) if isinstance(v, float) else v for k, v in doc.items()}


def comparison_json(c: Comparison) -> dict:
    """Everything the table, verdicts and charts show (KPIs in the simulator's units: parts
    per minute, parts, minutes, fractions)."""
    kpis = [a for a, _, _, _ in COLUMNS]
    methods = []
    for m in c.methods:
        per_seed = [{a: float(m.per_seed(a)[i]) for a in kpis} for i in range(len(m.kpis))]
        methods.append({
            "method": m.method,
            "label": m.label,
            "train_seeds": m.train_seeds,
            "run_ids": m.run_ids,
            "per_seed": per_seed,
            "levels": {a: level_json(m.per_seed(a)) for a in kpis},
            "pct_of_optimum": optimum_json(_seed_shares(m, c)),
            "params": m.params,
            "curve": c.curves.get(m.method, []),
            "steps_to_95pct": [steps_to_reach(curve) for curve in c.curves.get(m.method, [])],
            "stations": [asdict(b) for b in station_behaviour(m)],
        })  # fmt: skip
    heur = {a: level_json(getattr(k, a) for k in c.heuristic_kpis) for a in kpis}
    labels = _labels(c)
    return {
        "scenario": c.scenario,
        "steps_per_run": c.steps,
        "eval_seeds": c.eval_seeds,
        "interval": caption(c),
        "optimum": None if c.optimum is None else c.optimum.to_json(),
        "best_heuristic": {
            "name": c.heuristic,
            "levels": heur,
            "pct_of_optimum": optimum_json(_heuristic_shares(c)),
        },
        "methods": methods,
        "differences": [_difference_json(d, labels) for d in c.differences()],
        "difference_kpis": list(DIFF_KPIS),
        "lorasa_vs_ps_tv": lorasa_vs_ps(c),
    }


def write_json(path: Path, c: Comparison) -> Path:
    return write_document(path, comparison_json(c))


def comparison_chart(path: Path, c: Comparison) -> Path:
    """The KPI bar chart: learned methods with their interval over training seeds."""
    estimates = {HEURISTIC_LABEL.format(c.heuristic): {
        a: estimate(c.heuristic_kpis, a, s) for a, _, s, _ in CHART_PANELS
    }}  # fmt: skip
    for m in c.methods:
        estimates[m.label] = {a: mean_ci(m.per_seed(a) * s) for a, _, s, _ in CHART_PANELS}
    title = f"{c.scenario}: 95% CI over training seeds (heuristic: over evaluation seeds)"
    return chart(path, title, estimates)


def curves_chart(path: Path, c: Comparison) -> Path:
    """Greedy throughput vs env steps per method: mean line and a min-max band over training
    seeds, the best heuristic as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, m in enumerate(c.methods):
        seeds = [np.array(curve, dtype=float) for curve in c.curves.get(m.method, []) if curve]
        if not seeds:
            continue
        n = min(len(s) for s in seeds)
        steps = seeds[0][:n, 0]
        ys = np.stack([s[:n, 1] * 60.0 for s in seeds])
        color = plt.cm.tab10.colors[i % 10]
        ax.plot(steps, ys.mean(axis=0), color=color, label=f"{m.label} ({len(seeds)} seeds)")
        ax.fill_between(steps, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.2)
    h = float(np.mean([k.throughput for k in c.heuristic_kpis])) * 60.0
    ax.axhline(h, color="black", linestyle="--", label=f"best heuristic ({c.heuristic})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy throughput [good parts/h]")
    ax.set_title(f"{c.scenario}: learning curves (band: min-max over training seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- per-station behaviour ----------------------------------------------------------------

BEHAVIOUR = (  # (attribute, column title, scale, format)
    ("fast_share", "run fast [%]", 100.0, "{:.0f}"),
    ("pm_per_1000_min", "PM / 1000 min", 1.0, "{:.1f}"),
    ("setups_per_good_part", "setups / good part", 1.0, "{:.2f}"),
    ("waiting_share", "waiting [%]", 100.0, "{:.0f}"),
    ("utilisation", "utilisation [%]", 100.0, "{:.0f}"),
)


def lorasa_vs_ps(c: Comparison) -> list[float] | None:
    """Per station, the total-variation distance between LoRASA's and PS's decision mixes."""
    lora, ps = c.method("lorasa"), c.method("ps")
    if lora is None or ps is None:
        return None
    pairs = zip(station_behaviour(lora), station_behaviour(ps), strict=True)
    return [total_variation(a, b) for a, b in pairs]


def behaviour_table(c: Comparison) -> Table:
    """One row per station and method; the stations where LoRASA's decisions differ most
    from PS's are marked."""
    tv = lorasa_vs_ps(c)
    marked = set() if tv is None else {i for i, d in enumerate(tv) if d >= 0.5 * max(tv) > 0}
    table = Table(
        title=f"{c.scenario}: what each station does (pooled over training and evaluation seeds)",
        caption="TV: total-variation distance between LoRASA's and PS's mix of decisions "
        "(wait, normal, fast, PM) at the station; * marks where they differ most",
    )
    for col in ("station", "policy", *(head for _, head, _, _ in BEHAVIOUR), "TV"):
        table.add_column(col, justify="left" if col in ("station", "policy") else "right")
    per_method = [(m, station_behaviour(m)) for m in c.methods]
    for i in range(len(per_method[0][1]) if per_method else 0):
        for k, (m, rows) in enumerate(per_method):
            b = rows[i]
            cells = [f.format(getattr(b, a) * s) for a, _, s, f in BEHAVIOUR]
            tv_cell = ""
            if m.method == "lorasa" and tv is not None:
                tv_cell = f"{tv[i]:.2f}" + (" *" if i in marked else "")
            table.add_row(b.station if k == 0 else "", m.label, *cells, tv_cell)
    return table


def behaviour_chart(path: Path, c: Comparison) -> Path:
    """Per station, grouped bars per method: share run fast, PM rate, waiting share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [BEHAVIOUR[0], BEHAVIOUR[1], BEHAVIOUR[3]]
    rows = [(m, station_behaviour(m)) for m in c.methods]
    names = [b.station for b in rows[0][1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.2))
    width = 0.8 / len(rows)
    for ax, (attr, head, scale, _) in zip(axes, panels, strict=True):
        for k, (m, behaviour) in enumerate(rows):
            xs = [i + (k - (len(rows) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, [getattr(b, attr) * scale for b in behaviour], width, label=m.label,
                   color=plt.cm.tab10.colors[k % 10])  # fmt: skip
        ax.set_title(head)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    tv = lorasa_vs_ps(c)
    if tv is not None:
        most = names[int(np.argmax(tv))]
        fig.suptitle(f"{c.scenario}: per-station behaviour (LoRASA differs most from PS at "
                     f"{most}, TV {max(tv):.2f})")  # fmt: skip
    else:
        fig.suptitle(f"{c.scenario}: per-station behaviour")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
