"""Hourly rollups of the sample figures, kept longer than the raw samples; samples by time.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EXACT_METRIC = sa.String(191).with_variant(
    mysql.VARCHAR(191, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sample_rollups",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("metric", EXACT_METRIC, nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("avg", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_sample_rollups_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_rollups")),
        sa.UniqueConstraint(
            "host_id", "metric", "hour", name=op.f("uq_sample_rollups_host_id_metric_hour")
        ),
    )
    op.create_index(op.f("ix_sample_rollups_hour"), "sample_rollups", ["hour"])
    op.create_index(op.f("ix_samples_collected_at"), "samples", ["collected_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_samples_collected_at"), table_name="samples")
    op.drop_index(op.f("ix_sample_rollups_hour"), table_name="sample_rollups")
    op.drop_table("sample_rollups")
