"""The initial schema: every table of fleetstat 0.1.

Written once and never changed: a later change to the schema is a new revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 12:39:25.350439
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

#: UTC times; MariaDB/MySQL keep microseconds only with DATETIME(6).
UTC_TIME = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def exact_string(length: int) -> sa.types.TypeEngine[str]:
    """A string compared byte for byte (MariaDB: utf8mb4_bin, not its case-blind default)."""
    binary = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
    return sa.String(length).with_variant(binary, "mysql", "mariadb")


#: 64-bit ids for the tables that grow with every run (SQLite: its rowid).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("os", sa.String(length=32), nullable=True),
        sa.Column("os_name", sa.String(length=255), nullable=True),
        sa.Column("os_version", sa.String(length=255), nullable=True),
        sa.Column("kernel", sa.String(length=255), nullable=True),
        sa.Column("arch", sa.String(length=32), nullable=True),
        sa.Column("python", sa.String(length=32), nullable=True),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("last_attempt_at", UTC_TIME, nullable=True),
        sa.Column("last_ok_at", UTC_TIME, nullable=True),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("event_cursor", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("address", name=op.f("uq_hosts_address")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("hosts_total", sa.Integer(), nullable=True),
        sa.Column("hosts_ok", sa.Integer(), nullable=True),
        sa.Column("collector", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "alert_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("rule", exact_string(191), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("since", UTC_TIME, nullable=False),
        sa.Column("consecutive", sa.Integer(), nullable=False),
        sa.Column("last_notified_at", UTC_TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_alert_states_host_id_hosts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_states")),
        sa.UniqueConstraint("host_id", "rule", name=op.f("uq_alert_states_host_id_rule")),
    )
    op.create_table(
        "alert_transitions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("rule", exact_string(191), nullable=False),
        sa.Column("old_state", sa.String(length=32), nullable=False),
        sa.Column("new_state", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_alert_transitions_host_id_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_alert_transitions_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_transitions")),
    )
    op.create_index(
        op.f("ix_alert_transitions_host_id_created_at"),
        "alert_transitions",
        ["host_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "collection_attempts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_collection_attempts_host_id_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_collection_attempts_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_attempts")),
        sa.UniqueConstraint(
            "run_id", "host_id", name=op.f("uq_collection_attempts_run_id_host_id")
        ),
    )
    op.create_index(
        op.f("ix_collection_attempts_host_id_started_at"),
        "collection_attempts",
        ["host_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", UTC_TIME, nullable=True),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_mail_outbox_host_id_hosts")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_mail_outbox_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(
        op.f("ix_mail_outbox_status_created_at"),
        "mail_outbox",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "samples",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("collected_at", UTC_TIME, nullable=False),
        sa.Column("agent_clock", UTC_TIME, nullable=True),
        sa.Column("cpu_percent", sa.Double(), nullable=True),
        sa.Column("cpu_count", sa.Integer(), nullable=True),
        sa.Column("cpu_busy_seconds", sa.Double(), nullable=True),
        sa.Column("cpu_total_seconds", sa.Double(), nullable=True),
        sa.Column("mem_total", sa.BigInteger(), nullable=True),
        sa.Column("mem_available", sa.BigInteger(), nullable=True),
        sa.Column("mem_used", sa.BigInteger(), nullable=True),
        sa.Column("mem_percent", sa.Double(), nullable=True),
        sa.Column("swap_total", sa.BigInteger(), nullable=True),
        sa.Column("swap_used", sa.BigInteger(), nullable=True),
        sa.Column("swap_free", sa.BigInteger(), nullable=True),
        sa.Column("swap_percent", sa.Double(), nullable=True),
        sa.Column("uptime_seconds", sa.Double(), nullable=True),
        sa.Column("boot_time", UTC_TIME, nullable=True),
        sa.Column("load1", sa.Double(), nullable=True),
        sa.Column("load5", sa.Double(), nullable=True),
        sa.Column("load15", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], name=op.f("fk_samples_host_id_hosts")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_samples_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
    )
    op.create_index(
        op.f("ix_samples_host_id_collected_at"),
        "samples",
        ["host_id", "collected_at"],
        unique=False,
    )
    op.create_index(op.f("ix_samples_run_id"), "samples", ["run_id"], unique=False)
    op.create_table(
        "security_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source", exact_string(32), nullable=False),
        sa.Column("record_id", exact_string(191), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("time", UTC_TIME, nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("source_ip", sa.String(length=45), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_security_events_host_id_hosts")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_security_events_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
        sa.UniqueConstraint(
            "host_id",
            "source",
            "record_id",
            name=op.f("uq_security_events_host_id_source_record_id"),
        ),
    )
    op.create_index(
        op.f("ix_security_events_host_id_time"),
        "security_events",
        ["host_id", "time"],
        unique=False,
    )
    op.create_index(
        op.f("ix_security_events_run_id_host_id"),
        "security_events",
        ["run_id", "host_id"],
        unique=False,
    )
    op.create_table(
        "sample_disks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sample_id", BIG_ID, nullable=False),
        sa.Column("mount", sa.String(length=1024), nullable=False),
        sa.Column("device", sa.String(length=1024), nullable=False),
        sa.Column("fstype", sa.String(length=64), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("free", sa.BigInteger(), nullable=False),
        sa.Column("percent", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_sample_disks_sample_id_samples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_disks")),
    )
    op.create_index(op.f("ix_sample_disks_sample_id"), "sample_disks", ["sample_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sample_disks_sample_id"), table_name="sample_disks")
    op.drop_table("sample_disks")
    op.drop_index(op.f("ix_security_events_run_id_host_id"), table_name="security_events")
    op.drop_index(op.f("ix_security_events_host_id_time"), table_name="security_events")
    op.drop_table("security_events")
    op.drop_index(op.f("ix_samples_run_id"), table_name="samples")
    op.drop_index(op.f("ix_samples_host_id_collected_at"), table_name="samples")
    op.drop_table("samples")
    op.drop_index(op.f("ix_mail_outbox_status_created_at"), table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index(
        op.f("ix_collection_attempts_host_id_started_at"), table_name="collection_attempts"
    )
    op.drop_table("collection_attempts")
    op.drop_index(op.f("ix_alert_transitions_host_id_created_at"), table_name="alert_transitions")
    op.drop_table("alert_transitions")
    op.drop_table("alert_states")
    op.drop_table("runs")
    op.drop_table("hosts")
