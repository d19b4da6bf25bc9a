"""Several processes migrating and writing one SQLite file at once lose and duplicate nothing.

The workers start together on a file that does not exist yet, so this also covers
concurrent first use (journal-mode switch + migration race).
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from sqlalchemy import func, select

from factory_twin.store.runlog import open_db
from factory_twin.store.schema import KPI_COLUMNS, EpisodeRow, RunRow, ScenarioRow

WORKERS, RUNS, EPISODES = 4, 25, 8


def _kpis(value: float) -> dict[str, float | int]:
    values: dict[str, float | int] = {name: value for name in KPI_COLUMNS}
    values.update(good_parts=int(value), scrapped_parts=0)
    return values


def _worker(url: str, worker: int, barrier: mp.synchronize.Barrier) -> None:
    barrier.wait(timeout=60)
    db = open_db(url)
    try:
        sid = db.ensure_scenario("shared", "0" * 64, "name: shared\n")
        for j in range(RUNS):
            rid = db.start_run(sid, "train", "lorasa", worker * 1000 + j, {"w": worker, "j": j})
            half = EPISODES // 2
            db.add_episodes(rid, [(i, i, 480.0, _kpis(float(i))) for i in range(half)])
            for i in range(half, EPISODES):
                db.add_episode(rid, i, i, 480.0, _kpis(float(i)))
            db.add_episode(rid, EPISODES - 1, 0, 480.0, _kpis(99.0))  # resume re-write
            db.finish_run(rid, "done")
    finally:
        db.close()


def test_four_processes_write_every_row_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared' / 'race.sqlite'}"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_worker, args=(url, w, barrier)) for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS

    db = open_db(url)
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ScenarioRow)) == 1
        runs = conn.execute(select(RunRow.id, RunRow.seed, RunRow.status)).all()
        episode_rows = conn.execute(
            select(EpisodeRow.run_id, EpisodeRow.index, EpisodeRow.good_parts)
        ).all()

    assert len(runs) == WORKERS * RUNS
    assert {seed for _, seed, _ in runs} == {
        w * 1000 + j for w in range(WORKERS) for j in range(RUNS)
    }
    assert {status for *_, status in runs} == {"done"}

    assert len(episode_rows) == WORKERS * RUNS * EPISODES
    pairs = {(rid, index) for rid, index, _ in episode_rows}
    assert pairs == {(rid, i) for rid, _, _ in runs for i in range(EPISODES)}
    last = [parts for _, index, parts in episode_rows if index == EPISODES - 1]
    assert last == [99] * (WORKERS * RUNS)  # the re-write replaced, never duplicated

    summaries = db.list_runs(limit=1000)
    assert len(summaries) == WORKERS * RUNS
    assert {s.episode_count for s in summaries} == {EPISODES}
    db.close()
