"""Which process runs a run: owner pid and host, so a run left 'running' by a dead process
can be told from one that is still at work.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add runs.owner_pid and runs.owner_host (NULL for runs logged before)."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner_host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    """Drop the owner columns."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner_host")
        batch.drop_column("owner_pid")
