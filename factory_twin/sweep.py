"""Evaluation sweeps: many seeds of one policy, spread over worker processes.

A sweep runs the scenario's full horizon once per seed under a heuristic (through the plain
simulator) or a stored learned policy (through the environment, greedy actions), exactly as
`factory-twin run` does, but in parallel processes. Workers only compute: each returns the KPIs
of its seeds, and the parent logs the whole sweep as one run with an episode per seed.

Results do not depend on the number of workers: every seed's KPIs are a function of the
scenario, the policy and that seed alone. Heuristic seeds are independent simulations; learned
policies are evaluated in fixed chunks of consecutive seeds (`LEARNED_CHUNK`, batched through
the actor as `evaluate_actor` does) whose boundaries depend only on the seed list, never on how
many workers there are or which worker picks a chunk up.

Workers are started with the `spawn` method (no forked copies of the parent's torch threads or
database connections) and use one torch thread each.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from factory_twin.errors import FactoryTwinError
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


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def _load_actor(scenario: Scenario, policy: str, store: str):
    key = (store, scenario.content_hash(), policy)
    if key not in _ACTORS:
        import torch

        from factory_twin.store.policies import PolicyStore
        from factory_twin.train.pipeline import load_trained

        torch.set_num_threads(1)
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
    workers: int = 1,
    store: str | os.PathLike | None = None,
    on_result: Callable[[int], None] | None = None,
) -> SweepResult:
    """Evaluate every seed; `on_result(n)` is called as results for `n` more seeds arrive.

    With one worker everything runs in this process (no start-up cost); with more, work items
    go to a `spawn` process pool and are collected as they finish. KPIs come back in seed
    order either way."""
    if workers < 1:
        raise SweepError(f"workers must be at least 1, got {workers}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise SweepError("no seeds to evaluate")
    if len(set(seeds)) != len(seeds):
        raise SweepError("seeds must be distinct (one episode per seed)")
    check_policy(scenario, policy, store)
    store_s = None if store is None else str(store)
    items = chunks(seeds, policy)
    results: dict[int, list[KPIs]] = {}
    t0 = time.perf_counter()
    if workers == 1 or len(items) == 1:
        for i, chunk in enumerate(items):
            results[i] = evaluate_chunk(scenario, policy, chunk, store_s)
            if on_result is not None:
                on_result(len(chunk))
    else:
        ctx = multiprocessing.get_context("spawn")
        n_proc = min(workers, len(items))
        with ProcessPoolExecutor(n_proc, mp_context=ctx, initializer=_init_worker) as pool:
            pending: dict[Future, int] = {
                pool.submit(evaluate_chunk, scenario, policy, chunk, store_s): i
                for i, chunk in enumerate(items)
            }
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = pending.pop(fut)
                        results[i] = fut.result()
                        if on_result is not None:
                            on_result(len(items[i]))
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    kpis = [k for i in range(len(items)) for k in results[i]]
    return SweepResult(
        scenario.name, policy, seeds, kpis, workers, time.perf_counter() - t0, run_id=None
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
