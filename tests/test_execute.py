"""One executor, three backends, the same numbers: training and evaluation jobs give
bit-identical weights and KPIs in this process, in a local pool of 2 workers and as Ray tasks
on a local Ray (started here with 2 CPUs)."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from helpers import TINY_TRAIN, rushable_line

from factory_twin.errors import UnknownPolicyError
from factory_twin.execute import ExecutorError, InProcess, Job, LocalPool, RayTasks, make_executor
from factory_twin.train.config import TrainConfig
from factory_twin.train.jobs import evaluate_job, train_job


def _jobs() -> list[Job]:
    sc = rushable_line()
    train = [Job(train_job, (sc, TrainConfig(method=m, seed=s, **TINY_TRAIN))) for m, s in
             [("lorasa", 0), ("ps", 1), ("nps", 2)]]  # fmt: skip
    evaluate = [Job(evaluate_job, (sc, "fifo", [s, s + 1])) for s in (5, 9)]
    return train + evaluate


def _fingerprint(results) -> list:
    out = []
    for r in results:
        if isinstance(r, list):  # evaluation: KPIs per seed
            out.append([k.summary() for k in r])
        else:
            weights = [r.actor[k].clone() for k in sorted(r.actor)]
            curve = [(p.steps, p.throughput) for p in r.curve]
            out.append((weights, curve, [e[3] for e in r.episodes]))
    return out


def _same(a: list, b: list) -> bool:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, list):
            if x != y:
                return False
            continue
        if not all(torch.equal(u, v) for u, v in zip(x[0], y[0], strict=True)):
            return False
        if x[1:] != y[1:]:
            return False
    return True


@pytest.fixture(scope="module")
def reference():
    seen = []
    results = InProcess().map(_jobs(), on_result=lambda i, _: seen.append(i))
    assert seen == list(range(len(results)))
    return _fingerprint(results)


def test_jobs_return_weights_curves_and_episodes(reference) -> None:
    weights, curve, episodes = reference[0]
    assert len(weights) > 0 and len(episodes) > 0
    assert curve[-1][0] >= 1024 and curve[-1][1] == curve[-1][1]  # final greedy point measured
    assert reference[3] != reference[4]  # different seeds, different KPIs


def test_local_pool_gives_identical_results(reference) -> None:
    seen = []
    results = LocalPool(2).map(_jobs(), on_result=lambda i, _: seen.append(i))
    assert sorted(seen) == list(range(len(results)))
    assert _same(_fingerprint(results), reference)


def test_ray_gives_identical_results(reference) -> None:
    import ray  # the cluster extra: installed by the README test command, never skipped

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayTasks("auto")
        assert executor.workers == 2
        assert _same(_fingerprint(executor.map(_jobs())), reference)
    finally:
        ray.shutdown()


def test_a_failing_job_fails_the_map_with_its_error() -> None:
    bad = [Job(evaluate_job, (rushable_line(), "no-such-rule", [1]))]
    with pytest.raises(UnknownPolicyError, match="unknown heuristic 'no-such-rule'; expected one"):
        LocalPool(2).map(bad + [Job(evaluate_job, (rushable_line(), "fifo", [1]))])


def test_worker_count_is_checked() -> None:
    with pytest.raises(ExecutorError, match="at least 1"):
        make_executor(workers=0)
    assert isinstance(make_executor(workers=1), InProcess)
    assert make_executor(workers=3).workers == 3


def test_sigterm_ends_a_map_as_an_exit_and_restores_the_handler() -> None:
    """SIGTERM raises SystemExit(143) inside `map`, so its clean-up and the caller's (unfinished
    runs marked interrupted) run; the process's own handler is back afterwards. The local pool's
    workers stopping with it is tests/test_interrupt.py's."""
    before, ran = signal.getsignal(signal.SIGTERM), []
    jobs = [Job(os.kill, (os.getpid(), signal.SIGTERM)), Job(ran.append, ("second job",))]
    with pytest.raises(SystemExit) as stop:
        InProcess().map(jobs)
    assert stop.value.code == 143 and ran == []
    assert signal.getsignal(signal.SIGTERM) is before
