"""Learning curves in the run log: every PPO update's progress, per training run.

A training job returns its curve (env steps, mean return, losses, approx-KL, explained
variance and, at some updates, a greedy evaluation's throughput); the driver stores it here
in one transaction. NaN becomes NULL (SQLite has no NaN).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from factory_twin.store.runlog import Database
from factory_twin.store.schema import UPDATE_STATS, UpdateRow


@dataclass(frozen=True)
class UpdatePoint:
    """One update as stored; missing values are NaN."""

    update: int
    steps: int
    phase: str
    mean_return: float
    losses: dict[str, float]
    throughput: float


def _value(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def add_updates(db: Database, run_id: int, points: Iterable[UpdatePoint]) -> None:
    """Store a run's learning curve; a repeated update number replaces the earlier row."""
    values = [
        {"run_id": run_id, "update": p.update, "steps": p.steps, "phase": p.phase,
         "mean_return": _value(p.mean_return), "throughput": _value(p.throughput),
         **{k: _value(p.losses.get(k)) for k in UPDATE_STATS}}
        for p in points
    ]  # fmt: skip
    if not values:
        return
    stmt = db.insert(UpdateRow)
    kept = ["steps", "phase", "mean_return", "throughput", *UPDATE_STATS]
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "update"], set_={k: stmt.excluded[k] for k in kept}
    )

    def do(session: Session) -> None:
        session.execute(stmt, values)

    db.write(do, f"storing {len(values)} update(s) of run {run_id}")


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def updates(db: Database, run_id: int) -> list[UpdatePoint]:
    """A run's learning curve in update order (empty for an unknown run)."""
    stmt = select(UpdateRow).where(UpdateRow.run_id == run_id).order_by(UpdateRow.update)

    def do(session: Session) -> list[UpdatePoint]:
        return [
            UpdatePoint(r.update, r.steps, r.phase, _nan(r.mean_return),
                        {k: _nan(getattr(r, k)) for k in UPDATE_STATS}, _nan(r.throughput))
            for r in session.scalars(stmt)
        ]  # fmt: skip

    return db.read(do, f"reading the learning curve of run {run_id}")
