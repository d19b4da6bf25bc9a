"""Tables, JSON documents and charts the commands print: KPIs of sets of replications (with
each policy's share of the line's exact optimum where it is known), logged runs, the exact
optimum's values, the station-identity probe (rendering only; logging is store/runlog.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from factory_twin.optimum.value import LineOptimum
from factory_twin.sim.kpi import KPIs
from factory_twin.stats import Estimate, mean_ci

if TYPE_CHECKING:
    from factory_twin.optimum.yardstick import OptimumReport
    from factory_twin.store.records import RunSummary
    from factory_twin.train.probe import ProbeResult
    from factory_twin.train.truncate import Truncation

# (KPI attribute, column title, scale for display, format)
COLUMNS = (
    ("throughput", "throughput [parts/h]", 60.0, "{:.1f}"),
    ("wip", "WIP [parts]", 1.0, "{:.1f}"),
    ("lead_time_mean", "lead time [min]", 1.0, "{:.1f}"),
    ("lead_time_p95", "lead time p95 [min]", 1.0, "{:.0f}"),
    ("utilisation", "utilisation [%]", 100.0, "{:.0f}"),
    ("oee", "OEE [%]", 100.0, "{:.0f}"),
    ("scrap_rate", "scrap [%]", 100.0, "{:.1f}"),
    ("bound_pct", "% of bound", 1.0, "{:.0f}"),
)


def estimate(kpis: list[KPIs], attr: str, scale: float = 1.0) -> Estimate:
    e = mean_ci(getattr(k, attr) * scale for k in kpis)
    return e


def fmt(e: Estimate, pattern: str) -> str:
    if math.isnan(e.half_width):
        return pattern.format(e.mean)
    return f"{pattern.format(e.mean)} ± {pattern.format(e.half_width)}"


# the columns "% of optimum" adds: (title, LineOptimum method giving one run's share)
OPTIMUM_COLUMNS = (
    ("% of optimum throughput", "throughput_pct"),
    ("% of optimum reward", "reward_pct"),
)
OPTIMUM_FORMAT = "{:.1f}"


def optimum_shares(kpis: Iterable[KPIs], optimum: LineOptimum) -> dict[str, list[float]]:
    """Per column of OPTIMUM_COLUMNS, each run's share of the optimum in percent."""
    kpis = list(kpis)
    return {head: [getattr(optimum, how)(k) for k in kpis] for head, how in OPTIMUM_COLUMNS}


def optimum_caption(optimum: LineOptimum | None) -> str:
    if optimum is None:
        return ""
    return (
        f"; optimum (exact, {optimum.states} states): {optimum.throughput * 60:.2f} good "
        f"parts/h, team reward {optimum.reward * 60:.2f}/h"
    )


def kpi_table(
    title: str,
    results: dict[str, list[KPIs]],
    extra: dict | None = None,
    optimum: LineOptimum | None = None,
) -> Table:
    """One row per policy, mean ± 95% CI half-width over its replications; with the line's
    `optimum`, throughput and team reward as % of it too."""
    caption = "mean ± 95% confidence half-width over seeds" + optimum_caption(optimum)
    table = Table(title=title, caption=caption)
    table.add_column("policy")
    for _, head, _, _ in COLUMNS:
        table.add_column(head, justify="right")
    if optimum is not None:
        for head, _ in OPTIMUM_COLUMNS:
            table.add_column(head, justify="right")
    extra = extra or {}
    # first-seen order, one list for headers and cells alike (a set's order varies per process)
    extra_cols = list(dict.fromkeys(c for row in extra.values() for c in row))
    for col in extra_cols:
        table.add_column(col, justify="right")
    for label, kpis in results.items():
        cells = [fmt(estimate(kpis, a, s), f) for a, _, s, f in COLUMNS]
        if optimum is not None:
            shares = optimum_shares(kpis, optimum).values()
            cells += [fmt(mean_ci(v), OPTIMUM_FORMAT) for v in shares]
        cells += [str(extra.get(label, {}).get(c, "")) for c in extra_cols]
        table.add_row(label, *cells)
    return table


def runs_table(title: str, runs: list[RunSummary], statuses: list[str]) -> Table:
    """One row per logged run, newest first, as `list_runs` returns them, with each run's
    status as judged now (a 'running' run whose process died reads so)."""
    table = Table(title=title)
    columns = ("id", "scenario", "kind", "method", "seed", "status", "episodes", "throughput/h")
    for col in (*columns, "created"):
        table.add_column(col)
    for r, status in zip(runs, statuses, strict=True):
        th = "" if r.mean_throughput is None else f"{r.mean_throughput * 60:.1f}"
        table.add_row(
            str(r.id), r.scenario_name, r.kind, r.method, str(r.seed), status,
            str(r.episode_count), th, r.created_at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    return table


def finite(x: float) -> float | None:
    """JSON has no NaN: an undefined number is null."""
    return None if math.isnan(x) else x


def level_json(values: Iterable[float]) -> dict:
    e = mean_ci(values)
    return {"mean": e.mean, "ci_low": finite(e.low), "ci_high": finite(e.high), "n": e.n}


def optimum_json(shares: dict[str, list[float]] | None) -> dict | None:
    """{"throughput": level, "team_reward": level} of shares of the optimum in percent (as
    `optimum_shares` gives them), null where the line has no optimum."""
    if shares is None:
        return None
    keys = ("throughput", "team_reward")
    return {key: level_json(shares[h]) for key, (h, _) in zip(keys, OPTIMUM_COLUMNS, strict=True)}


def simulation_json(scenario: str, seeds: list[int], results: dict[str, list[KPIs]],
                    optimum: LineOptimum | None) -> dict:  # fmt: skip
    """What `run` shows, as JSON (KPIs in the simulator's units: per minute, fractions)."""
    kpis = [a for a, _, _, _ in COLUMNS]
    return {
        "scenario": scenario,
        "seeds": seeds,
        "optimum": None if optimum is None else optimum.to_json(),
        "policies": [
            {
                "policy": label,
                "levels": {a: level_json(getattr(k, a) for k in runs) for a in kpis},
                "pct_of_optimum": optimum_json(
                    None if optimum is None else optimum_shares(runs, optimum)
                ),
            }
            for label, runs in results.items()
        ],
    }


def write_document(path: Path, doc: dict) -> Path:
    """Write a JSON document (made of plain JSON types: no NaN), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def optimum_table(line: str, rep: OptimumReport) -> Table:
    """The two optima and every fixed policy: long-run throughput and reward, % of the best."""
    table = Table(title=f"{line}: exact long-run values ({rep.states} states)")
    for col in ("policy", "good parts/h", "% of max", "team reward/h", "% of max", "note"):
        table.add_column(col, justify="left" if col in ("policy", "note") else "right")
    for v in [rep.best_reward, rep.best_throughput, *rep.policies]:
        table.add_row(
            v.name, f"{v.throughput:.2f}", f"{v.throughput_pct:.1f}", f"{v.reward:.2f}",
            f"{v.reward_pct:.1f}", v.note,
        )  # fmt: skip
    for name in rep.not_valued:
        table.add_row(name, "", "", "", "", "not valued: acts on wear minutes, not phases")
    return table


def probe_table(result: ProbeResult) -> Table:
    """Per station, the share of its held-out observations the probe named correctly; the
    last row is the accuracy over all of them, against chance."""
    table = Table(
        title=f"{result.scenario} under {result.policy}: which station is asking?",
        caption=f"{result.per_station} decisions per station, {result.held_out} held out",
    )
    table.add_column("station")
    table.add_column("named correctly [%]", justify="right")
    table.add_column("chance [%]", justify="right")
    chance = f"{100 * result.chance:.1f}"
    for name, share in result.recall.items():
        table.add_row(name, f"{100 * share:.1f}", chance)
    table.add_section()
    table.add_row("all stations", f"{100 * result.accuracy:.1f}", chance)
    return table


CHART_PANELS = (COLUMNS[0], COLUMNS[1], COLUMNS[2], COLUMNS[5])  # throughput, WIP, lead, OEE


def chart(path: Path, title: str, estimates: dict[str, dict[str, Estimate]]) -> Path:
    """Bar chart of throughput, WIP, lead time and OEE with 95% CI error bars;
    `estimates[label][attr]` is in display units (as `COLUMNS` scales them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(estimates)
    fig, axes = plt.subplots(1, len(CHART_PANELS), figsize=(4.2 * len(CHART_PANELS), 4.2))
    colors = plt.cm.tab10.colors
    for ax, (attr, head, _, _) in zip(axes, CHART_PANELS, strict=True):
        ests = [estimates[lab][attr] for lab in labels]
        err = [0 if math.isnan(e.half_width) else e.half_width for e in ests]
        ax.bar(
            range(len(labels)),
            [e.mean for e in ests],
            yerr=err,
            capsize=4,
            color=[colors[i % 10] for i in range(len(labels))],
        )
        ax.set_title(head)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def truncation_table(scenario: str, found: Truncation) -> Table:
    """Per station: the rank its adapter needs and the singular values it was cut by."""
    table = Table(
        title=f"{scenario}: adapter ranks needed (of {found.rank})",
        caption=(
            f"greedy throughput {found.stored.mean * 60:.1f} parts/h stored (95% CI low "
            f"{found.stored.low * 60:.1f}), {found.truncated.mean * 60:.1f} truncated"
        ),
    )
    for head in ("station", "rank", "singular values of B·A (its largest layer)"):
        table.add_column(head, justify="left" if head == "station" else "right")
    for name, rank in found.ranks.items():
        layers = found.singular[name].values()
        top = max(layers, key=lambda s: s[0] if s else 0.0)
        table.add_row(name, str(rank), " ".join(f"{v:.3g}" for v in top))
    return table
