"""`factory-twin`: the planner's command line. It parses, calls a workflow, prints.

Every command that reads a scenario validates it first; any problem with the user's input or
files is printed as one line (file, field, what was expected) and exits with code 2, without
a traceback. What each command does lives in `factory_twin.workflows`.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from factory_twin.cli_args import (
    MAX_RUN_ID,
    AlsoOption,
    DbOption,
    EvalSeedsOption,
    JsonOption,
    LikeOption,
    ParentOption,
    RayOption,
    ScenarioArg,
    SeedOption,
    SelectOption,
    StepsOption,
    StoreOption,
    ViewOption,
    WorkersOption,
    count,
    err_console,
    fail,
    int_range,
    one_of,
    scenario_warnings_as_lines,
)
from factory_twin.cli_progress import bars, console, progress_bars
from factory_twin.errors import FactoryTwinError
from factory_twin.policy.registry import HEURISTICS, METHODS, label, names, resolve, training_method
from factory_twin.scenario import json_schema, load_scenario
from factory_twin.train.config import ADAPTER_LAYERS, LORASA_BASES, LORASA_SWITCHES, TrainConfig

app = typer.Typer(
    help="Digital twin of production lines whose stations learn (MAPPO + LoRASA adapters).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def friendly(fn: Callable) -> Callable:
    """Turn the project's own errors into one line on stderr and exit code 2 (and scenario
    warnings into one line each)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with scenario_warnings_as_lines():
                return fn(*args, **kwargs)
        except FactoryTwinError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _workspace(file: Path, db: str | None, store: Path):
    from factory_twin.workflows import open_workspace

    return open_workspace(file, db, store)


def _open_db(db: str | None):
    from factory_twin.store.connection import database_url
    from factory_twin.store.runlog import open_db

    return open_db(database_url(db), create=False)  # read-only commands make no file


def _executor(workers: int | None, ray: str | None):
    from factory_twin.execute import make_executor

    return make_executor(workers, ray)


# --- scenario commands ---------------------------------------------------------------------


@app.command()
@friendly
def validate(file: ScenarioArg) -> None:
    """Check a scenario file and summarise the line it describes."""
    from factory_twin.scenario.capacity import nominal_bound, throughput_bound

    sc = load_scenario(file)
    nominal, bound = nominal_bound(sc), throughput_bound(sc)
    neck = sc.stations[nominal.bottleneck].name if nominal.bottleneck >= 0 else "arrivals"
    console.print(
        f"ok {file}: line '{sc.name}', {len(sc.stations)} stations, {len(sc.products)} "
        f"products; bottleneck {neck}, nominal {nominal.rate * 60:.1f} good parts/h at normal "
        f"speed; no policy above {bound.rate * 60:.1f} good parts/h (the bound)",
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
    seeds: count("--seeds", 1, 10_000, "replications") = 5,
    seed: SeedOption = 0,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
    record: Annotated[
        bool, typer.Option(help="record the first replication's whole horizon for `replay`")
    ] = False,
    json_out: JsonOption = None,
) -> None:
    """Simulate the scenario's horizon under a policy; log and print KPIs with 95% CIs (and
    % of the exact optimum where the line is small and Markovian)."""
    from factory_twin.report import kpi_table, simulation_json
    from factory_twin.workflows import simulate

    chosen = list(HEURISTICS) if policy == "all" else [policy]
    for name in chosen:
        resolve(name)
    ws = _workspace(file, db, store)
    seed_list = list(range(seed, seed + seeds))
    with progress_bars() as progress:
        found = simulate(ws, chosen, seed_list, bars(progress), record)
    title = f"{ws.scenario.name}: {seeds} seeds, {ws.scenario.horizon.length:g} min each"
    console.print(kpi_table(title, found.results, optimum=found.optimum))
    doc = simulation_json(ws.scenario.name, seed_list, found.results, found.optimum)
    _write_json(json_out, doc)


@app.command()
@friendly
def runs(db: DbOption = None, limit: count("--limit", 1, 100_000, "runs to list") = 30) -> None:
    """List the runs stored in the log, newest first."""
    from factory_twin.report import runs_table
    from factory_twin.store.run_owners import run_status

    database = _open_db(db)
    found = database.list_runs(limit)
    console.print(runs_table(f"runs in {database.where}", found, [run_status(r) for r in found]))


# --- learning ------------------------------------------------------------------------------


@app.command()
@friendly
def train(
    file: ScenarioArg,
    method: Annotated[str, typer.Option(help=" | ".join(METHODS))] = "lorasa",
    steps: StepsOption = TrainConfig.total_steps,
    seed: SeedOption = 0,
    rank: count("--rank", 1, 256, "LoRA rank") = TrainConfig.rank,
    alpha: Annotated[float | None, typer.Option(help="LoRA alpha (default: rank)")] = None,
    layers: Annotated[str, typer.Option(help="adapter layers: all | deeper")] = "all",
    switch: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="LoRASA: share of budget trained as the base")
    ] = TrainConfig.switch_fraction,
    lorasa_base: Annotated[
        str, typer.Option(help="LoRASA: shared policy the adapters start from: ps | ps-id")
    ] = TrainConfig.lorasa_base,
    lorasa_switch: Annotated[
        str, typer.Option(help="LoRASA: switch at --switch (fixed) or on the curve's plateau")
    ] = TrainConfig.lorasa_switch,
    resume: Annotated[
        int | None,
        typer.Option(
            callback=int_range("--resume", 1, MAX_RUN_ID),
            help="continue an interrupted run from its last checkpoint",
        ),
    ] = None,
    allow_changed_scenario: Annotated[
        bool, typer.Option(help="with --resume: continue even if the scenario file changed")
    ] = False,
    checkpoints: Annotated[Path, typer.Option(help="folder for training checkpoints")] = Path(
        "checkpoints"
    ),
    checkpoint_every: count("--checkpoint-every", 1, 10**6, "updates between checkpoints") = 5,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Train one method with MAPPO and store the policy (LoRASA: base + one adapter/station).

    Checkpoints are written as training goes; after a crash, `--resume RUN_ID` continues."""
    from factory_twin.workflows import train as train_workflow

    training_method(method)
    one_of("--layers", layers, ADAPTER_LAYERS)
    one_of("--lorasa-base", lorasa_base, LORASA_BASES)
    one_of("--lorasa-switch", lorasa_switch, LORASA_SWITCHES)
    cfg = TrainConfig(
        method=method, total_steps=steps, seed=seed, rank=rank, alpha=alpha,
        adapter_layers=layers, switch_fraction=switch, lorasa_base=lorasa_base,
        lorasa_switch=lorasa_switch,
    )  # fmt: skip
    ws = _workspace(file, db, store)
    with progress_bars() as progress:
        t = train_workflow(
            ws, cfg, bars(progress), checkpoints, checkpoint_every, resume, allow_changed_scenario
        )
    counts = t.actor.parameter_counts()
    console.print(
        f"trained {label(t.method)} on '{ws.scenario.name}' (run {t.run_id}); "
        f"actor parameters {counts['total']:,}; stored under {store}",
        highlight=False,
    )


@app.command()
@friendly
def compare(
    file: ScenarioArg,
    steps: StepsOption = TrainConfig.total_steps,
    train_seeds: count("--train-seeds", 1, 100, "training seeds per method (runs per method)") = 3,
    eval_seeds: EvalSeedsOption = 5,
    methods: Annotated[str, typer.Option(help="comma-separated methods")] = ",".join(METHODS),
    reuse: Annotated[
        bool, typer.Option(help="evaluate stored policies instead of training when they exist")
    ] = False,
    workers: WorkersOption = None,
    ray: RayOption = None,
    out: Annotated[Path | None, typer.Option(help="PNG chart path")] = None,
    json_out: JsonOption = None,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Train every method on several training seeds, evaluate each policy and the heuristics
    on the same held-out seeds, print levels and paired differences with 95% CIs over
    training seeds, and write charts (KPIs, learning curves)."""
    from factory_twin.compare_report import (
        behaviour_chart,
        behaviour_table,
        comparison_chart,
        comparison_table,
        curves_chart,
        verdict_lines,
        write_json,
    )
    from factory_twin.store.policies import safe_name
    from factory_twin.workflows import CompareSpec
    from factory_twin.workflows import compare as compare_workflow

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    for m in chosen:
        training_method(m)
    spec = CompareSpec(chosen, steps, train_seeds, eval_seeds, reuse)
    executor = _executor(workers, ray)
    ws = _workspace(file, db, store)
    with progress_bars() as progress:
        result = compare_workflow(ws, spec, executor, bars(progress))
    console.print(comparison_table(result))
    for line in verdict_lines(result):
        console.print(line, highlight=False)
    console.print(behaviour_table(result))
    stem = Path("reports") / safe_name(ws.scenario.name)
    png = comparison_chart(out or stem.with_name(f"{stem.name}-compare.png"), result)
    curves = curves_chart(png.with_name(f"{png.stem}-curves.png"), result)
    stations = behaviour_chart(png.with_name(f"{png.stem}-stations.png"), result)
    console.print(f"charts written to {png}, {curves} and {stations}", highlight=False)
    if json_out is not None:
        console.print(f"results written to {write_json(json_out, result)}", highlight=False)


@app.command()
@friendly
def adapt(
    file: ScenarioArg,
    station: Annotated[str, typer.Option(help="the station you changed or added in the YAML")],
    steps: StepsOption = 60_000,
    seed: SeedOption = 0,
    seeds: count("--seeds", 2, 1000, "evaluation seeds") = 5,
    parent: ParentOption = None,
    also: AlsoOption = None,
    like: LikeOption = None,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Re-train one station's adapter after editing it, or adapt a station added to a trained
    line on the stored base (what-if); everything else stays as stored. Saves a new version."""
    from factory_twin import cli_adapters

    cli_adapters.adapt(file, db, store, station, steps, seed, seeds, parent, (*(also or ()),), like)


@app.command()
@friendly
def truncate(
    file: ScenarioArg,
    eval_seeds: count("--eval-seeds", 2, 1000, "evaluation seeds") = 5,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Cut each LoRASA adapter by SVD to the smallest rank keeping throughput in the stored CI."""
    from factory_twin import cli_adapters

    cli_adapters.truncate(file, db, store, eval_seeds)


# --- watching ------------------------------------------------------------------------------


def _viz():
    try:
        from factory_twin.viz import commands as viz_app
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
    left: Annotated[str | None, typer.Option(help="left pane's policy (with --right)")] = None,
    right: Annotated[str | None, typer.Option(help="right pane's policy (with --left)")] = None,
    seed: SeedOption = 0,
    speed: Annotated[float, typer.Option(help="simulated minutes per second")] = 30.0,
    frames: Annotated[Path | None, typer.Option(help="write PNG frames here (headless)")] = None,
    gif: Annotated[Path | None, typer.Option(help="write an animated GIF (headless)")] = None,
    minutes: Annotated[float, typer.Option(help="simulated minutes to export")] = 600.0,
    every: Annotated[float, typer.Option(help="simulated minutes between frames")] = 10.0,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="show the warm-up too (default: start after it)")
    ] = False,
    select: SelectOption = None,
    view: ViewOption = "kpis",
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Watch the line in a window (space pause, PgUp/PgDn seek, +/- speed, g charts, click a
    station, h help, Esc quit), or export frames / a GIF without a display."""
    from factory_twin.store.policies import PolicyStore
    from factory_twin.viz.options import require_display, watch_plan
    from factory_twin.workflows import viewer_driver

    sc = load_scenario(file)
    plan = watch_plan(
        policy=policy, left=left, right=right, side_by_side=side_by_side, speed=speed,
        minutes=minutes, every=every, seed=seed, gif=gif, frames=frames, from_start=from_start,
        view=view, select=select, stations=[st.name for st in sc.stations],
    )  # fmt: skip
    if plan.window:
        require_display()
    viz_app = _viz()
    start = 0.0 if from_start else sc.horizon.warmup
    drivers = [viewer_driver(sc, p, seed, PolicyStore(store), start) for p in plan.policies]
    for line in viz_app.show(drivers, plan):
        console.print(line)


@app.command()
@friendly
def replay(
    run_id: Annotated[
        int,
        typer.Argument(
            callback=int_range("RUN_ID", 1, MAX_RUN_ID), help="a run stored with `run --record`"
        ),
    ],
    speed: Annotated[float, typer.Option(help="simulated minutes per second")] = 30.0,
    gif: Annotated[Path | None, typer.Option(help="write an animated GIF instead")] = None,
    select: SelectOption = None,
    view: ViewOption = "kpis",
    db: DbOption = None,
) -> None:
    """Replay a recorded run (space pause, PgUp/PgDn or 0-9 seek, g charts, h help)."""
    from factory_twin.viz.drivers import replay_run
    from factory_twin.viz.options import positive, require_display, view_name, writable_file

    positive("--speed", speed)
    view_name(view)
    writable_file("--gif", gif) if gif is not None else require_display()
    try:
        driver = replay_run(_open_db(db), run_id)
    except ValueError as exc:
        raise FactoryTwinError(f"{exc} (record one with `run --record`)") from None
    for line in _viz().replay(driver, speed, gif, select, view):
        console.print(line)


# --- parallel evaluation -------------------------------------------------------------------


@app.command()
@friendly
def sweep(
    file: ScenarioArg,
    policy: Annotated[str, typer.Option(help=f"one of {', '.join(names())}")] = "min-setup",
    seeds: count("--seeds", 1, 100_000, "replications") = 16,
    seed: SeedOption = 0,
    workers: WorkersOption = None,
    ray: RayOption = None,
    db: DbOption = None,
    store: StoreOption = Path("adapters_store"),
) -> None:
    """Evaluate many seeds of one policy on worker processes (or Ray); log one run, print KPIs.

    Results are the same for any number of workers (each seed's KPIs depend on the seed)."""
    from factory_twin.report import kpi_table
    from factory_twin.workflows import sweep as sweep_workflow

    resolve(policy)
    executor = _executor(workers, ray)
    ws = _workspace(file, db, store)
    with progress_bars() as progress:
        result = sweep_workflow(
            ws, policy, list(range(seed, seed + seeds)), executor, bars(progress)
        )
    title = (
        f"{ws.scenario.name}: {seeds} seeds, {ws.scenario.horizon.length:g} min each, "
        f"{result.workers} worker(s), {result.seconds:.1f} s"
    )
    console.print(kpi_table(title, {f"{policy} (run {result.run_id})": result.kpis}))


@app.command()
@friendly
def optimum(file: ScenarioArg, json_out: JsonOption = None) -> None:
    """Exact optimum of a small Markovian line, and the fixed policies held against it."""
    from factory_twin.optimum.yardstick import optimum_report
    from factory_twin.report import optimum_table

    sc = load_scenario(file)
    rep = optimum_report(sc, str(file))
    console.print(optimum_table(sc.name, rep))
    for sentence in rep.structure:
        console.print(f"optimal policy, {sentence}")
    console.print(f"states {rep.states}, policy iterations {rep.iterations}, {rep.seconds:.2f} s")
    _write_json(json_out, rep.to_json())


@app.command()
@friendly
def probe(
    file: ScenarioArg,
    policy: Annotated[str, typer.Option(help="heuristic or stored learned policy")] = "heuristic",
    seed: SeedOption = 0,
    store: StoreOption = Path("adapters_store"),
    json_out: JsonOption = None,
) -> None:
    """How well a station's own observation tells which station it is (held out, vs chance)."""
    from factory_twin.report import probe_table
    from factory_twin.workflows import probe as probe_workflow

    result = probe_workflow(file, policy, store, seed)
    console.print(probe_table(result))
    _write_json(json_out, result.to_json())


def _write_json(path: Path | None, doc: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FactoryTwinError as exc:  # raised outside a command (e.g. in option parsing)
        err_console.print(f"error: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
