"""One executor for training and evaluation jobs: this process, a local process pool, or Ray.

A job is a module-level function and its arguments; it computes and returns (weights, KPI
rows, learning curves) and never writes to the log or the store: only the driver does, so no
two processes ever write the same file. Every job draws its random numbers from the seeds in
its arguments, so its result does not depend on where it runs, on how many workers there are
or on the order in which they finish: `map` hands results back in job order.

Workers run one torch thread each (several single-threaded jobs keep the cores busier than one
multi-threaded job at this network size). Ctrl-C in the driver stops every worker at once:
the local pool is terminated, Ray tasks are cancelled with force. SIGTERM to the driver does
the same and exits with 143.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from factory_twin.errors import FactoryTwinError

POLL_S = 0.2  # how often the driver wakes while waiting, so Ctrl-C is noticed at once


class ExecutorError(FactoryTwinError):
    """The executor cannot run as asked (bad worker count, Ray missing or unreachable)."""


@dataclass(frozen=True)
class Job:
    """`fn(*args)`, run somewhere; `fn` must be importable by name (a module-level function)."""

    fn: Callable[..., Any]
    args: tuple


OnResult = Callable[[int, Any], None]  # (job index, result), called in the driver as each ends


class Executor(Protocol):
    """Runs jobs and returns their results in job order."""

    workers: int

    def map(self, jobs: Sequence[Job], on_result: OnResult | None = None) -> list[Any]: ...


def single_threaded() -> None:
    """Worker set-up: one thread per worker for torch and the BLAS libraries."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _pool_worker() -> None:
    """Ctrl-C is the driver's to handle: it terminates the pool, workers do not race it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    single_threaded()


def _run(job: Job) -> Any:
    single_threaded()
    return job.fn(*job.args)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (`kill`, a scheduler's stop) ends the driver through `map`'s clean-up, as Ctrl-C
    does: workers terminated, Ray tasks cancelled, the caller's unfinished runs marked
    interrupted. Its default ends the driver at once and leaves a pool's spawned workers
    running their jobs unwatched. Only the main thread may set a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame) -> None:
        signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


class InProcess:
    """Jobs one after another in this process: no start-up cost, the reference for the rest."""

    workers = 1

    def map(self, jobs: Sequence[Job], on_result: OnResult | None = None) -> list[Any]:
        results = []
        with _sigterm_as_exit():
            for i, job in enumerate(jobs):
                results.append(job.fn(*job.args))
                if on_result is not None:
                    on_result(i, results[-1])
        return results


class LocalPool:
    """A pool of `spawn`ed worker processes on this machine (no forked torch threads or open
    database connections)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map(self, jobs: Sequence[Job], on_result: OnResult | None = None) -> list[Any]:
        done: queue.Queue = queue.Queue()
        results: dict[int, Any] = {}
        ctx = multiprocessing.get_context("spawn")
        with _sigterm_as_exit():
            pool = ctx.Pool(min(self.workers, len(jobs)), initializer=_pool_worker)
            try:
                for i, job in enumerate(jobs):
                    pool.apply_async(
                        job.fn,
                        job.args,
                        callback=lambda r, i=i: done.put((i, r, None)),
                        error_callback=lambda e, i=i: done.put((i, None, e)),
                    )
                while len(results) < len(jobs):
                    try:
                        i, result, error = done.get(timeout=POLL_S)
                    except queue.Empty:
                        continue
                    if error is not None:
                        raise error
                    results[i] = result
                    if on_result is not None:
                        on_result(i, result)
            except BaseException:
                pool.terminate()  # Ctrl-C, SIGTERM or a failed job: stop every worker now
                raise
            finally:
                pool.close()
                pool.join()
        return [results[i] for i in range(len(jobs))]


class RayTasks:
    """Jobs as Ray tasks (one CPU each) on an existing Ray cluster, or the one this process has
    already started (`ray.init(...)` before building the executor, as the tests do)."""

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "--ray needs Ray: install with pip install -e '.[cluster]'"
            ) from None
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise ExecutorError(f"--ray {address}: cannot connect ({first})") from None
        self._ray = ray
        self.workers = int(ray.cluster_resources().get("CPU", 1))

    def map(self, jobs: Sequence[Job], on_result: OnResult | None = None) -> list[Any]:
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=0)(_run)
        refs = [remote.remote(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: dict[int, Any] = {}
        pending = list(refs)
        with _sigterm_as_exit():
            try:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                    for ref in ready:
                        i = index[ref]
                        results[i] = _unwrap(ray, ref)
                        if on_result is not None:
                            on_result(i, results[i])
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        return [results[i] for i in range(len(jobs))]


def _unwrap(ray, ref) -> Any:
    """A job's result; a project error raised in the task comes back as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, FactoryTwinError):
            raise exc.cause from None
        raise


def make_executor(workers: int | None = None, ray_address: str | None = None) -> Executor:
    """`ray_address` (an address or 'auto') selects Ray; otherwise `workers` local processes
    (None: every core; 1: in this process)."""
    if ray_address is not None:
        return RayTasks(ray_address)
    n = (os.cpu_count() or 1) if workers is None else workers
    if n < 1:
        raise ExecutorError(f"--workers must be at least 1, got {n}")
    return InProcess() if n == 1 else LocalPool(n)
