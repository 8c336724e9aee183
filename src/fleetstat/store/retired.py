"""Hosts that left the config: marked retired, and their history deleted on request.

Every function works inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from fleetstat.store.models import (
    AlertState,
    AlertTransition,
    CollectionAttempt,
    Host,
    MailItem,
    MailOutbox,
    Sample,
    SampleDisk,
    SampleRollup,
    SecurityEvent,
)


def retire_others(session: Session, addresses: Collection[str], now: datetime) -> list[int]:
    """Mark retired (at ``now``) every live host whose address is not in ``addresses``.

    Returns the ids of the hosts retired by this call.
    """
    query = select(Host.id).where(Host.retired_at.is_(None), Host.address.not_in(addresses))
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(Host).where(Host.id.in_(ids)).values(retired_at=now))
    return ids


def forget(session: Session, host_id: int) -> int:
    """Delete every row of host ``host_id``, the host's own last; how many rows in all.

    Queued mail keeps its rows (they may name other hosts too); only the link to the
    host is cleared.
    """
    samples = select(Sample.id).where(Sample.host_id == host_id)
    session.execute(update(MailOutbox).where(MailOutbox.host_id == host_id).values(host_id=None))
    statements = [
        delete(SampleDisk).where(SampleDisk.sample_id.in_(samples)),
        delete(Sample).where(Sample.host_id == host_id),
        delete(SampleRollup).where(SampleRollup.host_id == host_id),
        delete(SecurityEvent).where(SecurityEvent.host_id == host_id),
        delete(CollectionAttempt).where(CollectionAttempt.host_id == host_id),
        delete(AlertTransition).where(AlertTransition.host_id == host_id),
        delete(AlertState).where(AlertState.host_id == host_id),
        delete(MailItem).where(MailItem.host_id == host_id),
        delete(Host).where(Host.id == host_id),
    ]
    return sum(
        cast(CursorResult[object], session.execute(statement)).rowcount for statement in statements
    )


def all_retired(session: Session, host_ids: Collection[int]) -> bool:
    """True when every host of ``host_ids`` is retired (none is in the config any more)."""
    live = select(Host.id).where(Host.id.in_(host_ids), Host.retired_at.is_(None)).limit(1)
    return session.scalar(live) is None
