"""The queries of the mail outbox (``mail_outbox``): queue, claim, and record each attempt.

A row is ``pending`` until a flush claims it compare-and-set (``pending`` → ``sending``,
``attempts`` + 1, ``last_attempt_at`` the time of the claim), then ``sent`` (with
``sent_at``), back to ``pending`` (a transient failure, with ``last_error``) or
``failed`` (permanently rejected); a row still ``pending`` past the ``mail-expire``
setting is ``expired`` and never sent (``expire``). A claim is the pair (``sending``,
``attempts``): every later write by the claimant (``renew``, ``mark_*``) is
compare-and-set on it, so a row that another flush released as stale and claimed again
is never marked by the first.
Every function works inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.orm import Session

from fleetstat.store.models import MailOutbox


class Status(enum.StrEnum):
    """Where one outbox row is on its way: ``mail_outbox.status``."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"


class Kind(enum.StrEnum):
    """What one outbox row is: ``mail_outbox.kind``."""

    ALERT = "alert"
    EVENTS = "events"
    TEST = "test"


#: A row left in ``sending`` longer than this belonged to a collector that died.
STALE_SENDING = timedelta(minutes=5)


@dataclass(frozen=True)
class Draft:
    """A composed mail before it is queued."""

    kind: Kind
    subject: str
    body: str


@dataclass(frozen=True)
class QueuedMail:
    """One claimed outbox row, as a flush sends it. ``created_at`` is UTC."""

    id: int
    created_at: datetime
    kind: str
    recipient: str
    subject: str
    body: str
    attempts: int


def enqueue(
    session: Session,
    draft: Draft,
    recipients: Iterable[str],
    *,
    now: datetime,
    run_id: int | None = None,
    host_id: int | None = None,
) -> list[int]:
    """Queue one row per recipient; returns the new outbox ids (flushed, not committed)."""
    rows = [
        MailOutbox(
            created_at=now,
            run_id=run_id,
            host_id=host_id,
            kind=draft.kind,
            recipient=recipient,
            subject=draft.subject,
            body=draft.body,
            status=Status.PENDING,
            attempts=0,
        )
        for recipient in recipients
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def expire(session: Session, before: datetime) -> int:
    """Mark every row still ``pending`` that was queued before ``before`` as ``expired``.

    Such a mail is too old to tell anything true (after a long SMTP outage); returns
    how many rows.
    """
    statement = (
        update(MailOutbox)
        .where(MailOutbox.status == Status.PENDING, MailOutbox.created_at < before)
        .values(status=Status.EXPIRED, last_error="expired before it could be sent")
    )
    return _rowcount(session, statement)


def release_stale(session: Session, now: datetime, older_than: timedelta = STALE_SENDING) -> int:
    """Return rows stuck in ``sending`` since before ``now - older_than`` to ``pending``.

    A flush that is alive renews each row just before sending it (``renew``), so what
    this releases was claimed long ago and not touched since; returns how many rows.
    """
    statement = (
        update(MailOutbox)
        .where(MailOutbox.status == Status.SENDING, MailOutbox.last_attempt_at < now - older_than)
        .values(status=Status.PENDING)
    )
    return _rowcount(session, statement)


def pending_ids(session: Session, limit: int, after: int = 0) -> list[int]:
    """Up to ``limit`` pending row ids greater than ``after``, oldest first."""
    statement = (
        select(MailOutbox.id)
        .where(MailOutbox.status == Status.PENDING, MailOutbox.id > after)
        .order_by(MailOutbox.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


class ClaimContended(Exception):
    """Another sender claimed some of the rows first: roll back and claim one by one."""


def claim_all(session: Session, ids: Sequence[int], now: datetime) -> list[QueuedMail]:
    """Claim every row of ``ids`` with one statement, or raise ``ClaimContended``.

    The caller rolls the transaction back on ``ClaimContended`` (some rows were no longer
    pending: which ones this statement took cannot be told) and falls back to ``claim``.
    """
    statement = (
        update(MailOutbox)
        .where(MailOutbox.id.in_(ids), MailOutbox.status == Status.PENDING)
        .values(status=Status.SENDING, attempts=MailOutbox.attempts + 1, last_attempt_at=now)
    )
    if _rowcount(session, statement) != len(ids):
        raise ClaimContended
    return _load(session, ids)


def claim(session: Session, ids: Sequence[int], now: datetime) -> list[QueuedMail]:
    """Claim rows compare-and-set one by one (``pending`` → ``sending``); those this caller won."""
    return _load(session, [row_id for row_id in ids if _claim_one(session, row_id, now)])


def _load(session: Session, ids: Sequence[int]) -> list[QueuedMail]:
    if not ids:
        return []
    rows = session.scalars(select(MailOutbox).where(MailOutbox.id.in_(ids)).order_by(MailOutbox.id))
    return [_queued(row) for row in rows]


def _claim_one(session: Session, row_id: int, now: datetime) -> bool:
    statement = (
        update(MailOutbox)
        .where(MailOutbox.id == row_id, MailOutbox.status == Status.PENDING)
        .values(status=Status.SENDING, attempts=MailOutbox.attempts + 1, last_attempt_at=now)
    )
    return _rowcount(session, statement) == 1


def renew(session: Session, mail: QueuedMail, now: datetime) -> bool:
    """Stamp a claimed row with ``now`` just before it is sent; False when the claim is lost.

    The claim holds while the row is ``sending`` with the ``attempts`` it was claimed
    with: a row another flush released and claimed again has more attempts, and one it
    sent or put back has another status. A renewed row stays out of ``release_stale``
    for ``STALE_SENDING`` from ``now``.
    """
    return _rowcount(session, _owned(update(MailOutbox), mail).values(last_attempt_at=now)) == 1


def mark_sent(session: Session, mail: QueuedMail, now: datetime) -> bool:
    """Record a delivered mail, never sent again; False when the claim was lost (row untouched)."""
    statement = _owned(update(MailOutbox), mail).values(
        status=Status.SENT, sent_at=now, last_error=None
    )
    return _rowcount(session, statement) == 1


def mark_retry(session: Session, mails: Iterable[QueuedMail], error: str) -> int:
    """Put claimed rows back to ``pending`` with the error of this attempt.

    Only rows still held by this claim go back; returns how many did (the others were
    taken over by another flush and are left as they are).
    """
    by_attempts: dict[int, list[int]] = {}
    for mail in mails:
        by_attempts.setdefault(mail.attempts, []).append(mail.id)
    returned = 0
    for attempts, ids in sorted(by_attempts.items()):
        statement = (
            update(MailOutbox)
            .where(
                MailOutbox.id.in_(ids),
                MailOutbox.status == Status.SENDING,
                MailOutbox.attempts == attempts,
            )
            .values(status=Status.PENDING, last_error=error)
        )
        returned += _rowcount(session, statement)
    return returned


def mark_failed(session: Session, mail: QueuedMail, error: str) -> bool:
    """Record a permanent rejection, not tried again; False when the claim was lost."""
    statement = _owned(update(MailOutbox), mail).values(status=Status.FAILED, last_error=error)
    return _rowcount(session, statement) == 1


def _owned(statement: Update, mail: QueuedMail) -> Update:
    """``statement`` limited to the row of ``mail`` while this claim still holds it."""
    return statement.where(
        MailOutbox.id == mail.id,
        MailOutbox.status == Status.SENDING,
        MailOutbox.attempts == mail.attempts,
    )


def counts(session: Session) -> dict[str, int]:
    """How many rows are in each status."""
    statement = select(MailOutbox.status, func.count()).group_by(MailOutbox.status)
    return {status: int(count) for status, count in session.execute(statement)}


def _queued(row: MailOutbox) -> QueuedMail:
    return QueuedMail(
        id=row.id,
        created_at=row.created_at,
        kind=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        attempts=row.attempts,
    )


def _rowcount(session: Session, statement: Update) -> int:
    result = cast(CursorResult[object], session.execute(statement))
    return result.rowcount
