"""What each planner's command does, minus parsing and printing.

A workflow works on a `Workspace`: the scenario, loaded and validated once, registered in the
log once (its id travels with the workspace), the log and the policy store. It runs the work
(through the executor where there are many jobs), writes what must be kept - only here, in the
driver: workers return results and never write - and returns results for the CLI to print.
Progress goes to a `Track` the caller supplies (the CLI draws rich bars).

Training and evaluation modules are imported inside the workflows that use them, so a
command pays only for what it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from factory_twin.comparison import Comparison, MethodResult, eval_seeds
from factory_twin.errors import FactoryTwinError
from factory_twin.execute import Executor, Job
from factory_twin.optimum.value import LineOptimum
from factory_twin.policy import registry
from factory_twin.scenario import Scenario, load_scenario
from factory_twin.sim.kpi import KPIs
from factory_twin.store.connection import database_url
from factory_twin.store.curves import add_updates
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import load_lorasa_set, set_path
from factory_twin.store.run_owners import mark_abandoned_runs
from factory_twin.store.runlog import Database, ending_status, open_db
from factory_twin.store.writable import require_writable
from factory_twin.train.config import TrainConfig

if TYPE_CHECKING:
    from factory_twin.sweep import SweepResult
    from factory_twin.train.jobs import TrainResult
    from factory_twin.train.mappo import Progress
    from factory_twin.train.pipeline import Trained
    from factory_twin.train.probe import ProbeResult
    from factory_twin.train.truncate import Truncation


class Task(Protocol):
    """One progress bar."""

    def advance(self, n: int = 1) -> None: ...

    def update(self, completed: int, info: str = "") -> None: ...


Track = Callable[[str, int], Task]  # (description, total) -> a task to report on


STORE_WHAT = "the policy store (--store)"


@dataclass
class Workspace:
    """What every command works on: the scenario, its row in the log, the log and the store."""

    scenario: Scenario
    scenario_id: int
    db: Database
    store: PolicyStore


def open_workspace(path: Path, db: str | None, store: Path) -> Workspace:
    """Load and validate the scenario, open the log, register the scenario once."""
    scenario = load_scenario(path)
    database = open_db(database_url(db))
    text = path.read_text(encoding="utf-8")
    sid = database.ensure_scenario(scenario.name, scenario.content_hash(), text)
    mark_abandoned_runs(database)  # runs left 'running' by a dead process say so now
    return Workspace(scenario, sid, database, PolicyStore(store))


def line_optimum(scenario: Scenario) -> LineOptimum | None:
    """The yardstick of "% of optimum": the line's exact optimum, where it is solvable (solved
    once per scenario content in this process), else None."""
    from factory_twin.optimum.yardstick import line_optimum as solve

    return solve(scenario)


# --- simulate ------------------------------------------------------------------------------


@dataclass
class Simulation:
    """What `run` shows: per policy ('name (run id)') its replications' KPIs, and the line's
    exact optimum where it is solvable."""

    results: dict[str, list[KPIs]]
    optimum: LineOptimum | None


def simulate(
    ws: Workspace, names: list[str], seeds: list[int], track: Track, record: bool = False
) -> Simulation:
    """Run the horizon once per seed under each policy and log one run per policy; with
    `record`, store the first seed's whole horizon for `replay`."""
    results = {}
    for name in names:
        task = track(f"simulating {name}", len(seeds))
        kpis = _evaluate_policy(ws, name, seeds, task)
        run_id = ws.db.log_evaluation(ws.scenario_id, name, seeds, kpis, kind="simulate")
        if record:
            _record(ws, run_id, name, seeds[0])
        results[f"{name} (run {run_id})"] = kpis
    return Simulation(results, line_optimum(ws.scenario))


def _evaluate_policy(ws: Workspace, name: str, seeds: list[int], task: Task) -> list[KPIs]:
    from factory_twin.train.evaluate import evaluate_actor, evaluate_heuristic
    from factory_twin.train.pipeline import load_trained

    if registry.resolve(name).kind == "heuristic":
        out = []
        for s in seeds:  # one seed at a time, so the bar moves
            out += evaluate_heuristic(ws.scenario, name, [s])
            task.advance()
        return out
    out = evaluate_actor(ws.scenario, load_trained(ws.store, ws.scenario, name).actor, seeds)
    task.advance(len(seeds))
    return out


def _record(ws: Workspace, run_id: int, name: str, seed: int) -> None:
    from factory_twin.viz.drivers import close_all
    from factory_twin.viz.recording import record_run

    driver = viewer_driver(ws.scenario, name, seed, ws.store)
    try:
        ws.db.add_events(run_id, record_run(driver))  # the whole horizon, warm-up included
    finally:
        close_all([driver])


def viewer_driver(sc: Scenario, policy: str, seed: int, store: PolicyStore, start: float = 0.0):
    """A snapshot source for the viewer: a heuristic, or a stored learned policy (which
    computes ahead in the background from simulated minute `start` on)."""
    from factory_twin.viz.drivers import HeuristicDriver

    spec = registry.resolve(policy)
    if spec.kind == "heuristic":
        return HeuristicDriver(sc, seed, spec.name)
    from factory_twin.train.pipeline import load_trained
    from factory_twin.viz.learned import LearnedDriver

    trained = load_trained(store, sc, spec.name)
    label = f"{sc.name} · {spec.label} · seed {seed}"
    return LearnedDriver(sc, trained.actor, seed, label, start=start)


# --- compare -------------------------------------------------------------------------------


@dataclass
class CompareSpec:
    """What `compare` trains and how it evaluates."""

    methods: list[str]
    steps: int = TrainConfig.total_steps
    train_seeds: int = 3  # per method: the fewest that give a useful interval over seeds
    eval_seeds: int = 5  # held-out, shared by every policy (common random numbers)
    reuse: bool = False  # evaluate the stored policy of a method instead of training it


@dataclass
class _Run:
    """One trained (or stored) policy of a method, with its evaluation and learning curve."""

    trained: Trained
    kpis: list[KPIs]
    curve: list[tuple[int, float]] = field(default_factory=list)


def compare(ws: Workspace, spec: CompareSpec, executor: Executor, track: Track) -> Comparison:
    """Train every method on `train_seeds` seeds and evaluate each policy and every heuristic
    on the same held-out seeds, all as jobs on the executor. Training runs are logged as
    'running' up front; each is stored and logged as it arrives, and a Ctrl-C leaves the rest
    marked 'interrupted'."""
    from factory_twin.train.jobs import evaluate_job, train_job

    sc, seeds = ws.scenario, eval_seeds(spec.eval_seeds)
    stored = _stored_policies(ws, spec.methods) if spec.reuse else {}
    if any(m not in stored for m in spec.methods):
        require_writable(ws.store.root, STORE_WHAT)
    plan: list[tuple[str, Job]] = [
        (h, Job(evaluate_job, (sc, h, seeds))) for h in registry.HEURISTICS
    ]
    plan += [(m, Job(evaluate_job, (sc, t.actor, seeds))) for m, t in stored.items()]
    pending: dict[int, int] = {}  # plan index -> run id of a training job
    for m in (m for m in spec.methods if m not in stored):
        for s in range(spec.train_seeds):
            cfg = TrainConfig(method=m, total_steps=spec.steps, seed=s)
            pending[len(plan)] = ws.db.start_run(ws.scenario_id, "train", m, s, cfg.to_dict())
            plan.append((m, Job(train_job, (sc, cfg, seeds))))
    task = track(f"{len(pending)} training runs, {len(plan) - len(pending)} evaluations", len(plan))
    runs: dict[int, _Run] = {}

    def arrived(i: int, result) -> None:
        if i in pending:
            runs[i] = _keep_training(ws, pending[i], result, seeds)
            del pending[i]  # only once stored: a failure here leaves the run to be marked
        task.advance()

    try:
        results = executor.map([job for _, job in plan], on_result=arrived)
    except BaseException as exc:
        for run_id in pending.values():
            ws.db.finish_run(run_id, ending_status(exc))
        raise
    return _comparison(ws, spec, plan, results, runs, stored)


def _comparison(
    ws: Workspace,
    spec: CompareSpec,
    plan: list[tuple[str, Job]],
    results: list,
    runs: dict[int, _Run],
    stored: dict[str, Trained],
) -> Comparison:
    """Assemble the comparison in plan order; log the best heuristic and reused policies."""
    seeds = eval_seeds(spec.eval_seeds)
    n_h = len(registry.HEURISTICS)
    heuristics = {name: kpis for (name, _), kpis in zip(plan[:n_h], results, strict=False)}
    best = max(heuristics, key=lambda h: _mean(heuristics[h], "throughput"))
    ws.db.log_evaluation(ws.scenario_id, best, seeds, heuristics[best])
    by_method: dict[str, list[_Run]] = {m: [] for m in spec.methods}
    for i, (name, _) in enumerate(plan[n_h:], start=n_h):
        if i in runs:
            by_method[name].append(runs[i])
        else:
            config = {"from_run": stored[name].run_id}
            ws.db.log_evaluation(ws.scenario_id, name, seeds, results[i], config=config)
            by_method[name].append(_Run(stored[name], results[i]))
    out = Comparison(ws.scenario.name, spec.steps, seeds, best, heuristics[best], [])
    out.optimum = line_optimum(ws.scenario)
    for m, method_runs in by_method.items():
        out.methods.append(_method_result(m, method_runs))
        out.curves[m] = [r.curve for r in method_runs if r.curve]
    return out


def _stored_policies(ws: Workspace, methods: list[str]) -> dict[str, Trained]:
    """The stored policy of each method that has one that fits this scenario."""
    from factory_twin.train.pipeline import load_trained

    found = {}
    for m in methods:
        try:
            found[m] = load_trained(ws.store, ws.scenario, m)
        except FactoryTwinError:
            continue
    return found


def _keep_training(ws: Workspace, run_id: int, result: TrainResult, seeds: list[int]) -> _Run:
    """The driver's half of a training job: log its episodes, store its policy, log its
    evaluation on the held-out seeds."""
    from factory_twin.train.pipeline import save_trained

    ws.db.add_episodes(run_id, result.episodes)
    add_updates(ws.db, run_id, result.curve)
    trained = result.trained(run_id)
    save_trained(ws.store, ws.db, ws.scenario, trained)
    ws.db.finish_run(run_id, "done")
    config = {"from_run": run_id}
    ws.db.log_evaluation(ws.scenario_id, trained.method, seeds, result.evaluation, config=config)
    curve = [(p.steps, p.throughput) for p in result.curve if p.throughput == p.throughput]
    return _Run(trained, result.evaluation, curve)


def _method_result(method: str, runs: list[_Run]) -> MethodResult:
    counts = runs[0].trained.actor.parameter_counts()
    params = {"actor params": counts["total"]}
    if method == "lorasa":
        params["adapter params/station"] = counts["adapter_per_agent"]
    return MethodResult(
        method,
        registry.label(method),
        [r.trained.config.get("seed", 0) for r in runs],
        [r.kpis for r in runs],
        params,
        [r.trained.run_id for r in runs],
    )


def _mean(kpis: list[KPIs], attr: str) -> float:
    return sum(getattr(k, attr) for k in kpis) / len(kpis)


# --- train, what-if, sweep -----------------------------------------------------------------


def train(
    ws: Workspace,
    cfg: TrainConfig,
    track: Track,
    checkpoints: Path | None = None,
    checkpoint_every: int = 5,
    resume: int | None = None,
    allow_changed: bool = False,
) -> Trained:
    """Train one method in this process (checkpointed, resumable) and store it; `resume`
    continues a run from its stored config and last checkpoint (`allow_changed`: even if the
    scenario file changed since)."""
    from factory_twin.train.pipeline import train_method
    from factory_twin.train.resumable import resumable_run

    require_writable(ws.store.root, STORE_WHAT)
    if checkpoints is not None:
        require_writable(checkpoints, "training checkpoints (--checkpoints)")
    if resume is not None:
        _, cfg = resumable_run(ws.db, resume, ws.scenario, ws.scenario_id, allow_changed)
    task = track(f"training {registry.label(cfg.method)}", cfg.total_steps)
    return train_method(
        ws.scenario,
        ws.scenario_id,
        cfg,
        ws.db,
        ws.store,
        _on_progress(task, cfg.total_steps),
        checkpoints=checkpoints,
        checkpoint_every=checkpoint_every,
        resume=resume,
        allow_changed=allow_changed,
    )


def _on_progress(task: Task, total: int) -> Callable[[Progress], None]:
    def update(p: Progress) -> None:
        ret = "" if p.mean_return != p.mean_return else f"return {p.mean_return:7.1f}"
        task.update(min(p.steps, total), f"{p.phase:8s} {ret}")

    return update


@dataclass
class WhatIf:
    """The line before and after one station's adapter was (re-)trained: for an edited station
    the stored adapters and the re-trained one; for a station new to the stored line, the new
    station running the shared base (its adapter at zero) and its adapted adapter."""

    station: str
    results: dict[str, list[KPIs]]
    version: int | None
    extends: str | None = None  # the stored line a new station was added to
    twin: str | None = None  # the stored station whose id a new station took (an id base)

    def title(self, scenario: str) -> str:
        if self.extends is None:
            return f"{scenario} after editing {self.station}"
        return f"{scenario}: {self.station} added to {self.extends}"


def what_if(
    ws: Workspace,
    station: str,
    steps: int,
    seed: int,
    n_eval: int,
    track: Track,
    parent: str | None = None,
    also: tuple[str, ...] = (),
    like: str | None = None,
) -> WhatIf:
    """Re-train only `station`'s adapter after the planner edited it; or, when the stored
    policy has never seen `station` (a station added to a trained line, saved under a new
    name or the same one), adapt the new station on the stored base (`train.extend`; `like`
    names the stored station whose id it wears where the base sees ids). Evaluates before and
    after on the same seeds."""
    from factory_twin.train.adapt import adapt_station
    from factory_twin.train.evaluate import evaluate_actor
    from factory_twin.train.extend import extend_line

    require_writable(ws.store.root, STORE_WHAT)
    name = ws.scenario.name
    known = (
        set_path(ws.store, name).exists() and station in load_lorasa_set(ws.store, name).adapters
    )
    task = track(f"adapter of {station}", steps)
    progress = _on_progress(task, steps)
    seeds = eval_seeds(n_eval)
    if parent is None and known:
        if also or like:
            flag = "--also" if also else "--like"
            raise FactoryTwinError(f"{flag}: only for a station the stored policy has never seen")
        before, after = adapt_station(
            ws.scenario, ws.scenario_id, station, steps, seed, ws.db, ws.store, progress
        )
        labels, extends, twin = ("stored adapters", f"re-trained {station}"), None, None
    else:
        ext = extend_line(
            ws.scenario, ws.scenario_id, station, steps, seed, ws.db, ws.store,
            parent, also, progress, like,
        )  # fmt: skip
        before, after, extends, twin = ext.start, ext.after, ext.parent, ext.twin
        labels = (f"{station} on the shared base", f"{station} adapted")
    results = {
        labels[0]: evaluate_actor(ws.scenario, before.actor, seeds),
        labels[1]: evaluate_actor(ws.scenario, after.actor, seeds),
    }
    published = load_lorasa_set(ws.store, ws.scenario.name).adapters[station].version
    return WhatIf(station, results, published, extends, twin)


def truncate(ws: Workspace, n_eval: int, track: Track) -> Truncation:
    """Cut every station's adapter of the stored LoRASA policy to the rank it needs
    (`train.truncate`), on `n_eval` held-out seeds; publishes the cut adapters."""
    from factory_twin.train.truncate import truncate_policy

    task = track("stations truncated", len(ws.scenario.stations))
    return truncate_policy(
        ws.scenario, ws.db, ws.store, eval_seeds(n_eval), lambda _n, _r: task.advance()
    )


def sweep(
    ws: Workspace, policy: str, seeds: list[int], executor: Executor, track: Track
) -> SweepResult:
    """Many seeds of one policy as jobs on the executor, logged as one run."""
    from factory_twin.sweep import check_policy, log_sweep, run_sweep

    check_policy(ws.scenario, policy, ws.store.root)  # a missing stored policy fails before work
    task = track(f"{policy}: {len(seeds)} seeds", len(seeds))
    result = run_sweep(ws.scenario, policy, seeds, executor, ws.store.root, task.advance)
    log_sweep(ws.db, ws.scenario_id, result)
    return result


# --- probe ---------------------------------------------------------------------------------


def probe(path: Path, policy: str, store: Path, seed: int = 0) -> ProbeResult:
    """Whether a station's own observation tells which station it is, on the line run by a
    heuristic (as the simulator runs it) or by a stored learned policy. Reads the store only:
    nothing is logged."""
    from factory_twin.train.probe import actor_chooser, heuristic_chooser, probe_line

    scenario = load_scenario(path)
    spec = registry.resolve(policy)
    if spec.kind == "heuristic":
        released, decider = registry.heuristic(spec.name, scenario)
        return probe_line(released, heuristic_chooser(decider), spec.name, seed)
    from factory_twin.train.pipeline import load_trained

    actor = load_trained(PolicyStore(store), scenario, spec.name).actor
    return probe_line(scenario, actor_chooser(actor), spec.name, seed)
