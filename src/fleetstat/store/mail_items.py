"""``mail_items``: what each host result gives its admins to read, until a mail carries it.

A host's transaction keeps its items (``keep``); the end of a pass reads the ones not yet
mailed (``unhandled``) and marks each handled with the outbox row that carries it
(``mark_handled``), compare-and-set, so that no item is mailed twice. Every function works
inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.orm import Session

from fleetstat.core.errors import FleetstatError
from fleetstat.store.models import MailItem

MAIL_ITEMS: Table = MailItem.__table__  # type: ignore[assignment]
#: Every host result's mail items, in one statement.
_KEEP = insert(MAIL_ITEMS)


class TakenByAnother(FleetstatError):
    """Another collector composed some of these items first: this composing rolls back."""


def keep(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (``mail_items`` values) in one statement."""
    if rows:
        session.execute(_KEEP, list(rows))


def unhandled(session: Session) -> Sequence[MailItem]:
    """Every item not yet mailed, oldest first."""
    query = select(MailItem).where(MailItem.handled_at.is_(None)).order_by(MailItem.id)
    return session.scalars(query).all()


def mark_handled(
    session: Session, ids: Sequence[int], outbox_id: int | None, now: datetime
) -> None:
    """Mark items handled compare-and-set (only while unhandled), so none is mailed twice.

    ``outbox_id`` is the mail that carries them (None: silenced, mailed to nobody).
    TakenByAnother when another collector handled any of them first.
    """
    if not ids:
        return
    statement = (
        update(MailItem)
        .where(MailItem.id.in_(ids), MailItem.handled_at.is_(None))
        .values(handled_at=now, outbox_id=outbox_id)
    )
    if cast(CursorResult[object], session.execute(statement)).rowcount != len(ids):
        raise TakenByAnother("another collector mailed these items first; nothing was queued")
