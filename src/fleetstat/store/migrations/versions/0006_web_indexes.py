"""Indexes for the web page's fleet-wide reads.

- ``samples (collected_at, host_id)``: the fleet page's 24 h sparklines read every
  host's samples of one day as one index range, not a scan of the whole history.
- ``security_events (time)``: the events page searches the whole fleet newest first.
- ``alert_transitions (created_at)``: the alerts page lists the newest transitions.

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_samples_collected_at_host_id"), "samples", ["collected_at", "host_id"])
    op.create_index(op.f("ix_security_events_time"), "security_events", ["time"])
    op.create_index(op.f("ix_alert_transitions_created_at"), "alert_transitions", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_transitions_created_at"), table_name="alert_transitions")
    op.drop_index(op.f("ix_security_events_time"), table_name="security_events")
    op.drop_index(op.f("ix_samples_collected_at_host_id"), table_name="samples")
