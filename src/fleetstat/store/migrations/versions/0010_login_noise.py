"""What a login printed besides the answer: ``collection_attempts.login_noise``.

rc files and banners that print on every login no longer spoil the answer (the agent
frames it); what they print is kept, cut, so an admin can quiet them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_attempts") as table:
        table.add_column(sa.Column("login_noise", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_attempts") as table:
        table.drop_column("login_noise")
