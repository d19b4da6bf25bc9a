"""What the run log hands back: plain frozen dataclasses, usable after their session closed.

Each mirrors a row of ``factory_twin.store.schema`` (decoded: JSON config as a dict,
timestamps with their UTC zone re-attached) so callers never hold live ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from factory_twin.store.schema import KPI_COLUMNS

__all__ = ["AdapterVersionInfo", "EpisodeRecord", "RunInfo", "RunSummary", "as_utc"]


@dataclass(frozen=True)
class RunInfo:
    """A run as stored; ``config`` is the decoded JSON dict."""

    id: int
    scenario_id: int
    scenario_name: str
    kind: str
    method: str
    seed: int
    config: dict[str, Any]
    status: str
    created_at: datetime
    finished_at: datetime | None
    checkpoint_path: str | None
    owner_pid: int | None = None  # the process that started or resumed it
    owner_host: str | None = None


@dataclass(frozen=True)
class RunSummary:
    """One line of ``list_runs``: a run plus its episode count and mean throughput."""

    id: int
    scenario_name: str
    kind: str
    method: str
    seed: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    episode_count: int
    mean_throughput: float | None
    owner_pid: int | None = None
    owner_host: str | None = None


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode's KPIs; ``kpis()`` gives them as a dict keyed by KPI_COLUMNS."""

    run_id: int
    index: int
    seed: int
    sim_minutes: float
    throughput: float
    wip: float
    lead_time_mean: float
    lead_time_p95: float
    oee: float
    scrap_rate: float
    utilisation: float
    bound_pct: float
    good_parts: int
    scrapped_parts: int
    episode_return: float | None

    def kpis(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in KPI_COLUMNS}


@dataclass(frozen=True)
class AdapterVersionInfo:
    """A registered adapter version (mirrors the PolicyStore's adapter.json)."""

    id: int
    run_id: int | None
    scenario_name: str
    station: str
    version: int
    path: str
    sha256: str
    base_hash: str
    rank: int
    alpha: float
    created_at: datetime


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite drops tzinfo; every timestamp we write is UTC, so re-attach it."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
