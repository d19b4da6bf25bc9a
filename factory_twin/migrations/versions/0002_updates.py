"""Learning curves: one row per PPO update of a training run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS = ("mean_return", "policy", "value", "entropy", "approx_kl", "clipfrac",
         "explained_variance", "throughput")  # fmt: skip


def upgrade() -> None:
    """Create the updates table."""
    op.create_table(
        "updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("update", sa.Integer(), nullable=False),
        sa.Column("steps", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in STATS),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_updates_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_updates"),
        sa.UniqueConstraint("run_id", "update", name="uq_updates_run_id_update"),
    )


def downgrade() -> None:
    """Drop the updates table."""
    op.drop_table("updates")
