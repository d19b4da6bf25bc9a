"""The log's tables as SQLAlchemy ORM rows, and the vocabularies they use.

Holds the declarative ``Base`` (its naming convention keeps constraint names equal to the
Alembic migration's, so ``compare_metadata`` sees no difference), one ``...Row`` class per
table, the KPI columns every episode row carries (and :func:`episode_values`, which turns a
KPI dict into such a row), and the allowed run kinds and statuses.
The schema itself is owned by the migrations in ``factory_twin/migrations``; these classes
must describe exactly what the newest migration creates (tests/test_db.py checks it).
Rows are named ``...Row`` so they never shadow the domain classes (e.g. the pydantic
``factory_twin.scenario.Scenario``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from factory_twin.errors import StoreError

__all__ = [
    "INT_KPIS",
    "KPI_COLUMNS",
    "OPTIONAL_KPIS",
    "RUN_KINDS",
    "RUN_STATUSES",
    "UPDATE_STATS",
    "UpdateRow",
    "AdapterVersionRow",
    "Base",
    "EpisodeRow",
    "EventRow",
    "RunRow",
    "ScenarioRow",
    "episode_values",
]

# Columns of an episode row, in order; INT_KPIS are stored as integers, OPTIONAL_KPIS may be
# NULL (a simulate run has no episode return).
KPI_COLUMNS: tuple[str, ...] = (
    "throughput",
    "wip",
    "lead_time_mean",
    "lead_time_p95",
    "oee",
    "scrap_rate",
    "utilisation",
    "bound_pct",
    "good_parts",
    "scrapped_parts",
    "episode_return",
)
INT_KPIS = frozenset({"good_parts", "scrapped_parts"})
OPTIONAL_KPIS = frozenset({"episode_return"})

RUN_KINDS = ("simulate", "train", "evaluate")
RUN_STATUSES = ("running", "done", "failed", "interrupted")  # interrupted: Ctrl-C or a signal


class Base(DeclarativeBase):
    """Declarative base; the naming convention keeps constraint names equal to the migration's."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ScenarioRow(Base):
    """One distinct scenario content; ``hash`` is sha256 of its canonical JSON."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    """A simulate/train/evaluate invocation of one method on one scenario with one seed."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)
    config: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checkpoint_path: Mapped[str | None] = mapped_column(Text)  # absolute
    owner_pid: Mapped[int | None] = mapped_column(Integer)  # the process running it
    owner_host: Mapped[str | None] = mapped_column(String(255))


class EpisodeRow(Base):
    """KPIs of one episode of a run; (run_id, index) is unique so resumes cannot duplicate."""

    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("run_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    sim_minutes: Mapped[float] = mapped_column(Float)
    throughput: Mapped[float] = mapped_column(Float)
    wip: Mapped[float] = mapped_column(Float)
    lead_time_mean: Mapped[float] = mapped_column(Float)
    lead_time_p95: Mapped[float] = mapped_column(Float)
    oee: Mapped[float] = mapped_column(Float)
    scrap_rate: Mapped[float] = mapped_column(Float)
    utilisation: Mapped[float] = mapped_column(Float)
    bound_pct: Mapped[float] = mapped_column(Float)
    good_parts: Mapped[int] = mapped_column(Integer)
    scrapped_parts: Mapped[int] = mapped_column(Integer)
    episode_return: Mapped[float | None] = mapped_column(Float)


class AdapterVersionRow(Base):
    """Index of adapter versions written by the on-disk PolicyStore (the files stay the truth)."""

    __tablename__ = "adapter_versions"
    __table_args__ = (UniqueConstraint("scenario_name", "station", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    scenario_name: Mapped[str] = mapped_column(String(200))
    station: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    base_hash: Mapped[str] = mapped_column(String(128))
    rank: Mapped[int] = mapped_column(Integer)
    alpha: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EventRow(Base):
    """One recorded simulation event, replayed in ``seq`` order."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sim_time: Mapped[float] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)


UPDATE_STATS = ("policy", "value", "entropy", "approx_kl", "clipfrac", "explained_variance")


class UpdateRow(Base):
    """One PPO update of a training run: the learning curve. `throughput` (good parts/min of
    a greedy evaluation) is measured at some updates only and NULL at the others."""

    __tablename__ = "updates"
    __table_args__ = (UniqueConstraint("run_id", "update"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    update: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(20))
    mean_return: Mapped[float | None] = mapped_column(Float)
    policy: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    entropy: Mapped[float | None] = mapped_column(Float)
    approx_kl: Mapped[float | None] = mapped_column(Float)
    clipfrac: Mapped[float | None] = mapped_column(Float)
    explained_variance: Mapped[float | None] = mapped_column(Float)
    throughput: Mapped[float | None] = mapped_column(Float)


def episode_values(
    where: str, run_id: int, index: int, seed: int, sim_minutes: float, kpis: Mapping[str, Any]
) -> dict[str, Any]:
    """An episodes-table row from KPIs keyed by KPI_COLUMNS, coerced to the column types.

    Refuses (StoreError naming ``where``) unknown or missing KPIs and NaN, which SQLite would
    store as NULL.
    """
    unknown = sorted(set(kpis) - set(KPI_COLUMNS))
    missing = [k for k in KPI_COLUMNS if k not in kpis and k not in OPTIONAL_KPIS]
    if unknown or missing:
        raise StoreError(
            f"{where}: episode {index} of run {run_id} has unknown KPIs {unknown} "
            f"and lacks {missing}; expected keys from KPI_COLUMNS"
        )
    row: dict[str, Any] = {
        "run_id": run_id,
        "index": int(index),
        "seed": int(seed),
        "sim_minutes": float(sim_minutes),
    }
    for name in KPI_COLUMNS:
        value = kpis.get(name)
        if value is None and name in OPTIONAL_KPIS:
            row[name] = None
        elif name in INT_KPIS:
            row[name] = int(value)
        else:
            number = float(value)
            if math.isnan(number):  # SQLite would store NULL and break NOT NULL
                raise StoreError(
                    f"{where}: episode {index} of run {run_id} KPI {name!r} is NaN; "
                    "expected a number (use 0.0 when undefined, e.g. no part finished)"
                )
            row[name] = number
    return row
