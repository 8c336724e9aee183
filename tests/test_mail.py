"""Mail: the text of the alert and event mails, and sending over plain, STARTTLS, TLS, AUTH."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetstat import alerts, mail, mailtext
from fleetstat.errors import MailError
from fleetstat.model import AlertRule, Event, Outcome, Settings
from fleetstat.store import Store, outbox
from tests.support.smtp import SMTP_PASSWORD, SmtpServer, make_cert
from tests.test_alerts import CLIENT, NOW, failed_result, ok_result

SETTINGS = Settings(known_hosts=Path("/var/lib/fleetstat/known_hosts"))


def notice(rule: AlertRule, **figures: float) -> alerts.Notice:
    evaluation = alerts.evaluate(rule, None, ok_result(**figures), NOW)
    assert evaluation.notice is not None
    return evaluation.notice


def event(n: int, event_id: str = "4625", message: str = "An account failed to log on.") -> Event:
    return Event(
        "windows-security",
        str(n),
        event_id,
        NOW + timedelta(seconds=n),
        "audit_failure",
        "bob",
        "10.0.0.9",
        message,
        {},
    )


# ---------------------------------------------------------------- composing


def test_single_notice_subject_says_it_all() -> None:
    subject = mailtext.alert_subject(CLIENT, [notice(AlertRule("cpu", 20.0), cpu=87.2)])
    assert subject == "[fleetstat] FIRING cpu on web01 (10.0.0.5): 87.2% > 20%"


def test_digest_subject_counts_each_kind_and_lists_the_first_rules() -> None:
    firing = [
        notice(AlertRule("cpu", 20.0), cpu=87.2),
        notice(AlertRule("memory", 50.0), memory=91.0),
        notice(AlertRule("swap", 1.0), swap=5.0),
    ]
    resolved = alerts.Notice(
        alerts.NOTICE_RESOLVED,
        AlertRule("disk", 90.0),
        firing[0].state,
        alerts.Reading(False, 50.0, "disk / 50.0% <= 90%"),
    )
    subject = mailtext.alert_subject(CLIENT, [*firing, resolved])
    assert subject == (
        "[fleetstat] 3 FIRING, 1 RESOLVED on web01 (10.0.0.5): "
        "cpu 87.2% > 20%, memory 91.0% > 50%, swap 5.0% > 1%, …"
    )


def test_subject_stays_one_line_whatever_the_error_text() -> None:
    result = failed_result(Outcome.AGENT_FAILED, "Traceback:\n  File x\r\nOSError: " + "x" * 300)
    evaluation = alerts.evaluate(alerts.UNREACHABLE, None, result, NOW)
    assert evaluation.notice is not None
    subject = mailtext.alert_subject(CLIENT, [evaluation.notice])
    assert subject.startswith("[fleetstat] FIRING unreachable on web01 (10.0.0.5): agent_failed: ")
    assert "\n" not in subject and "\r" not in subject
    assert len(subject) == mailtext.SUBJECT_WIDTH and subject.endswith("…")


def test_alert_body_gives_value_limit_since_previous_values_and_history_command() -> None:
    rule = AlertRule("cpu", 20.0)
    history = {"cpu": [(NOW, 87.2), (NOW - timedelta(minutes=5), 80.0)]}
    draft = mailtext.compose_alert(ok_result(cpu=87.2), [notice(rule, cpu=87.2)], history, SETTINGS)
    assert draft.kind == "alert"
    assert "web01 (10.0.0.5), port 22" in draft.body
    assert "FIRING: cpu 87.2% > 20%" in draft.body
    assert "state     firing since 2026-11-27 12:00:00 UTC" in draft.body
    assert "value     87.2%\n  limit     20%" in draft.body
    assert "previous  11-27 12:00 87.2%, 11-27 11:55 80.0%" in draft.body
    assert "history   fleetstat history web01" in draft.body


def test_unreachable_body_gives_outcome_error_and_what_to_do() -> None:
    result = failed_result(error="no answer within 60 s")
    evaluation = alerts.evaluate(alerts.UNREACHABLE, None, result, NOW)
    assert evaluation.notice is not None
    draft = mailtext.compose_alert(result, [evaluation.notice], {}, SETTINGS)
    assert "outcome   timeout\n  error     no answer within 60 s" in draft.body
    assert "raise timeout= for this client" in draft.body


def test_host_key_body_says_how_to_accept_a_legitimate_new_key() -> None:
    result = replace(
        failed_result(), client=replace(CLIENT, port=2222), outcome="host_key_mismatch"
    )
    evaluation = alerts.evaluate(alerts.HOST_KEY, None, result, NOW)
    assert evaluation.notice is not None
    draft = mailtext.compose_alert(result, [evaluation.notice], {}, SETTINGS)
    assert "ssh-keygen -R '[10.0.0.5]:2222' -f /var/lib/fleetstat/known_hosts" in draft.body
    assert "attack" in draft.body


def test_event_lines_name_well_known_ids_and_cut_long_messages() -> None:
    line = mailtext.event_line(event(1, "4740", "A user account was locked out. " * 10))
    assert line.startswith(
        "2026-11-27 12:00:01  4740 user account locked out  user=bob  from=10.0.0.9"
    )
    assert line.endswith("…")
    assert "sshd.failed_password SSH logon failed" in mailtext.event_line(
        event(2, "sshd.failed_password")
    )
    assert "sshd.accepted_publickey SSH logon  " in mailtext.event_line(
        replace(event(2, "sshd.accepted_publickey"), level="audit_success")
    )
    assert "su.session_opened su session opened  " in mailtext.event_line(
        replace(event(2, "su.session_opened"), level="audit_success")
    )
    assert "  4999 event 4999 (no meaning known)  " in mailtext.event_line(event(3, "4999"))


def test_event_mail_is_cut_at_mail_max_events_with_the_sql_for_the_rest() -> None:
    settings = replace(SETTINGS, mail_max_events=3)
    events = [event(n) for n in range(415)]
    draft = mailtext.compose_events(
        CLIENT, events, host_id=7, run_id=12, since=None, settings=settings
    )
    assert draft.subject == "[fleetstat] 415 security events on web01 (10.0.0.5) (415 failed)"
    assert draft.body.count("4625 logon failed") == 3
    assert "… and 412 more: fleetstat history web01 --events" in draft.body
    assert "WHERE host_id = 7 AND run_id = 12" in draft.body


def test_event_mail_without_events_says_since_when() -> None:
    since = datetime(2026, 11, 27, 11, 55, tzinfo=UTC)
    draft = mailtext.compose_events(CLIENT, [], host_id=1, run_id=2, since=since, settings=SETTINGS)
    assert draft.subject == "[fleetstat] no new security events on web01 (10.0.0.5)"
    assert draft.body == (
        "web01 (10.0.0.5): no new security events since 2026-11-27 11:55:00 UTC.\n"
    )


def test_event_mail_says_when_the_log_could_not_be_read() -> None:
    denied = "Security log: access denied (add the user to Event Log Readers)"
    draft = mailtext.compose_events(
        CLIENT, [], host_id=1, run_id=2, since=None, settings=SETTINGS, problems=[denied]
    )
    assert draft.subject == "[fleetstat] security events NOT READ on web01 (10.0.0.5)"
    assert draft.body.startswith(f"The security log was not fully read: {denied}\n")


# ---------------------------------------------------------------- sending for real


def test_send_test_over_plain_smtp(smtp_server: SmtpServer) -> None:
    mail.send_test(smtp_server.settings(), "admin@example.org")
    [received] = smtp_server.messages
    assert received.recipients == ("admin@example.org",)
    assert received.subject == "[fleetstat] test mail"


def test_send_test_over_starttls(smtp_starttls: SmtpServer) -> None:
    mail.send_test(smtp_starttls.settings(), "admin@example.org")
    assert len(smtp_starttls.messages) == 1


def test_send_test_over_implicit_tls(smtp_ssl: SmtpServer) -> None:
    mail.send_test(smtp_ssl.settings(), "admin@example.org")
    assert len(smtp_ssl.messages) == 1


def test_send_test_logs_in_when_a_user_is_set(smtp_auth: SmtpServer) -> None:
    mail.send_test(smtp_auth.settings(), "admin@example.org")
    assert len(smtp_auth.messages) == 1


def test_wrong_password_is_an_authentication_error(smtp_auth: SmtpServer) -> None:
    with pytest.raises(MailError, match="authentication as fleetstat-mailer failed") as caught:
        mail.send_test(smtp_auth.settings(password="wrong"), "admin@example.org")
    assert caught.value.permanent
    assert SMTP_PASSWORD not in str(caught.value)
    assert smtp_auth.messages == []


def test_stopped_server_is_connection_refused(smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    with pytest.raises(MailError, match=r"connection refused by 127\.0\.0\.1:") as caught:
        mail.send_test(smtp_server.settings(), "admin@example.org")
    assert not caught.value.permanent


def test_rejected_recipient_is_named(smtp_server: SmtpServer) -> None:
    smtp_server.refuse("nobody@example.org", "550 5.1.1 no such user")
    with pytest.raises(MailError, match=r"recipient nobody@example\.org rejected") as caught:
        mail.send_test(smtp_server.settings(), "nobody@example.org")
    assert caught.value.permanent


def test_untrusted_certificate_is_a_tls_handshake_error(tmp_path: Path) -> None:
    server = SmtpServer("ssl", make_cert(tmp_path))
    server.start()
    try:
        with pytest.raises(MailError, match=r"TLS handshake with 127\.0\.0\.1:\d+ failed"):
            mail.send_test(server.settings(), "admin@example.org")
    finally:
        server.stop()


@pytest.mark.parametrize("fixture", ["smtp_starttls", "smtp_ssl", "smtp_auth"])
def test_flush_delivers_over_every_tls_mode_and_with_login(
    fixture: str, sqlite_store: Store, request: pytest.FixtureRequest
) -> None:
    server: SmtpServer = request.getfixturevalue(fixture)
    with sqlite_store.session() as session:
        outbox.enqueue(session, outbox.Draft("test", "s", "b\n"), ["a@example.org"], now=NOW)
    report = mail.flush(sqlite_store, server.settings(), NOW)
    assert report.sent == 1
    assert [m.recipients for m in server.messages] == [("a@example.org",)]
