"""Mail delivery: sending the outbox over SMTP and saying exactly what failed.

``flush`` sends what the outbox holds over one SMTP connection, and ``send_test``
sends one mail and says exactly what failed. The texts are composed in ``mailtext``.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fleetstat.alerting.mailtext import build_message, compose_test
from fleetstat.core.clock import Clock, utcnow
from fleetstat.core.errors import MailError
from fleetstat.core.model import SmtpSettings
from fleetstat.store import outbox
from fleetstat.store.outbox import QueuedMail

if TYPE_CHECKING:
    from fleetstat.store import Store

# ---------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class FlushReport:
    """One flush: mails sent, left pending for a later try, rejected for good; the errors.

    ``taken_over`` counts rows this flush claimed but did not send because another flush
    had meanwhile released them as stale and claimed them itself (that one sends them).
    """

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: tuple[str, ...] = field(default=())
    taken_over: int = 0
    expired: int = 0


#: How many outbox rows one flush claims at a time.
FLUSH_BATCH = 100


def flush(
    store: Store,
    smtp: SmtpSettings,
    now: datetime,
    batch: int = FLUSH_BATCH,
    *,
    clock: Clock = utcnow,
    expire_after: float | None = None,
) -> FlushReport:
    """Send every pending outbox mail over one SMTP connection; what happened to each.

    Rows are claimed compare-and-set, so two flushes never send the same row. A sent row
    is marked ``sent``; a refused connection, a timeout or a 4xx leaves it ``pending``
    for the next flush; a 5xx marks it ``failed``. When the connection fails or drops,
    the claimed rows not yet sent go back to ``pending`` and the flush stops. Rows left
    in ``sending`` by a collector that died return to ``pending`` first. With
    ``expire_after`` (seconds, the ``mail-expire`` setting), a pending row queued longer
    ago than that is marked ``expired`` instead of sent (counted in ``expired``).

    ``now`` (UTC) is the start of the flush: stale rows are released against it and the
    first batch is claimed at it. ``clock`` gives every later time: the claim of each
    next batch, the renewal before each mail, ``sent_at``.

    A flush that outlasts ``outbox.STALE_SENDING`` (thousands of mails after an outage)
    must not lose its rows to another flush and then send them too. So right before each
    mail goes out, its row is renewed compare-and-set on the claim (``outbox.renew``):
    one UPDATE that both proves the row is still this flush's and moves its
    ``last_attempt_at`` to the present, so the row being sent never looks stale. When the
    renewal finds the claim lost (another flush released the row and claimed it again,
    or already sent it), the mail is skipped and counted in ``taken_over``. Rows further
    down a slow batch may go stale and be taken over; that only shares the work. The one
    window left is a single SMTP transaction longer than ``STALE_SENDING``, far beyond
    the connection's timeout; ``mark_sent`` then reports the lost claim in ``errors``.
    """
    tally = _Tally()
    with store.session() as session:
        outbox.release_stale(session, now)
        if expire_after is not None:
            tally.expired = outbox.expire(session, now - timedelta(seconds=expire_after))
    conn: smtplib.SMTP | None = None
    after = 0
    claimed_at = now
    try:
        while mails := _claim(store, after, batch, claimed_at):
            after = mails[-1].id
            conn = conn or _open_for(store, smtp, mails, tally)
            if conn is None or not _send_all(
                store, conn, mails, smtp=smtp, tally=tally, clock=clock
            ):
                break
            claimed_at = clock()
    finally:
        if conn is not None:
            _quit(conn)
    return tally.report()


@dataclass
class _Tally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    taken_over: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)

    def report(self) -> FlushReport:
        errors = tuple(self.errors)
        return FlushReport(
            self.sent, self.retried, self.failed, errors, self.taken_over, self.expired
        )


def _claim(store: Store, after: int, batch: int, now: datetime) -> list[QueuedMail]:
    """The next pending rows after id ``after``, claimed at ``now``: in one statement when
    nobody else is sending, else compare-and-set row by row."""
    with store.session() as session:
        ids = outbox.pending_ids(session, batch, after)
    if not ids:
        return []
    try:
        with store.session() as session:
            return outbox.claim_all(session, ids, now)
    except outbox.ClaimContended:
        with store.session() as session:
            return outbox.claim(session, ids, now)


def _open_for(
    store: Store, smtp: SmtpSettings, mails: Sequence[QueuedMail], tally: _Tally
) -> smtplib.SMTP | None:
    try:
        return open_connection(smtp)
    except MailError as err:
        _retry(store, mails, str(err), tally)
        return None


def _send_all(
    store: Store,
    conn: smtplib.SMTP,
    mails: Sequence[QueuedMail],
    *,
    smtp: SmtpSettings,
    tally: _Tally,
    clock: Clock,
) -> bool:
    """Send claimed mails in order; False when the connection is gone (the rest retried).

    Each mail is first renewed (``outbox.renew``); one whose claim is lost is skipped.
    """
    for index, mail in enumerate(mails):
        if not _still_ours(store, mail, clock(), tally):
            continue
        try:
            conn.send_message(
                build_message(mail, smtp.sender), from_addr=smtp.sender, to_addrs=[mail.recipient]
            )
        except (smtplib.SMTPException, OSError) as err:
            error = translate(err, smtp, mail.recipient)
            if _connection_lost(err):
                _retry(store, mails[index:], str(error), tally)
                return False
            _record_failure(store, mail, error, tally)
            continue
        _record_sent(store, mail, clock(), tally)
    return True


def _still_ours(store: Store, mail: QueuedMail, now: datetime, tally: _Tally) -> bool:
    """Renew the claim of ``mail`` at ``now``; False (counted) when another flush has it."""
    with store.session() as session:
        owned = outbox.renew(session, mail, now)
    if not owned:
        tally.taken_over += 1
    return owned


def _record_sent(store: Store, mail: QueuedMail, now: datetime, tally: _Tally) -> None:
    with store.session() as session:
        recorded = outbox.mark_sent(session, mail, now)
    tally.sent += 1
    if not recorded:
        tally.errors.append(
            f"mail {mail.id} to {mail.recipient}: sent, but another flush took it over"
            " while it was being sent and may send it again"
        )


def _connection_lost(err: BaseException) -> bool:
    """True when the server hung up (421 or a closed socket): nothing more goes this way."""
    if isinstance(err, smtplib.SMTPResponseException):
        return err.smtp_code == 421
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in err.recipients.values())
    return isinstance(err, smtplib.SMTPServerDisconnected | OSError)


def _record_failure(store: Store, mail: QueuedMail, error: MailError, tally: _Tally) -> None:
    text = f"mail {mail.id} to {mail.recipient}: {error}"
    if not error.permanent:
        _retry(store, [mail], str(error), tally)
        return
    with store.session() as session:
        outbox.mark_failed(session, mail, str(error))
    tally.failed += 1
    tally.errors.append(text)


def _retry(store: Store, mails: Sequence[QueuedMail], error: str, tally: _Tally) -> None:
    with store.session() as session:
        returned = outbox.mark_retry(session, mails, error)
    tally.retried += returned
    tally.taken_over += len(mails) - returned
    if error not in tally.errors:
        tally.errors.append(error)


def open_connection(smtp: SmtpSettings) -> smtplib.SMTP:
    """Connect (plain, STARTTLS or implicit TLS) and log in when ``smtp.user`` is set.

    Raises ``MailError`` saying what failed: name lookup, refused, timeout, TLS, login.
    """
    try:
        return _connect(smtp)
    except (smtplib.SMTPException, OSError) as err:
        raise translate(err, smtp) from err


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    conn: smtplib.SMTP
    if smtp.tls == "ssl":
        conn = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        conn = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.tls == "starttls":
            conn.starttls(context=context)
        if smtp.user:
            conn.login(smtp.user, smtp.password or "")
    except BaseException:
        conn.close()
        raise
    return conn


def translate(err: BaseException, smtp: SmtpSettings, recipient: str | None = None) -> MailError:
    """A ``MailError`` naming what failed, permanent when trying again cannot help."""
    text, permanent = _describe(err, smtp, recipient)
    return MailError(text, permanent=permanent)


def _describe(err: BaseException, smtp: SmtpSettings, recipient: str | None) -> tuple[str, bool]:
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(err.recipients.values()), (0, b""))
        who = recipient or ", ".join(err.recipients)
        return f"recipient {who} rejected by {where}: {code} {_text(reply)}", code >= 500
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{_what(err, smtp)} by {where}: {err.smtp_code} {_text(err.smtp_error)}", (
            err.smtp_code >= 500
        )
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return f"{where}: {err}", True
    return _describe_network(err, smtp, where), False


def _what(err: smtplib.SMTPResponseException, smtp: SmtpSettings) -> str:
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return f"authentication as {smtp.user} failed"
    if isinstance(err, smtplib.SMTPSenderRefused):
        return f"sender {smtp.sender} rejected"
    return "mail rejected"


def _describe_network(err: BaseException, smtp: SmtpSettings, where: str) -> str:
    if isinstance(err, socket.gaierror):
        return f"cannot resolve SMTP host {smtp.host}: {err.strerror or err}"
    if isinstance(err, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(err, TimeoutError):
        return f"no answer from {where} within {smtp.timeout:g} s"
    if isinstance(err, ssl.SSLError):
        return f"TLS handshake with {where} failed: {err}"
    if isinstance(err, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection: {err}"
    return f"SMTP with {where} failed: {err}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def send_test(smtp: SmtpSettings, address: str, now: datetime | None = None) -> None:
    """Send one test mail to ``address``; raises ``MailError`` with exactly what failed."""
    message = compose_test(smtp, address, now or datetime.now(UTC))
    conn = open_connection(smtp)
    try:
        conn.send_message(message, from_addr=smtp.sender, to_addrs=[address])
    except (smtplib.SMTPException, OSError) as err:
        raise translate(err, smtp, address) from err
    finally:
        _quit(conn)


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()
