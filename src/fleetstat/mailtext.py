"""Mail text: the alert digest and the event-log mail, composed from values (pure).

Composing turns notices and events into an ``outbox.Draft`` (subject and plain-text
body); ``build_message`` turns one outbox row into the RFC 5322 message that
``mail.flush`` sends. Nothing here does I/O.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from fleetstat import alerts
from fleetstat.agent import meanings
from fleetstat.model import Client, Event, HostResult, Outcome, Settings, SmtpSettings
from fleetstat.store.outbox import Draft, QueuedMail

PREFIX = "[fleetstat]"
SUBJECT_ITEMS = 3
SUMMARY_WIDTH = 100
SUBJECT_WIDTH = 200

NOTICE_WORDS = {
    alerts.NOTICE_FIRING: "FIRING",
    alerts.NOTICE_REMINDER: "STILL FIRING",
    alerts.NOTICE_RESOLVED: "RESOLVED",
}

#: What to do about each way a host's run can fail.
OUTCOME_HINTS = {
    Outcome.UNREACHABLE: "Check that the machine is up and that its SSH port is reachable "
    "from the collector (address, firewall, sshd running).",
    Outcome.AUTH_FAILED: "Check username, password or keyfile for this client in the config, "
    "and that the account is not locked or expired.",
    Outcome.HOST_KEY_MISMATCH: "The SSH host key changed; see the host key section below.",
    Outcome.NO_PYTHON: "Install Python 3.6 or newer on the client, or set python= on the "
    "client in the config to the interpreter's path.",
    Outcome.AGENT_FAILED: "The agent could not run; the error above is its own message. "
    "Check free space in the temp directory and that the user may execute there.",
    Outcome.BAD_PAYLOAD: "The answer could not be decrypted or validated: something between "
    "the collector and the client altered the output (a login banner printed to stdout, "
    "a wrapper shell, or an attack).",
    Outcome.TIMEOUT: "The client did not finish in time: check its load and network, or "
    "raise timeout= for this client.",
}

# ---------------------------------------------------------------- composing: alerts


def compose_alert(
    result: HostResult,
    notices: Sequence[alerts.Notice],
    history: Mapping[str, Sequence[tuple[datetime, float | None]]],
    settings: Settings,
) -> Draft:
    """One digest mail for all of one client's alert notices of one run.

    ``history`` maps a rule key to its last stored values, newest first.
    """
    client = result.client
    sections = [_notice_section(n, result, history.get(n.rule.key, ()), settings) for n in notices]
    head = f"fleetstat alert for {_who(client)}, port {client.port}"
    head += f", group {client.group}" if client.group else ""
    head += f"\nrun finished {_when(result.finished_at)}"
    body = "\n\n".join([head, *sections]) + "\n"
    return Draft(kind="alert", subject=alert_subject(client, notices), body=body)


def alert_subject(client: Client, notices: Sequence[alerts.Notice]) -> str:
    """``[fleetstat] FIRING cpu on web01 (10.0.0.5): 87.2% > 20%``, or a count per kind.

    Always one line of at most ``SUBJECT_WIDTH`` characters (error texts are cut).
    """
    return _one_line(_subject(client, notices), SUBJECT_WIDTH)


def _subject(client: Client, notices: Sequence[alerts.Notice]) -> str:
    if len(notices) == 1:
        notice = notices[0]
        what = _short_detail(notice)
        return f"{PREFIX} {NOTICE_WORDS[notice.kind]} {notice.rule.key} on {_who(client)}: {what}"
    tally = [
        f"{sum(n.kind == kind for n in notices)} {word}"
        for kind, word in NOTICE_WORDS.items()
        if any(n.kind == kind for n in notices)
    ]
    details = [_detail(n) for n in notices[:SUBJECT_ITEMS]]
    if len(notices) > SUBJECT_ITEMS:
        details.append("…")
    return f"{PREFIX} {', '.join(tally)} on {_who(client)}: {', '.join(details)}"


def _notice_section(
    notice: alerts.Notice,
    result: HostResult,
    history: Sequence[tuple[datetime, float | None]],
    settings: Settings,
) -> str:
    state = notice.state
    lines = [f"{NOTICE_WORDS[notice.kind]}: {_detail(notice)}"]
    lines.append(f"  state     {state.state} since {_when(state.since)}{_runs(notice)}")
    if notice.rule.type in alerts.BUILTIN_TYPES:
        lines += _builtin_lines(notice, result, settings)
    else:
        lines.append(f"  value     {alerts.format_value(notice.rule.type, state.value)}")
        lines.append(f"  limit     {alerts.format_limit(notice.rule)}")
        lines.append(f"  previous  {_history_line(notice.rule.type, history)}")
    lines.append(f"  history   {history_command(result.client, config=settings.config)}")
    return "\n".join(lines)


def _builtin_lines(notice: alerts.Notice, result: HostResult, settings: Settings) -> list[str]:
    if notice.kind == alerts.NOTICE_RESOLVED:
        return [f"  outcome   {result.outcome}"]
    if notice.rule.type == alerts.HOST_KEY.type:
        return _host_key_lines(result.client, settings)
    lines = [f"  outcome   {result.outcome}", f"  error     {result.error or '-'}"]
    hint = OUTCOME_HINTS.get(result.outcome)
    if hint:
        lines.append(f"  to do     {hint}")
    return lines


def _host_key_lines(client: Client, settings: Settings) -> list[str]:
    known = str(settings.known_hosts.expanduser())
    entry = client.ip if client.port == 22 else f"[{client.ip}]:{client.port}"
    return [
        "  WARNING   the client's SSH host key is not the one fleetstat knows. This may be",
        "            an attack (someone between the collector and the client); fleetstat",
        "            did not log in and sent nothing.",
        "  if legit  (a reinstalled machine, a new key) remove the client's line from",
        f"            {known}",
        '            and, with host-keys="accept-new", the next run learns the new key:',
        f"            ssh-keygen -R {shlex.quote(entry)} -f {shlex.quote(known)}",
    ]


def _history_line(rule_type: str, history: Sequence[tuple[datetime, float | None]]) -> str:
    if not history:
        return "no earlier samples"
    return ", ".join(
        f"{at.astimezone(UTC):%m-%d %H:%M} {alerts.format_value(rule_type, v)}" for at, v in history
    )


def _runs(notice: alerts.Notice) -> str:
    runs = notice.state.consecutive
    if notice.kind == alerts.NOTICE_RESOLVED or runs <= 1:
        return ""
    return f" ({runs} runs in a row over the limit)"


def _detail(notice: alerts.Notice) -> str:
    detail = notice.reading.detail
    if notice.rule.type in alerts.BUILTIN_TYPES:
        return f"{notice.rule.key}: {detail}"
    return detail


def _short_detail(notice: alerts.Notice) -> str:
    detail = notice.reading.detail
    label = f"{notice.rule.type} "
    return detail[len(label) :] if detail.startswith(label) else detail


def history_command(client: Client, *, events: bool = False, config: Path | None = None) -> str:
    """The command that shows a client's history: ``fleetstat history web01 --config FILE``.

    With the ``config`` it reads the same database from any folder.
    """
    command = f"fleetstat history {shlex.quote(client.label)}"
    if config is not None:
        command += f" --config {shlex.quote(str(config))}"
    return command + " --events" if events else command


# ---------------------------------------------------------------- composing: events


def compose_events(
    client: Client,
    events: Sequence[Event],
    *,
    host_id: int,
    run_id: int,
    since: datetime | None,
    settings: Settings,
    problems: Sequence[str] = (),
) -> Draft:
    """The event-log mail of one client and one run, sent every run even with no events.

    ``since`` is the previous ok run's time (None: the client's first run). At most
    ``settings.mail_max_events`` events are listed; the count of the rest is given.
    ``problems`` are the agent's errors reading the logs, told first: "no new events"
    from a log that could not be read would be a false all-clear.
    """
    warning = [f"The security log was not fully read: {p}" for p in problems]
    if not events:
        start = f"since {_when(since)}" if since else "since monitoring began"
        what = "security events NOT READ" if problems else "no new security events"
        subject = f"{PREFIX} {what} on {_who(client)}"
        body = [*warning, f"{_who(client)}: no new security events {start}."]
        return Draft(kind="events", subject=subject, body="\n".join(body) + "\n")
    failures = sum(e.level == "audit_failure" for e in events)
    subject = f"{PREFIX} {_plural(len(events), 'security event')} on {_who(client)}"
    if failures:
        subject += f" ({failures} failed)"
    lines = [*warning, f"{_who(client)}: {_plural(len(events), 'new security event')}.", ""]
    shown = events[: max(settings.mail_max_events, 0)]
    lines += [event_line(event) for event in shown]
    rest = len(events) - len(shown)
    if rest > 0:
        lines += [
            "",
            *_rest_lines(client, rest, host_id=host_id, run_id=run_id, config=settings.config),
        ]
    return Draft(kind="events", subject=subject, body="\n".join(lines) + "\n")


def event_line(event: Event) -> str:
    """One event on one line: time, id and meaning (``meanings.describe``: worded as a
    failure when it failed, with who did it to what), user, source IP, summary."""
    known = meanings.describe(event)
    what = f"{event.event_id} {known}"
    parts = [f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M:%S}", what]
    if event.user:
        parts.append(f"user={event.user}")
    if event.source_ip:
        parts.append(f"from={event.source_ip}")
    if event.message != known:
        parts.append(_summary(event.message))
    return "  ".join(parts)


def _rest_lines(
    client: Client, rest: int, *, host_id: int, run_id: int, config: Path | None
) -> list[str]:
    return [
        f"… and {rest} more: {history_command(client, events=True, config=config)}",
        f"or in SQL: SELECT * FROM security_events WHERE host_id = {host_id}"
        f" AND run_id = {run_id} ORDER BY time;",
    ]


def _summary(message: str) -> str:
    return _one_line(message.split("\n", 1)[0], SUMMARY_WIDTH)


def _one_line(text: str, width: int) -> str:
    """``text`` with every run of whitespace (newlines too) made one space, cut at ``width``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _who(client: Client) -> str:
    return f"{client.label} ({client.ip})" if client.label != client.ip else client.ip


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


# ---------------------------------------------------------------- the message


def compose_test(smtp: SmtpSettings, address: str, moment: datetime) -> EmailMessage:
    """The one test mail of ``fleetstat mail test``, sent at ``moment``, never queued."""
    mail = QueuedMail(
        id=0,
        created_at=moment,
        kind="test",
        recipient=address,
        subject=f"{PREFIX} test mail",
        body=f"This is a test mail from fleetstat, sent {_when(moment)} via "
        f"{smtp.host}:{smtp.port} ({smtp.tls}).\n",
        attempts=0,
    )
    message = build_message(mail, smtp.sender)
    del message["Message-ID"]
    message["Message-ID"] = make_msgid("fleetstat.test")
    return message


def build_message(mail: QueuedMail, sender: str) -> EmailMessage:
    """The RFC 5322 message of one outbox row: plain text, UTF-8, dated when it was queued.

    The Message-ID is derived from the outbox id, so a retried row keeps its id.
    """
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = sender
    message["To"] = mail.recipient
    message["Date"] = format_datetime(mail.created_at.astimezone(UTC))
    domain = sender.rpartition("@")[2] or "localhost"
    stamp = int(mail.created_at.timestamp())
    message["Message-ID"] = f"<fleetstat.{mail.id}.{stamp}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body, charset="utf-8")
    return message
