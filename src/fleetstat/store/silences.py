"""The queries of silences (``silences``): add, list, end, and those in force at a time.

Every function works inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, bindparam, select, update
from sqlalchemy.orm import Session

from fleetstat.store.models import Silence

SILENCES: Table = Silence.__table__  # type: ignore[assignment]
#: Read for every host result, so built once.
_IN_FORCE = (
    select(SILENCES)
    .where(SILENCES.c.starts_at <= bindparam("b_now"), SILENCES.c.ends_at > bindparam("b_now"))
    .order_by(SILENCES.c.id)
)


@dataclass(frozen=True)
class SilenceRow:
    """One silence: ``rule`` None covers every rule of the matching hosts. Times are UTC."""

    id: int
    host_pattern: str
    rule: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_at: datetime


def add(  # noqa: PLR0917 (the fields of one row)
    session: Session,
    host_pattern: str,
    rule: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> SilenceRow:
    """Insert a silence from ``starts_at`` to ``ends_at``; the stored row."""
    row = Silence(
        host_pattern=host_pattern,
        rule=rule,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_at=starts_at,
    )
    session.add(row)
    session.flush()
    return _row(row)


def in_force(session: Session, now: datetime) -> list[SilenceRow]:
    """The silences that cover ``now`` (started, not yet ended), oldest first."""
    return [_row(row) for row in session.execute(_IN_FORCE, {"b_now": now})]


def listed(session: Session, now: datetime) -> list[SilenceRow]:
    """The silences in force at ``now`` and those still to come, oldest first."""
    query = select(Silence).where(Silence.ends_at > now).order_by(Silence.id)
    return [_row(row) for row in session.scalars(query)]


def ended(session: Session, now: datetime, since: datetime, limit: int = 50) -> list[SilenceRow]:
    """The newest ``limit`` silences that ended in [since, now] (by their end), newest first."""
    query = (
        select(Silence)
        .where(Silence.ends_at <= now, Silence.ends_at >= since)
        .order_by(Silence.ends_at.desc(), Silence.id.desc())
        .limit(limit)
    )
    return [_row(row) for row in session.scalars(query)]


def end(session: Session, silence_id: int, now: datetime) -> bool:
    """End silence ``silence_id`` at ``now``; False when there is none still in force."""
    statement = (
        update(Silence).where(Silence.id == silence_id, Silence.ends_at > now).values(ends_at=now)
    )
    return cast(CursorResult[object], session.execute(statement)).rowcount == 1


def _row(row: Silence | Row[Any]) -> SilenceRow:
    return SilenceRow(
        id=row.id,
        host_pattern=row.host_pattern,
        rule=row.rule,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason=row.reason,
        created_at=row.created_at,
    )
