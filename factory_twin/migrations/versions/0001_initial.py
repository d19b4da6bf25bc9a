"""Initial schema: scenarios, runs, episodes, adapter_versions, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Constraint names follow the naming convention of ``factory_twin.store.schema.Base.metadata``
so that autogenerate/compare_metadata see no difference.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_scenarios"),
        sa.UniqueConstraint("hash", name="uq_scenarios_hash"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scenario_id"], ["scenarios.id"], name="fk_runs_scenario_id_scenarios"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_scenario_id", "runs", ["scenario_id"])
    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("sim_minutes", sa.Float(), nullable=False),
        sa.Column("throughput", sa.Float(), nullable=False),
        sa.Column("wip", sa.Float(), nullable=False),
        sa.Column("lead_time_mean", sa.Float(), nullable=False),
        sa.Column("lead_time_p95", sa.Float(), nullable=False),
        sa.Column("oee", sa.Float(), nullable=False),
        sa.Column("scrap_rate", sa.Float(), nullable=False),
        sa.Column("utilisation", sa.Float(), nullable=False),
        sa.Column("bound_pct", sa.Float(), nullable=False),
        sa.Column("good_parts", sa.Integer(), nullable=False),
        sa.Column("scrapped_parts", sa.Integer(), nullable=False),
        sa.Column("episode_return", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_episodes_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_episodes"),
        sa.UniqueConstraint("run_id", "index", name="uq_episodes_run_id_index"),
    )
    op.create_table(
        "adapter_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("scenario_name", sa.String(length=200), nullable=False),
        sa.Column("station", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("base_hash", sa.String(length=128), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_adapter_versions_run_id_runs", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_adapter_versions"),
        sa.UniqueConstraint(
            "scenario_name",
            "station",
            "version",
            name="uq_adapter_versions_scenario_name_station_version",
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sim_time", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_events_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("run_id", "seq", name="uq_events_run_id_seq"),
    )


def downgrade() -> None:
    """Drop every table (children first)."""
    op.drop_table("events")
    op.drop_table("adapter_versions")
    op.drop_table("episodes")
    op.drop_index("ix_runs_scenario_id", table_name="runs")
    op.drop_table("runs")
    op.drop_table("scenarios")
