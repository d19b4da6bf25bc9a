"""`factory-twin`: the planner's command line.

Every command that reads a scenario validates it first; any problem with the user's input or
files is printed as one line (file, field, what was expected) and exits with code 2, without
a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from factory_twin.errors import FactoryTwinError
from factory_twin.policy.registry import HEURISTICS, METHODS, label, names, resolve, training_method
from factory_twin.scenario import Scenario, json_schema, load_scenario

app = typer.Typer(
    help="Digital twin of production lines whose stations learn (MAPPO + LoRASA adapters).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# wide enough for the KPI table when output goes to a file or CI log instead of a terminal
# markup off: scenario and station names are the planner's text and may contain "[...]"
console = Console(width=None if sys.stdout.isatty() else 160, markup=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200, markup=False)

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
            err_console.print(f"error: {exc}", style="bold red", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _load(path: Path) -> tuple[Scenario, str]:
    scenario = load_scenario(path)
    return scenario, path.read_text(encoding="utf-8")


def _open_db(db: str | None):
    from factory_twin.store.connection import database_url
    from factory_twin.store.runlog import open_db

    return open_db(database_url(db))


def _store(root: Path):
    from factory_twin.store.policies import PolicyStore

    return PolicyStore(root)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --- scenario commands ---------------------------------------------------------------------


@app.command()
@friendly
def validate(file: ScenarioArg) -> None:
    """Check a scenario file and summarise the line it describes."""
    from factory_twin.scenario.capacity import availability_adjusted_bound

    sc, _ = _load(file)
    bound = availability_adjusted_bound(sc)
    neck = sc.stations[bound.bottleneck].name if bound.bottleneck >= 0 else "arrivals"
    console.print(
        f"ok {file}: line '{sc.name}', {len(sc.stations)} stations, "
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
    policy: Annotated[str, typer.Option(help=f"one of {', '.join(names())}, or 'all'")] = "all",
    seeds: Annotated[int, typer.Option(min=1, max=10_000, help="replications")] = 5,
    seed: Annotated[int, typer.Option(help="first seed")] = 0,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
    record: Annotated[
        bool, typer.Option(help="store snapshots of the first replication for `replay`")
    ] = False,
) -> None:
    """Simulate the scenario's horizon under a policy; log and print KPIs with 95% CIs."""
    from factory_twin.report import kpi_table

    sc, text = _load(file)
    chosen = list(HEURISTICS) if policy == "all" else [policy]
    for name in chosen:
        resolve(name)
    seed_list = list(range(seed, seed + seeds))
    database = _open_db(db)
    sid = database.ensure_scenario(sc.name, sc.content_hash(), text)
    results = {}
    with _progress() as progress:
        for name in chosen:
            task = progress.add_task(f"simulating {name}", total=len(seed_list), info="")
            kpis = _simulate_policy(
                sc, name, seed_list, store, functools.partial(progress.advance, task)
            )
            run_id = database.log_evaluation(sid, name, seed_list, kpis, kind="simulate")
            if record:
                _record(database, run_id, sc, name, seed_list[0], store)
            results[f"{name} (run {run_id})"] = kpis
    console.print(kpi_table(f"{sc.name}: {seeds} seeds, {sc.horizon.length:g} min each", results))


def _simulate_policy(sc, name, seeds, store_root, tick):
    from factory_twin.train.evaluate import evaluate_actor, evaluate_heuristic
    from factory_twin.train.pipeline import load_trained

    if resolve(name).kind == "heuristic":
        out = []
        for s in seeds:
            out += evaluate_heuristic(sc, name, [s])
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


# --- learning ------------------------------------------------------------------------------

DEFAULT_STEPS = 400_000  # the trainer's default budget (TrainConfig.total_steps)
StepsOption = Annotated[
    int, typer.Option("--steps", min=1_000, help="training budget in environment steps")
]


def _train_progress(progress: Progress, label: str, total: int):
    task = progress.add_task(f"training {label}", total=total, info="")

    def update(p) -> None:
        ret = "" if p.mean_return != p.mean_return else f"return {p.mean_return:7.1f}"
        progress.update(task, completed=min(p.steps, total), info=f"{p.phase:8s} {ret}")

    return update


@app.command()
@friendly
def train(
    file: ScenarioArg,
    method: Annotated[str, typer.Option(help=" | ".join(METHODS))] = "lorasa",
    steps: StepsOption = DEFAULT_STEPS,
    seed: int = 0,
    rank: Annotated[int, typer.Option(min=1, max=256, help="LoRA rank")] = 8,
    alpha: Annotated[float | None, typer.Option(help="LoRA alpha (default: rank)")] = None,
    layers: Annotated[str, typer.Option(help="adapter layers: all | deeper")] = "all",
    switch: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="LoRASA: share of budget trained as PS")
    ] = 0.5,
    resume: Annotated[
        int | None, typer.Option(help="continue an interrupted run from its last checkpoint")
    ] = None,
    checkpoints: Annotated[Path, typer.Option(help="folder for training checkpoints")] = Path(
        "checkpoints"
    ),
    checkpoint_every: Annotated[int, typer.Option(min=1, help="updates between checkpoints")] = 5,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Train one method with MAPPO and store the policy (LoRASA: base + one adapter/station).

    Checkpoints are written as training goes; after a crash, `--resume RUN_ID` continues."""
    from factory_twin.train.mappo import TrainConfig
    from factory_twin.train.pipeline import train_method

    training_method(method)
    if layers not in ("all", "deeper"):
        raise typer.BadParameter(f"--layers must be 'all' or 'deeper', got {layers!r}")
    sc, text = _load(file)
    cfg = TrainConfig(
        method=method,
        total_steps=steps,
        seed=seed,
        rank=rank,
        alpha=alpha,
        adapter_layers=layers,
        switch_fraction=switch,
    )
    database = _open_db(db)
    if resume is not None:
        run_info = database.get_run(resume)
        method, steps = run_info.method, run_info.config.get("total_steps", steps)
    with _progress() as progress:
        t = train_method(
            sc,
            text,
            cfg,
            database,
            _store(store),
            _train_progress(progress, label(method), steps),
            checkpoints=checkpoints,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
    counts = t.actor.parameter_counts()
    console.print(
        f"trained {label(method)} on '{sc.name}' (run {t.run_id}); "
        f"actor parameters {counts['total']:,}; stored under {store}",
        highlight=False,
    )


@app.command()
@friendly
def compare(
    file: ScenarioArg,
    steps: StepsOption = DEFAULT_STEPS,
    seeds: Annotated[int, typer.Option(min=2, max=1000, help="held-out evaluation seeds")] = 5,
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    methods: Annotated[str, typer.Option(help="comma-separated methods")] = "ps,ps-id,nps,lorasa",
    reuse: Annotated[
        bool, typer.Option(help="load stored policies instead of training when they exist")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="PNG chart path")] = None,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Train (or load) every method, evaluate each and the best heuristic on held-out seeds,
    print a KPI table with 95% CIs and write a PNG chart."""
    from factory_twin.report import chart, kpi_table
    from factory_twin.train.evaluate import eval_seeds, evaluate_actor, evaluate_heuristic
    from factory_twin.train.mappo import TrainConfig
    from factory_twin.train.pipeline import load_trained, train_method

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    for m in chosen:
        training_method(m)
    sc, text = _load(file)
    database, adapter_store = _open_db(db), _store(store)
    sid = database.ensure_scenario(sc.name, sc.content_hash(), text)
    seed_list = eval_seeds(seeds)
    results, extra = {}, {}
    with _progress() as progress:
        task = progress.add_task("heuristics", total=len(HEURISTICS), info="")
        best_name, best = None, None
        for name in HEURISTICS:
            kpis = evaluate_heuristic(sc, name, seed_list)
            if best is None or _mean_th(kpis) > _mean_th(best):
                best_name, best = name, kpis
            progress.advance(task)
        database.log_evaluation(sid, best_name, seed_list, best)
        results[f"best heuristic ({best_name})"] = best
        for m in chosen:
            trained = None
            if reuse:
                trained = _try_load(load_trained, adapter_store, sc, m)
            if trained is None:
                cfg = TrainConfig(method=m, total_steps=steps, seed=seed)
                trained = train_method(
                    sc,
                    text,
                    cfg,
                    database,
                    adapter_store,
                    _train_progress(progress, label(m), steps),
                )
            kpis = evaluate_actor(sc, trained.actor, seed_list)
            database.log_evaluation(sid, m, seed_list, kpis, config={"from_run": trained.run_id})
            results[label(m)] = kpis
            counts = trained.actor.parameter_counts()
            extra[label(m)] = {
                "actor params": f"{counts['total']:,}",
                "adapter/station": f"{counts['adapter_per_agent']:,}" if m == "lorasa" else "",
            }
    title = f"{sc.name}: {seeds} held-out seeds, {sc.horizon.length:g} min each, {steps:,} steps"
    console.print(kpi_table(title, results, extra))
    png = chart(out or Path("reports") / f"{sc.name}-compare.png", title, results)
    console.print(f"chart written to {png}")


def _mean_th(kpis) -> float:
    return sum(k.throughput for k in kpis) / len(kpis)


def _try_load(load, store, sc, method):
    try:
        return load(store, sc, method)
    except FactoryTwinError:
        return None


@app.command()
@friendly
def adapt(
    file: ScenarioArg,
    station: Annotated[str, typer.Option(help="the station you changed in the YAML")],
    steps: StepsOption = 60_000,
    seed: int = 0,
    seeds: Annotated[int, typer.Option(min=2, help="evaluation seeds")] = 5,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Re-train only one station's adapter after editing it (what-if analysis); every other
    adapter and the shared base stay as stored. Saves a new adapter version."""
    from factory_twin.report import kpi_table
    from factory_twin.train.adapt import adapt_station
    from factory_twin.train.evaluate import eval_seeds, evaluate_actor

    sc, text = _load(file)
    database, adapter_store = _open_db(db), _store(store)
    with _progress() as progress:
        before, after = adapt_station(
            sc,
            text,
            station,
            steps,
            seed,
            database,
            adapter_store,
            _train_progress(progress, f"adapter of {station}", steps),
        )
    seed_list = eval_seeds(seeds)
    results = {
        "stored adapters": evaluate_actor(sc, before.actor, seed_list),
        f"re-trained {station}": evaluate_actor(sc, after.actor, seed_list),
    }
    version = adapter_store.latest_version(sc.name, station)
    console.print(kpi_table(f"{sc.name} after editing {station}", results))
    console.print(f"new adapter version v{version} for {station}", highlight=False)


# --- watching ------------------------------------------------------------------------------


def _driver(sc: Scenario, policy: str, seed: int, store_root: Path):
    """A snapshot source for the viewer: heuristic or stored learned policy."""
    from factory_twin.viz.drivers import HeuristicDriver

    spec = resolve(policy)
    if spec.kind == "heuristic":
        return HeuristicDriver(sc, seed, spec.name)
    from factory_twin.train.pipeline import load_trained
    from factory_twin.viz.learned import LearnedDriver

    trained = load_trained(_store(store_root), sc, spec.name)
    return LearnedDriver(sc, trained.actor, seed, f"{sc.name} · {spec.label} · seed {seed}")


def _viz():
    try:
        from factory_twin.viz import app as viz_app
    except ImportError as exc:
        raise FactoryTwinError(
            f"the viewer needs pygame-ce and pillow ({exc}); install with: pip install -e '.[viz]'"
        ) from None
    return viz_app


@app.command()
@friendly
def watch(
    file: ScenarioArg,
    policy: Annotated[
        str, typer.Option(help="heuristic | shared | adapted | fifo | min-setup | ...")
    ] = "heuristic",
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="shared vs adapted on the same seed")
    ] = False,
    seed: int = 0,
    speed: Annotated[float, typer.Option(help="simulated minutes per second")] = 30.0,
    frames: Annotated[Path | None, typer.Option(help="write PNG frames here (headless)")] = None,
    gif: Annotated[Path | None, typer.Option(help="write an animated GIF (headless)")] = None,
    minutes: Annotated[float, typer.Option(help="simulated minutes to export")] = 600.0,
    every: Annotated[float, typer.Option(help="simulated minutes between frames")] = 10.0,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Watch the line in a window (space pause, right arrow step, +/- speed, click a station,
    Esc quit), or export frames / a GIF without a display."""
    sc, _ = _load(file)
    policies = ["shared", "adapted"] if side_by_side else [policy]
    drivers = [_driver(sc, p, seed, store) for p in policies]
    viz_app = _viz()
    if frames is not None:
        paths = viz_app.export_frames(drivers, minutes, every, frames)
        console.print(f"wrote {len(paths)} frames to {frames}")
    if gif is not None:
        console.print(f"wrote {viz_app.export_gif(drivers, minutes, every, gif)}")
    if frames is None and gif is None:
        viz_app.run_window(drivers, minutes_per_second=speed)


@app.command()
@friendly
def replay(
    run_id: Annotated[int, typer.Argument(help="a run stored with `run --record`")],
    speed: Annotated[float, typer.Option(help="simulated minutes per second")] = 30.0,
    gif: Annotated[Path | None, typer.Option(help="write an animated GIF instead")] = None,
    db: DbOption = None,
) -> None:
    """Replay a recorded run from the log's event table."""
    from factory_twin.viz.drivers import replay_run

    database = _open_db(db)
    try:
        driver = replay_run(database, run_id, label=f"replay of run {run_id}")
    except ValueError as exc:
        raise FactoryTwinError(f"{exc} (record one with `run --record`)") from None
    viz_app = _viz()
    if gif is not None:
        span = driver.snaps[-1].time - driver.snaps[0].time
        console.print(f"wrote {viz_app.export_gif([driver], span, max(span / 60, 1.0), gif)}")
    else:
        viz_app.run_window([driver], minutes_per_second=speed)


# --- parallel evaluation -------------------------------------------------------------------


@app.command()
@friendly
def sweep(
    file: ScenarioArg,
    policy: Annotated[str, typer.Option(help=f"one of {', '.join(names())}")] = "min-setup",
    seeds: Annotated[int, typer.Option(min=1, max=100_000, help="replications")] = 16,
    seed: Annotated[int, typer.Option(help="first seed")] = 0,
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="worker processes (1 = in this process)")
    ] = 2,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Evaluate many seeds of one policy in parallel processes; log one run, print KPIs.

    Results are the same for any number of workers (each seed's KPIs depend on the seed)."""
    from factory_twin.report import kpi_table
    from factory_twin.sweep import check_policy, log_sweep, run_sweep

    resolve(policy)
    sc, text = _load(file)
    check_policy(sc, policy, store)  # a missing stored policy fails here, before any work
    seed_list = list(range(seed, seed + seeds))
    database = _open_db(db)
    sid = database.ensure_scenario(sc.name, sc.content_hash(), text)
    with _progress() as progress:
        task = progress.add_task(
            f"{policy}: {seeds} seeds", total=seeds, info=f"{workers} worker(s)"
        )
        result = run_sweep(
            sc,
            policy,
            seed_list,
            workers=workers,
            store=store,
            on_result=lambda n: progress.advance(task, n),
        )
    run_id = log_sweep(database, sid, result)
    title = (
        f"{sc.name}: {seeds} seeds, {sc.horizon.length:g} min each, {workers} worker(s), "
        f"{result.seconds:.1f} s"
    )
    console.print(kpi_table(title, {f"{policy} (run {run_id})": result.kpis}))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FactoryTwinError as exc:  # raised outside a command (e.g. in option parsing)
        err_console.print(f"error: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
