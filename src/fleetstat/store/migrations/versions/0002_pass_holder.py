"""Who holds the pass lock: the ``pass_holder`` table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pass_holder",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pass_holder")),
    )


def downgrade() -> None:
    op.drop_table("pass_holder")
