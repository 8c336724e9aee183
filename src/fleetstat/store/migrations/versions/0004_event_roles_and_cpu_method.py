"""Security events keep actor, target, category and the own-session mark; samples say
how their CPU percent was measured; a filesystem that did not answer keeps its error.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAME_LEN = 255
SHORT_LEN = 32


def upgrade() -> None:
    """Add the new columns; existing rows read as before (no actor, not own, method null)."""
    with op.batch_alter_table("security_events") as table:
        table.add_column(sa.Column("actor", sa.String(NAME_LEN), nullable=True))
        table.add_column(sa.Column("target", sa.String(NAME_LEN), nullable=True))
        table.add_column(sa.Column("category", sa.String(SHORT_LEN), nullable=True))
        table.add_column(
            sa.Column("own_session", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("samples") as table:
        table.add_column(sa.Column("cpu_method", sa.String(SHORT_LEN), nullable=True))
        table.add_column(sa.Column("cpu_seconds", sa.Double(), nullable=True))
    with op.batch_alter_table("sample_disks") as table:
        table.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the columns again."""
    with op.batch_alter_table("sample_disks") as table:
        table.drop_column("error")
    with op.batch_alter_table("samples") as table:
        table.drop_column("cpu_seconds")
        table.drop_column("cpu_method")
    with op.batch_alter_table("security_events") as table:
        table.drop_column("own_session")
        table.drop_column("category")
        table.drop_column("target")
        table.drop_column("actor")
