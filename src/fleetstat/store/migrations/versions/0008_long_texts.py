"""Texts that may pass 64 KB are LONGTEXT on MariaDB: mail bodies, event texts, mail facts.

A pass's event-log digest over a few hundred hosts is larger than MariaDB's ``TEXT``
(64 KB), and so may be an event's raw fields; PostgreSQL's and SQLite's text has no
such bound, so nothing changes there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: (table, column) made LONGTEXT; all NOT NULL.
LONG = [
    ("security_events", "message"),
    ("security_events", "fields"),
    ("mail_outbox", "body"),
    ("mail_items", "facts"),
]


def _alter(kind: sa.types.TypeEngine[str]) -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, column in LONG:
        op.alter_column(table, column, type_=kind, existing_nullable=False)


def upgrade() -> None:
    _alter(mysql.LONGTEXT())


def downgrade() -> None:
    _alter(sa.Text())
