"""The outbox and its flush: retries, permanent failures, exactly-once delivery, real SMTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from fleetstat.alerting import mail
from fleetstat.store import Store, outbox
from fleetstat.store.models import MailOutbox
from tests.support.smtp import SmtpServer

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def queue(store: Store, *recipients: str, subject: str = "hello") -> list[int]:
    draft = outbox.Draft("test", subject, "body line\n")
    with store.session() as session:
        return outbox.enqueue(session, draft, recipients, now=T0)


def rows(store: Store) -> dict[str, tuple[str, int, str | None]]:
    """recipient → (status, attempts, last_error)."""
    with store.session() as session:
        found = session.execute(
            select(
                MailOutbox.recipient, MailOutbox.status, MailOutbox.attempts, MailOutbox.last_error
            )
        ).all()
    return {recipient: (status, attempts, error) for recipient, status, attempts, error in found}


def test_mail_waits_while_the_server_is_down_and_goes_once_when_it_is_back(
    store: Store, smtp_server: SmtpServer
) -> None:
    queue(store, "a@example.org", "b@example.org")
    smtp_server.stop()
    down = mail.flush(store, smtp_server.settings(), T0)
    assert (down.sent, down.retried, down.failed) == (0, 2, 0)
    assert "connection refused" in down.errors[0]
    assert rows(store)["a@example.org"][:2] == ("pending", 1)
    smtp_server.start()
    back = mail.flush(store, smtp_server.settings(), T0 + timedelta(minutes=1))
    again = mail.flush(store, smtp_server.settings(), T0 + timedelta(minutes=2))
    assert back.sent == 2 and again.sent == 0
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "a@example.org",
        "b@example.org",
    ]
    assert rows(store)["b@example.org"] == ("sent", 2, None)


def test_temporary_rejection_is_retried_at_the_next_flush(
    sqlite_store: Store, smtp_server: SmtpServer
) -> None:
    queue(sqlite_store, "busy@example.org", "fine@example.org")
    smtp_server.refuse("busy@example.org", "451 4.3.0 mailbox busy, try later")
    first = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert (first.sent, first.retried, first.failed) == (1, 1, 0)
    status, attempts, error = rows(sqlite_store)["busy@example.org"]
    assert (status, attempts) == ("pending", 1)
    assert error is not None and "451 4.3.0 mailbox busy" in error
    smtp_server.accept("busy@example.org")
    second = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert second.sent == 1
    assert [m.recipients for m in smtp_server.messages] == [
        ("fine@example.org",),
        ("busy@example.org",),
    ]


def test_permanent_rejection_fails_and_is_not_retried(
    sqlite_store: Store, smtp_server: SmtpServer
) -> None:
    queue(sqlite_store, "nobody@example.org")
    smtp_server.refuse("nobody@example.org", "550 5.1.1 no such user")
    first = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert (first.sent, first.retried, first.failed) == (0, 0, 1)
    assert "recipient nobody@example.org rejected" in first.errors[0]
    assert "550 5.1.1 no such user" in first.errors[0]
    smtp_server.accept("nobody@example.org")
    second = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert (second.sent, second.retried, second.failed) == (0, 0, 0)
    assert rows(sqlite_store)["nobody@example.org"][:2] == ("failed", 1)
    assert smtp_server.messages == []


def test_connection_dropped_mid_batch_leaves_the_rest_pending(
    sqlite_store: Store, smtp_server: SmtpServer
) -> None:
    recipients = [f"user{n}@example.org" for n in range(5)]
    queue(sqlite_store, *recipients)
    smtp_server.hang_up_after(2)
    first = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert (first.sent, first.retried) == (2, 3)
    smtp_server.hang_up_after(None)
    second = mail.flush(sqlite_store, smtp_server.settings(), T0)
    assert second.sent == 3
    delivered = [r for m in smtp_server.messages for r in m.recipients]
    assert sorted(delivered) == recipients


def test_one_connection_carries_a_whole_flush(sqlite_store: Store, smtp_server: SmtpServer) -> None:
    queue(sqlite_store, *[f"user{n}@example.org" for n in range(250)])
    report = mail.flush(sqlite_store, smtp_server.settings(), T0, batch=100)
    assert report.sent == 250
    peers = {m.peer for m in smtp_server.messages}
    assert len(peers) == 1


def test_rows_stuck_in_sending_return_to_pending_after_a_while(
    sqlite_store: Store, smtp_server: SmtpServer
) -> None:
    [stuck] = queue(sqlite_store, "late@example.org")
    with sqlite_store.session() as session:
        session.execute(
            update(MailOutbox)
            .where(MailOutbox.id == stuck)
            .values(status="sending", last_attempt_at=T0, attempts=1)
        )
    early = mail.flush(sqlite_store, smtp_server.settings(), T0 + timedelta(minutes=1))
    assert early.sent == 0
    late = mail.flush(sqlite_store, smtp_server.settings(), T0 + timedelta(minutes=6))
    assert late.sent == 1
    assert rows(sqlite_store)["late@example.org"][:2] == ("sent", 2)


def test_a_claimed_row_cannot_be_claimed_again(store: Store) -> None:
    [row_id] = queue(store, "a@example.org")
    with store.session() as session:
        first = outbox.claim(session, [row_id], T0)
    with store.session() as session:
        second = outbox.claim(session, [row_id], T0)
    assert [m.id for m in first] == [row_id]
    assert second == []


def test_batch_claim_gives_way_to_row_claims_when_another_sender_took_some(
    store: Store,
) -> None:
    ids = queue(store, "a@example.org", "b@example.org", "c@example.org")
    with store.session() as session:
        outbox.claim(session, [ids[1]], T0)
    with pytest.raises(outbox.ClaimContended), store.session() as session:
        outbox.claim_all(session, ids, T0)
    assert rows(store)["a@example.org"][:2] == ("pending", 0)
    with store.session() as session:
        won = outbox.claim(session, ids, T0)
    assert [m.recipient for m in won] == ["a@example.org", "c@example.org"]


def test_two_flushes_at_once_send_every_mail_exactly_once(
    sqlite_url: str, smtp_server: SmtpServer
) -> None:
    stores = [Store.open(sqlite_url), Store.open(sqlite_url)]
    try:
        recipients = [f"user{n}@example.org" for n in range(300)]
        queue(stores[0], *recipients)
        reports: list[mail.FlushReport] = []

        def flusher(store: Store) -> None:
            reports.append(mail.flush(store, smtp_server.settings(), T0, batch=10))

        threads = [threading.Thread(target=flusher, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(report.sent for report in reports) == 300
        delivered = sorted(r for m in smtp_server.messages for r in m.recipients)
        assert delivered == sorted(recipients)
    finally:
        for store in stores:
            store.close()


def status_of(store: Store, row_id: int) -> str:
    with store.session() as session:
        return session.scalars(select(MailOutbox.status).where(MailOutbox.id == row_id)).one()


def test_a_flush_outlasting_the_stale_window_skips_the_rows_another_flush_took_over(
    store: Store, db_url: str, smtp_server: SmtpServer
) -> None:
    recipients = [f"user{n}@example.org" for n in range(4)]
    ids = queue(store, *recipients)
    later = Store.open(db_url)
    second: list[mail.FlushReport] = []

    def first_clock() -> datetime:
        """Time of the first flush; the second one starts while it sends its second mail."""
        if status_of(store, ids[0]) == "sent" and not second:
            moment = T0 + timedelta(minutes=6)
            second.append(mail.flush(later, smtp_server.settings(), moment, clock=lambda: moment))
            return T0 + timedelta(minutes=7)
        return T0

    try:
        first = mail.flush(store, smtp_server.settings(), T0, clock=first_clock)
    finally:
        later.close()
    assert (first.sent, first.taken_over) == (1, 3)
    assert (second[0].sent, second[0].taken_over) == (3, 0)
    delivered = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert delivered == recipients
    found = rows(store)
    assert found["user0@example.org"][:2] == ("sent", 1)
    assert {found[r][:2] for r in recipients[1:]} == {("sent", 2)}


def test_a_long_flush_keeps_its_claims_fresh_so_no_other_flush_takes_them(
    store: Store, db_url: str, smtp_server: SmtpServer
) -> None:
    ids = queue(store, *[f"user{n}@example.org" for n in range(3)])
    later = Store.open(db_url)
    second: list[mail.FlushReport] = []
    ticks = iter(T0 + timedelta(minutes=4 * n) for n in range(1, 100))
    moment = T0

    def first_clock() -> datetime:
        """Four minutes pass per reading; once the last row is claimed a second flush starts."""
        nonlocal moment
        if status_of(store, ids[-1]) == "sending" and not second:
            at = moment + timedelta(minutes=1)
            second.append(mail.flush(later, smtp_server.settings(), at, clock=lambda: at))
        moment = next(ticks)
        return moment

    try:
        first = mail.flush(store, smtp_server.settings(), T0, batch=1, clock=first_clock)
    finally:
        later.close()
    assert moment >= T0 + timedelta(minutes=12)
    assert (first.sent, first.taken_over) == (3, 0)
    assert (second[0].sent, second[0].taken_over) == (0, 0)
    assert len(smtp_server.messages) == 3


def test_marks_of_a_claim_that_was_taken_over_are_refused(store: Store) -> None:
    [row_id] = queue(store, "a@example.org")
    with store.session() as session:
        [stale] = outbox.claim(session, [row_id], T0)
    with store.session() as session:
        assert outbox.release_stale(session, T0 + timedelta(minutes=6)) == 1
        [current] = outbox.claim(session, [row_id], T0 + timedelta(minutes=6))
    moment = T0 + timedelta(minutes=7)
    with store.session() as session:
        assert not outbox.renew(session, stale, moment)
        assert not outbox.mark_sent(session, stale, moment)
        assert not outbox.mark_failed(session, stale, "550 no such user")
        assert outbox.mark_retry(session, [stale], "451 try later") == 0
    assert rows(store)["a@example.org"] == ("sending", 2, None)
    with store.session() as session:
        assert outbox.renew(session, current, moment)
        assert outbox.mark_sent(session, current, moment)
    assert rows(store)["a@example.org"] == ("sent", 2, None)


def test_retry_puts_back_only_the_rows_still_claimed(store: Store) -> None:
    ids = queue(store, "a@example.org", "b@example.org")
    with store.session() as session:
        claimed = outbox.claim(session, ids, T0)
    with store.session() as session:
        assert outbox.renew(session, claimed[0], T0 + timedelta(minutes=5))
    with store.session() as session:
        assert outbox.release_stale(session, T0 + timedelta(minutes=6)) == 1
        outbox.claim(session, [ids[1]], T0 + timedelta(minutes=6))
    with store.session() as session:
        assert outbox.mark_retry(session, claimed, "connection refused") == 1
    found = rows(store)
    assert found["a@example.org"] == ("pending", 1, "connection refused")
    assert found["b@example.org"] == ("sending", 2, None)


def test_message_is_plain_utf8_text_with_date_and_message_id(
    sqlite_store: Store, smtp_server: SmtpServer
) -> None:
    queue(sqlite_store, "ops@example.org", subject="[fleetstat] Überlast on web01")
    mail.flush(sqlite_store, smtp_server.settings(), T0)
    [received] = smtp_server.messages
    message = received.message
    assert received.subject == "[fleetstat] Überlast on web01"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message["Date"] == "Fri, 27 Nov 2026 12:00:00 +0000"
    assert message["Message-ID"].endswith("@monitor.test>")
    assert message["To"] == "ops@example.org"
    assert received.mail_from == "fleetstat@monitor.test"


def test_a_digest_larger_than_64_kb_is_queued_and_claimed_whole(store: Store) -> None:
    body = "".join(
        f"  web{n:04d} sshd.failed_password  user=root  from=10.0.0.{n % 250}\n"
        for n in range(4000)
    )
    assert len(body.encode()) > 3 * 65536  # past MariaDB's TEXT, which would refuse it
    with store.session() as session:
        [row_id] = outbox.enqueue(session, outbox.Draft("events", "big", body), ["a@x.org"], now=T0)
    with store.session() as session:
        [claimed] = outbox.claim(session, [row_id], T0)
    assert claimed.body == body
