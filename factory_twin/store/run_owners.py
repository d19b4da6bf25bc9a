"""Which process owns a run in status 'running', and which such runs were left by the dead.

A run killed with kill -9 (or by a power cut) before it could mark itself stays 'running'
in the log. Every run therefore records its owner: the pid and host of the process that
started (or resumed) it. On this host a pid that no longer exists means the owner is gone
and the run can be marked 'interrupted'; a run of another host (or from before owners were
recorded) cannot be judged and is left alone. A reused pid looks alive: the safe side.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from factory_twin.store.records import RunInfo, RunSummary
from factory_twin.store.schema import RunRow

__all__ = ["mark_abandoned_runs", "owner_alive", "run_status", "this_owner"]


def this_owner() -> dict[str, int | str]:
    """The owner columns of a run started or resumed by this process."""
    return {"owner_pid": os.getpid(), "owner_host": socket.gethostname()[:255]}


def owner_alive(pid: int | None, host: str | None) -> bool | None:
    """Whether the owning process still runs; None when this host cannot tell."""
    if pid is None or host != socket.gethostname()[:255]:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return None
    return True


def run_status(run: RunSummary | RunInfo) -> str:
    """A run's status as a planner should read it: 'running' whose owner is gone says so
    (the `runs` listing is read-only and leaves the marking to the next writing command)."""
    if run.status == "running" and owner_alive(run.owner_pid, run.owner_host) is False:
        return "running (process gone)"
    return run.status


def mark_abandoned_runs(db) -> list[int]:
    """Mark 'interrupted' every 'running' run whose owner on this host is gone; their ids."""
    host = this_owner()["owner_host"]

    def do(session: Session) -> list[int]:
        rows = session.execute(
            select(RunRow.id, RunRow.owner_pid)
            .where(RunRow.status == "running", RunRow.owner_host == host)
        ).all()  # fmt: skip
        dead = [run_id for run_id, pid in rows if owner_alive(pid, host) is False]
        if dead:
            session.execute(
                update(RunRow)
                .where(RunRow.id.in_(dead), RunRow.status == "running")
                .values(status="interrupted", finished_at=datetime.now(UTC))
            )
        return dead

    return db.write(do, "marking runs whose process is gone")
