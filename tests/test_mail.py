"""Mail: the text of the alert and event mails, and sending over plain, STARTTLS, TLS, AUTH."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetstat.alerting import mail, mailtext, rules
from fleetstat.alerting.mailtemplates import NAMES, MailTemplateError, Templates
from fleetstat.core import alertstate
from fleetstat.core.errors import MailError
from fleetstat.core.model import AlertRule, Event, HostResult, Outcome, Settings
from fleetstat.store import Store, outbox
from tests.support.smtp import SMTP_PASSWORD, SmtpServer, make_cert
from tests.test_alerts import CLIENT, NOW, failed_result, ok_result

SETTINGS = Settings(known_hosts=Path("/var/lib/fleetstat/known_hosts"))


def notice(rule: AlertRule, **figures: float) -> rules.Notice:
    evaluation = rules.evaluate(rule, None, ok_result(**figures), NOW)
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

TEMPLATES = Templates()


def facts(notice: rules.Notice, result: HostResult | None = None, **kw: Any) -> dict[str, Any]:
    history = kw.get("history", ())
    return mailtext.alert_facts(notice, result or ok_result(), history, SETTINGS)


def test_alert_subject_counts_each_kind_and_names_the_hosts_of_each_rule() -> None:
    other = replace(CLIENT, name="web02", ip="10.0.0.6")
    items = [
        facts(notice(AlertRule("cpu", 20.0), cpu=87.2)),
        facts(notice(AlertRule("cpu", 20.0), cpu=87.2), ok_result(other)),
        facts(notice(AlertRule("memory", 50.0), memory=91.0)),
    ]
    resolved = rules.Notice(
        alertstate.NoticeKind.RESOLVED,
        AlertRule("disk", 90.0),
        alertstate.AlertState("disk", "disk", since=NOW),
        rules.Reading(False, 50.0, "disk / 50.0% <= 90%"),
    )
    draft = mailtext.compose_alerts([*items, facts(resolved)], TEMPLATES, NOW)
    assert draft.kind == "alert"
    assert draft.subject == (
        "[fleetstat] 3 FIRING, 1 RESOLVED: cpu on web01, web02; disk on web01; memory on web01"
    )


def test_subject_stays_one_line_whatever_the_error_text() -> None:
    result = failed_result(Outcome.AGENT_FAILED, "Traceback:\n  File x\r\nOSError: " + "x" * 300)
    evaluation = rules.evaluate(rules.UNREACHABLE, None, result, NOW)
    assert evaluation.notice is not None
    draft = mailtext.compose_alerts([facts(evaluation.notice, result)], TEMPLATES, NOW)
    assert draft.subject == "[fleetstat] 1 FIRING: agent failed on web01"
    assert "outcome   agent_failed" in draft.body
    assert "\n" not in draft.subject and "\r" not in draft.subject


def test_alert_body_gives_value_limit_since_previous_values_and_history_command() -> None:
    rule = AlertRule("cpu", 20.0)
    history = [(NOW, 87.2), (NOW - timedelta(minutes=5), 80.0)]
    item = facts(notice(rule, cpu=87.2), history=history)
    draft = mailtext.compose_alerts([item], TEMPLATES, NOW)
    assert "FIRING: cpu 87.2% > 20% on web01 (10.0.0.5), port 22" in draft.body
    assert "state     firing since 2026-11-27 12:00:00 UTC" in draft.body
    assert "value     87.2%\n  limit     20%" in draft.body
    assert "previous  11-27 12:00 87.2%, 11-27 11:55 80.0%" in draft.body
    assert "history   fleetstat history web01" in draft.body


def test_unreachable_body_gives_outcome_error_and_what_to_do() -> None:
    result = failed_result(error="no answer within 60 s")
    evaluation = rules.evaluate(rules.UNREACHABLE, None, result, NOW)
    assert evaluation.notice is not None
    draft = mailtext.compose_alerts([facts(evaluation.notice, result)], TEMPLATES, NOW)
    assert "outcome   timeout\n  error     no answer within 60 s" in draft.body
    assert "raise timeout= for this client" in draft.body


def test_host_key_body_says_how_to_accept_a_legitimate_new_key() -> None:
    result = replace(
        failed_result(), client=replace(CLIENT, port=2222), outcome=Outcome.HOST_KEY_MISMATCH
    )
    evaluation = rules.evaluate(rules.HOST_KEY, None, result, NOW)
    assert evaluation.notice is not None
    draft = mailtext.compose_alerts([facts(evaluation.notice, result)], TEMPLATES, NOW)
    assert "ssh-keygen -R '[10.0.0.5]:2222' -f /var/lib/fleetstat/known_hosts" in draft.body
    assert "attack" in draft.body


def test_a_template_in_the_mail_templates_folder_replaces_the_built_in_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "alert-subject.txt").write_text("ALERT {{ counts }} / {{ summary }}\n")
    item = facts(notice(AlertRule("cpu", 20.0), cpu=87.2))
    draft = mailtext.compose_alerts([item], Templates(tmp_path), NOW)
    assert draft.subject == "ALERT 1 FIRING / cpu on web01"
    assert "value     87.2%" in draft.body  # alert.txt stays the built-in one


def test_a_broken_template_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "alert.txt").write_text("line one\n{% if %}\n")
    item = facts(notice(AlertRule("cpu", 20.0), cpu=87.2))
    with pytest.raises(MailTemplateError, match=r"alert\.txt:2"):
        mailtext.compose_alerts([item], Templates(tmp_path), NOW)
    (tmp_path / "alert.txt").write_text("{{ nothing_like_this }}\n")
    with pytest.raises(MailTemplateError, match="nothing_like_this"):
        mailtext.compose_alerts([item], Templates(tmp_path), NOW)


def test_every_built_in_template_ships_with_the_package() -> None:
    folder = Path(mailtext.__file__).parent / "templates" / "mail"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)


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


def log_entry(events: list[Event], *, since: datetime | None = None, problems=()) -> Any:
    result = ok_result()
    if problems:
        answer = result.answer
        assert answer is not None
        result = replace(
            result, answer=replace(answer, errors=tuple(("events", p) for p in problems))
        )
    found = mailtext.log_facts(result, run_id=12, host_id=7, since=since)
    return mailtext.LogEntry(found, events)


def test_digest_is_cut_at_mail_max_events_with_counts_and_the_sql_for_the_rest() -> None:
    events = [event(n) for n in range(415)]
    draft = mailtext.compose_digest([log_entry(events)], [], TEMPLATES, max_events=3, at=NOW)
    assert draft.kind == "events"
    assert draft.subject == "[fleetstat] security events: 415 new on 1 of 1 host"
    assert "web01 (10.0.0.5): 415 new security events (415 failed)" in draft.body
    assert " 415 × 4625 logon failed" in draft.body
    assert draft.body.count("  4625 logon failed  user=bob") == 3
    assert "… and 412 more: fleetstat history web01 --events" in draft.body
    assert "WHERE host_id = 7 AND run_id = 12" in draft.body


def test_digest_without_events_says_since_when() -> None:
    since = datetime(2026, 11, 27, 11, 55, tzinfo=UTC)
    draft = mailtext.compose_digest(
        [log_entry([], since=since)], [], TEMPLATES, max_events=3, at=NOW
    )
    assert draft.subject == "[fleetstat] security events: none new on 1 host"
    assert "No new security events since 2026-11-27 11:55:00 UTC: web01." in draft.body


def test_digest_says_first_when_a_log_could_not_be_read() -> None:
    denied = "Security log: access denied (add the user to Event Log Readers)"
    entries = [log_entry([event(1)]), log_entry([], problems=[denied])]
    draft = mailtext.compose_digest(entries, [], TEMPLATES, max_events=3, at=NOW)
    assert draft.subject.endswith(", 1 not read")
    assert draft.body.index("LOG NOT READ") < draft.body.index("1 new security event")
    assert f"web01 (10.0.0.5): log not read: {denied}" in draft.body


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
