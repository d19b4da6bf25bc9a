"""Evaluation sweeps: many seeds of one policy, spread over the executor's workers.

A sweep runs the scenario's full horizon once per seed under a heuristic (through the plain
simulator) or a stored learned policy (through the environment, greedy actions), exactly as
`factory-twin run` does, but in parallel processes. Workers only compute: each returns the KPIs
of its seeds, and the parent logs the whole sweep as one run with an episode per seed.

Results do not depend on the number of workers: every seed's KPIs are a function of the
scenario, the policy and that seed alone. Heuristic seeds are independent simulations; learned
policies are evaluated in fixed chunks of consecutive seeds (`LEARNED_CHUNK`, batched through
the actor as `evaluate_actor` does) whose boundaries depend only on the seed list, never on how
many workers there are or which worker picks a chunk up.

The chunks are jobs for `factory_twin.execute` (this process, a local pool or Ray tasks), so
Ctrl-C stops every worker at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from factory_twin.errors import FactoryTwinError
from factory_twin.execute import Executor, InProcess, Job
from factory_twin.policy.registry import heuristic, resolve
from factory_twin.scenario import Scenario
from factory_twin.sim.kpi import KPIs

if TYPE_CHECKING:
    from factory_twin.store.runlog import Database

LEARNED_CHUNK = 4  # seeds per actor batch for learned policies (fixed: results must not vary)


class SweepError(FactoryTwinError):
    """A sweep cannot run as asked (no stored policy, bad worker count or seeds)."""


@dataclass
class SweepResult:
    scenario: str
    policy: str
    seeds: list[int]
    kpis: list[KPIs]  # in seed order
    workers: int
    seconds: float
    run_id: int | None = None


def chunks(seeds: Sequence[int], policy: str) -> list[list[int]]:
    """How the seeds are split into work items: one seed per item for heuristics, fixed chunks
    of `LEARNED_CHUNK` consecutive seeds for learned policies. Depends on nothing else."""
    size = 1 if resolve(policy).kind == "heuristic" else LEARNED_CHUNK
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


# --- worker side --------------------------------------------------------------------------------

_ACTORS: dict[tuple, object] = {}  # per worker process: (store, scenario hash, policy) -> actor


def _load_actor(scenario: Scenario, policy: str, store: str):
    key = (store, scenario.content_hash(), policy)
    if key not in _ACTORS:
        from factory_twin.store.policies import PolicyStore
        from factory_twin.train.pipeline import load_trained

        _ACTORS[key] = load_trained(PolicyStore(Path(store)), scenario, policy).actor
    return _ACTORS[key]


def evaluate_chunk(
    scenario: Scenario, policy: str, seeds: list[int], store: str | None
) -> list[KPIs]:
    """KPIs of `seeds` under `policy` (runs in a worker, or in-process with one worker)."""
    if resolve(policy).kind == "heuristic":
        from factory_twin.sim.run import simulate

        sc, decider = heuristic(policy, scenario)
        return [simulate(sc, s, decider) for s in seeds]
    from factory_twin.train.evaluate import evaluate_actor

    if store is None:
        raise SweepError(f"policy {policy!r} is learned: an adapter store is needed")
    return evaluate_actor(scenario, _load_actor(scenario, policy, store), list(seeds))


# --- parent side --------------------------------------------------------------------------------


def check_policy(scenario: Scenario, policy: str, store: str | os.PathLike | None) -> None:
    """Fail early, in the parent, when a learned policy is not stored (or does not fit)."""
    if resolve(policy).kind == "learned":
        if store is None:
            raise SweepError(f"policy {policy!r} is learned: pass the adapter store (--store)")
        _load_actor(scenario, policy, str(store))


def run_sweep(
    scenario: Scenario,
    policy: str,
    seeds: Sequence[int],
    executor: Executor | None = None,
    store: str | os.PathLike | None = None,
    on_result: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate every seed on the executor (default: in this process); `on_result(n)` is
    called as results for `n` more seeds arrive. KPIs come back in seed order."""
    executor = executor or InProcess()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise SweepError("no seeds to evaluate")
    if len(set(seeds)) != len(seeds):
        raise SweepError("seeds must be distinct (one episode per seed)")
    check_policy(scenario, policy, store)
    store_s = None if store is None else str(store)
    items = chunks(seeds, policy)
    jobs = [Job(evaluate_chunk, (scenario, policy, chunk, store_s)) for chunk in items]
    t0 = time.perf_counter()

    def arrived(i: int, _) -> None:
        if on_result is not None:
            on_result(len(items[i]))

    results = executor.map(jobs, on_result=arrived)
    kpis = [k for chunk in results for k in chunk]
    return SweepResult(
        scenario.name, policy, seeds, kpis, executor.workers, time.perf_counter() - t0
    )


def log_sweep(db: Database, scenario_id: int, result: SweepResult) -> int:
    """Store the sweep as one run with an episode per seed (the same rows `run` writes) under
    the scenario registered as `scenario_id` (`Database.ensure_scenario`)."""
    kind = "simulate" if resolve(result.policy).kind == "heuristic" else "evaluate"
    result.run_id = db.log_evaluation(
        scenario_id,
        result.policy,
        result.seeds,
        result.kpis,
        kind=kind,
        config={"sweep": {"workers": result.workers}},
    )
    return result.run_id
