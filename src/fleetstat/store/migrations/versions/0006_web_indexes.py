"""Indexes for the web page's reads.

- ``ix_samples_chart`` on samples (host_id, collected_at, and the charted figures): a
  host's chart over 30 days reads its samples from the index alone, not from
  thousands of table pages spread over the whole history.
- ``ix_sample_disks_chart`` on sample_disks (sample_id, percent; on PostgreSQL also
  holding mount): the same for the disk chart and the fleet's fullest disks.
- ``security_events (time)``: the events page searches the whole fleet newest first.
- ``alert_transitions (created_at)``: the alerts page lists the newest transitions.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHART = ["host_id", "collected_at", "cpu_percent", "mem_percent", "swap_percent", "load1",
         "load5", "load15"]  # fmt: skip


def upgrade() -> None:
    op.create_index("ix_samples_chart", "samples", CHART)
    op.create_index(
        "ix_sample_disks_chart",
        "sample_disks",
        ["sample_id", "percent"],
        postgresql_include=["mount"],  # MariaDB cannot key a 1024-character mount
    )
    op.create_index(op.f("ix_security_events_time"), "security_events", ["time"])
    op.create_index(op.f("ix_alert_transitions_created_at"), "alert_transitions", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_transitions_created_at"), table_name="alert_transitions")
    op.drop_index(op.f("ix_security_events_time"), table_name="security_events")
    op.drop_index("ix_sample_disks_chart", table_name="sample_disks")
    op.drop_index("ix_samples_chart", table_name="samples")
