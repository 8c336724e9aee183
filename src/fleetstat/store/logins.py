"""The web page's logins: sessions (``web_sessions``) and failed logins (``login_failures``).

Both live in the database so that every ``serve`` process, on any machine, sees the same:
a session ended in one is ended in all, and a guess counts wherever it is sent.

Failed logins are counted per *subject*, an account (``account:admin``) or a client
address (``address:192.0.2.7``). The first ``FREE_FAILURES`` of a subject cost nothing;
each further one makes the subject wait twice as long before its next try, from
``FIRST_WAIT`` up to ``MAX_WAIT`` seconds — never for good. A subject's failures are
forgotten ``FORGET_AFTER`` seconds after its last one, or at its first right login.

Every function works inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from fleetstat.store.models import LoginFailure, WebSession
from fleetstat.store.writes import insert_ignoring_duplicates

FAILURES: Table = LoginFailure.__table__  # type: ignore[assignment]
SESSIONS: Table = WebSession.__table__  # type: ignore[assignment]

#: Failures of a subject that cost no wait.
FREE_FAILURES = 4
#: Seconds the first failure past the free ones makes its subject wait; the most a wait grows to.
FIRST_WAIT = 1.0
MAX_WAIT = 60.0
#: Seconds after a subject's last failure at which its count starts again from zero.
FORGET_AFTER = 900.0
#: Longest subject kept (a longer account name is cut).
SUBJECT_LEN = 191


def wait_after(failures: int) -> float:
    """Seconds a subject waits after its ``failures``-th failure in a row."""
    if failures <= FREE_FAILURES:
        return 0.0
    return float(min(MAX_WAIT, FIRST_WAIT * 2 ** (failures - FREE_FAILURES - 1)))


def subjects(account: str, address: str, known: Iterable[str] = ("admin",)) -> tuple[str, str]:
    """The two subjects a login try counts against; every name that is no account is
    one subject (made-up names cannot fill the table)."""
    name = account if account in known else "(no such account)"
    return f"account:{name}"[:SUBJECT_LEN], f"address:{address}"[:SUBJECT_LEN]


# ---------------------------------------------------------------- failed logins


def settle(
    session: Session,
    names: Iterable[str],
    clock: Callable[[], datetime],
    check: Callable[[], bool],
) -> tuple[bool, float]:
    """Settle one login try of the subjects ``names`` (an account, then an address):
    ``(right, 0)``, or ``(False, seconds left)`` when one of them must still wait — then
    ``check`` (the password comparison) is never called and nothing changes. A wrong
    try is counted against each subject; a right one forgets the address's failures
    (the account's expire on their own, so a script's right logins cannot wipe the
    count of guesses from elsewhere). The time is read once the rows are locked.
    """
    names = list(names)
    left = _locked_wait(session, names, clock())
    if left > 0:
        return False, left
    now = clock()
    right = check()
    if right:
        forgive(session, names[1:], now)
    else:
        _count(session, names, now)
    return right, 0.0


def charge(session: Session, names: Iterable[str], now: datetime) -> float:
    """Count one failed try against every subject of ``names`` (``settle`` of a wrong
    try): the seconds left when one of them must still wait, else 0."""
    return settle(session, names, lambda: now, lambda: False)[1]


def _locked_wait(session: Session, names: Iterable[str], now: datetime) -> float:
    """Seconds until every subject may try again, with their rows locked to the end of
    the transaction (written before they are read, so SQLite takes its write lock at
    once): parallel tries are settled one after another, never together."""
    ordered = sorted(set(names))
    insert = insert_ignoring_duplicates(session, FAILURES, ("subject",))
    session.execute(
        insert,
        [{"subject": s, "failures": 0, "last_failure_at": now, "not_before": now} for s in ordered],
    )
    rows = session.execute(
        select(FAILURES.c.not_before).where(FAILURES.c.subject.in_(ordered)).with_for_update()
    ).all()
    left: float = max((not_before - now).total_seconds() for (not_before,) in rows)
    return left


def _count(session: Session, names: Iterable[str], now: datetime) -> None:
    """One more failure for every subject of ``names`` (their rows are locked); the
    failures forgotten long ago go at the same time."""
    names = sorted(set(names))
    stale = now - timedelta(seconds=FORGET_AFTER)
    session.execute(
        delete(FAILURES).where(FAILURES.c.last_failure_at < stale, FAILURES.c.subject.not_in(names))
    )
    rows = session.execute(select(FAILURES).where(FAILURES.c.subject.in_(names)))
    for row in rows.all():
        stale = (now - row.last_failure_at).total_seconds() > FORGET_AFTER
        failures = 1 if stale else row.failures + 1
        session.execute(
            update(FAILURES)
            .where(FAILURES.c.subject == row.subject)
            .values(
                failures=failures,
                last_failure_at=now,
                not_before=now + timedelta(seconds=wait_after(failures)),
            )
        )


def forgive(session: Session, names: Iterable[str], now: datetime) -> None:
    """Forget the failures of ``names`` (a right login), and every subject's forgotten ones."""
    stale = now - timedelta(seconds=FORGET_AFTER)
    session.execute(
        delete(FAILURES).where(
            FAILURES.c.subject.in_(list(names)) | (FAILURES.c.last_failure_at < stale)
        )
    )


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionRow:
    """A logged-in session: whose, the tag of the password it logged in with, when last seen."""

    account: str
    password_tag: str
    last_seen_at: datetime


def start(  # noqa: PLR0917 (the fields of one row)
    session: Session, key: str, account: str, password_tag: str, now: datetime, idle: float
) -> None:
    """Record a session; sessions idle longer than ``idle`` seconds go at the same time."""
    session.execute(delete(SESSIONS).where(SESSIONS.c.last_seen_at < now - timedelta(seconds=idle)))
    session.add(
        WebSession(
            id=key, account=account, password_tag=password_tag, created_at=now, last_seen_at=now
        )
    )


def find(session: Session, key: str) -> SessionRow | None:
    """The session recorded under ``key``; None when there is none."""
    row = session.execute(
        select(SESSIONS.c.account, SESSIONS.c.password_tag, SESSIONS.c.last_seen_at).where(
            SESSIONS.c.id == key
        )
    ).first()
    return SessionRow(*row) if row else None


def seen(session: Session, key: str, now: datetime) -> None:
    """Note that the session of ``key`` was used at ``now``."""
    session.execute(update(SESSIONS).where(SESSIONS.c.id == key).values(last_seen_at=now))


def end(session: Session, key: str) -> None:
    """End the session of ``key`` (nothing when there is none)."""
    session.execute(delete(SESSIONS).where(SESSIONS.c.id == key))
