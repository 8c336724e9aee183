"""Silences, acknowledgements, hysteresis, retired hosts and the mail items of a pass.

Adds ``silences``; ``mail_items`` (what each host result gives each recipient to read,
until a pass's mail carries it); ``alert_states.clearing``, ``unmailed``, ``acked_at``
and ``ack_reason``; ``hosts.retired_at``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

#: UTC times; MariaDB/MySQL keep microseconds only with DATETIME(6).
UTC_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

#: 64-bit ids for the tables that grow with every run (SQLite: its rowid).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def exact_string(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte (MariaDB: utf8mb4_bin, not its case-blind default)."""
    binary = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
    return sa.String(length).with_variant(binary, "mysql", "mariadb")


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_states") as table:
        table.add_column(sa.Column("clearing", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(
            sa.Column("unmailed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("acked_at", UTC_TIME, nullable=True))
        table.add_column(sa.Column("ack_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("hosts") as table:
        table.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_pattern", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=191), nullable=True),
        sa.Column("starts_at", UTC_TIME, nullable=False),
        sa.Column("ends_at", UTC_TIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(op.f("ix_silences_ends_at"), "silences", ["ends_at"], unique=False)
    op.create_table(
        "mail_items",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule", exact_string(191), nullable=True),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("handled_at", UTC_TIME, nullable=True),
        sa.Column("outbox_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_mail_items_run_id_runs")),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_mail_items_host_id_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["mail_outbox.id"], name=op.f("fk_mail_items_outbox_id_mail_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_items")),
    )
    op.create_index(
        op.f("ix_mail_items_handled_at_recipient"),
        "mail_items",
        ["handled_at", "recipient"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_items_handled_at_recipient"), table_name="mail_items")
    op.drop_table("mail_items")
    op.drop_index(op.f("ix_silences_ends_at"), table_name="silences")
    op.drop_table("silences")
    with op.batch_alter_table("hosts") as table:
        table.drop_column("retired_at")
    with op.batch_alter_table("alert_states") as table:
        table.drop_column("ack_reason")
        table.drop_column("acked_at")
        table.drop_column("unmailed")
        table.drop_column("clearing")
