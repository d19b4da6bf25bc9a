"""`factory-twin`: the planner's command line.

Every command that reads a scenario validates it first; any problem with the user's input or
files is printed as one line (file, field, what was expected) and exits with code 2, without
a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from factory_twin.errors import FactoryTwinError
from factory_twin.scenario import Scenario, json_schema, load_scenario

app = typer.Typer(
    help="Digital twin of production lines whose stations learn (MAPPO + LoRASA adapters).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# wide enough for the KPI table when output goes to a file or CI log instead of a terminal
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

HEURISTIC_NAMES = ("fifo", "min-setup", "pm-threshold", "conwip")
LEARNED_NAMES = ("shared", "adapted", "ps", "ps-id", "nps", "lorasa")
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy URL or SQLite path (default: $FACTORY_TWIN_DB, "
        "else db/factory_twin.sqlite)",
    ),
]
StoreOption = Annotated[
    Path, typer.Option("--store", help="adapter store folder", envvar="FACTORY_TWIN_STORE")
]
ScenarioArg = Annotated[Path, typer.Argument(help="scenario YAML file")]


def friendly(fn: Callable) -> Callable:
    """Turn the project's own errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FactoryTwinError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _load(path: Path) -> tuple[Scenario, str]:
    scenario = load_scenario(path)
    return scenario, path.read_text(encoding="utf-8")


def _open_db(db: str | None):
    from factory_twin.store.db import database_url, open_db

    return open_db(database_url(db))


def _store(root: Path):
    from factory_twin.store.adapters import AdapterStore

    return AdapterStore(root)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --- scenario commands ---------------------------------------------------------------------


@app.command()
@friendly
def validate(file: ScenarioArg) -> None:
    """Check a scenario file and summarise the line it describes."""
    from factory_twin.sim.bounds import availability_adjusted_bound

    sc, _ = _load(file)
    bound = availability_adjusted_bound(sc)
    neck = sc.stations[bound.bottleneck].name if bound.bottleneck >= 0 else "arrivals"
    console.print(
        f"[green]ok[/] {file}: line '{sc.name}', {len(sc.stations)} stations, "
        f"{len(sc.products)} products; bottleneck {neck}, "
        f"bound {bound.rate * 60:.1f} good parts/h",
        highlight=False,
    )


@app.command()
def schema() -> None:
    """Print the JSON schema of scenario files (for editors and documentation)."""
    print(json.dumps(json_schema(), indent=2))


# --- simulation ----------------------------------------------------------------------------


@app.command()
@friendly
def run(
    file: ScenarioArg,
    policy: Annotated[
        str, typer.Option(help=f"one of {', '.join(HEURISTIC_NAMES + LEARNED_NAMES)}, or 'all'")
    ] = "all",
    seeds: Annotated[int, typer.Option(min=1, max=10_000, help="replications")] = 5,
    seed: Annotated[int, typer.Option(help="first seed")] = 0,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
    record: Annotated[
        bool, typer.Option(help="store snapshots of the first replication for `replay`")
    ] = False,
) -> None:
    """Simulate the scenario's horizon under a policy; log and print KPIs with 95% CIs."""
    from factory_twin.report import kpi_table, log_evaluation

    sc, text = _load(file)
    names = list(HEURISTIC_NAMES) if policy == "all" else [policy]
    for name in names:
        if name not in HEURISTIC_NAMES + LEARNED_NAMES:
            raise typer.BadParameter(
                f"unknown policy {name!r}; expected one of {HEURISTIC_NAMES + LEARNED_NAMES}"
            )
    seed_list = list(range(seed, seed + seeds))
    database = _open_db(db)
    results = {}
    with _progress() as progress:
        for name in names:
            task = progress.add_task(f"simulating {name}", total=len(seed_list), info="")
            kpis = _simulate_policy(
                sc, name, seed_list, store, functools.partial(progress.advance, task)
            )
            run_id = log_evaluation(database, sc, text, name, seed_list, kpis, kind="simulate")
            if record:
                _record(database, run_id, sc, name, seed_list[0], store)
            results[f"{name} (run {run_id})"] = kpis
    console.print(kpi_table(f"{sc.name}: {seeds} seeds, {sc.horizon.length:g} min each", results))


def _simulate_policy(sc, name, seeds, store_root, tick):
    from factory_twin.policy.heuristics import heuristic
    from factory_twin.sim.run import simulate
    from factory_twin.train.evaluate import evaluate_actor
    from factory_twin.train.pipeline import load_trained

    if name in HEURISTIC_NAMES:
        s2, decider = heuristic(name, sc)
        out = []
        for s in seeds:
            out.append(simulate(s2, s, decider))
            tick()
        return out
    actor = load_trained(_store(store_root), sc, name).actor
    out = evaluate_actor(sc, actor, seeds)
    for _ in seeds:
        tick()
    return out


def _record(database, run_id, sc, name, seed, store_root) -> None:
    from factory_twin.viz.drivers import record

    driver = _driver(sc, name, seed, store_root)
    database.add_events(run_id, record(driver, every=5.0, until=sc.horizon.warmup + 600))


@app.command()
@friendly
def runs(db: DbOption = None, limit: Annotated[int, typer.Option(min=1)] = 30) -> None:
    """List the runs stored in the log, newest first."""
    database = _open_db(db)
    table = Table(title=f"runs in {database.where}")
    for col in (
        "id",
        "scenario",
        "kind",
        "method",
        "seed",
        "status",
        "episodes",
        "throughput/h",
        "created",
    ):
        table.add_column(col)
    for r in database.list_runs(limit):
        th = "" if r.mean_throughput is None else f"{r.mean_throughput * 60:.1f}"
        table.add_row(
            str(r.id),
            r.scenario_name,
            r.kind,
            r.method,
            str(r.seed),
            r.status,
            str(r.episode_count),
            th,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FactoryTwinError as exc:  # raised outside a command (e.g. in option parsing)
        err_console.print(f"error: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
