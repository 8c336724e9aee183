"""Mail text: the facts a host result gives to mail, and the mails of a pass (pure).

Per host, in its transaction, ``alert_facts`` and ``log_facts`` turn a notice or the
host's event-log outcome into plain, JSON-ready facts (values already written in their
units), which ``notify`` keeps in ``mail_items``. At the end of a pass
``compose_alerts`` and ``compose_digest`` turn one recipient's facts into one
``outbox.Draft`` each, through the Jinja2 templates of ``templates`` (shipped in
``fleetstat/alerting/templates/mail``, overridable file by file from the ``mail-templates``
folder). ``build_message`` turns one outbox row into the RFC 5322 message that
``mail.flush`` sends. Nothing here does I/O but reading templates.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from fleetstat.agent import meanings
from fleetstat.alerting import rules
from fleetstat.alerting.mailtemplates import Templates
from fleetstat.core import alertstate
from fleetstat.core.model import (
    Client,
    Event,
    EventGap,
    HostResult,
    Outcome,
    Settings,
    SmtpSettings,
)
from fleetstat.store.outbox import Draft, Kind, QueuedMail

PREFIX = "[fleetstat]"
SUMMARY_WIDTH = 100
SUBJECT_WIDTH = 200
SUBJECT_HOSTS = 3

NOTICE_WORDS = {
    alertstate.NoticeKind.FIRING: "FIRING",
    alertstate.NoticeKind.REMINDER: "STILL FIRING",
    alertstate.NoticeKind.RESOLVED: "RESOLVED",
}


def meaning(event_id: str) -> str | None:
    """What a well-known event id means, from the agent's ``meanings`` table; or None."""
    found = meanings.meaning(event_id)
    return found[1] if found else None


# ---------------------------------------------------------------- facts, per host


def alert_facts(
    notice: rules.Notice,
    result: HostResult,
    history: Sequence[tuple[datetime, float | None]],
    settings: Settings,
) -> dict[str, Any]:
    """What the alert mail says about one notice of one host, as JSON-ready values.

    ``history`` is the rule's last stored values, newest first.
    """
    rule, state, client = notice.rule, notice.state, result.client
    facts: dict[str, Any] = {
        "kind": str(notice.kind),
        "word": NOTICE_WORDS[notice.kind],
        "group": group_of(notice),
        "rule": rule.key,
        "host": client.label,
        "who": who(client),
        "port": client.port,
        "client_group": client.group,
        "detail": _detail(notice),
        "state": str(state.state),
        "since": when(state.since),
        "runs": _runs(notice),
        "history_command": history_command(client, config=settings.config),
        "builtin": rule.type in rules.BUILTIN_TYPES,
    }
    if rule.type in rules.BUILTIN_TYPES:
        facts |= _builtin_facts(notice, result, settings)
    else:
        facts |= {
            "value": rules.format_value(rule, state.value),
            "limit": rules.format_limit(rule),
            "clears": rules.format_limit(rule, rule.clear) if rule.clear is not None else None,
            "previous": _history_line(rule, history),
        }
    return facts


def group_of(notice: rules.Notice) -> str:
    """The heading a notice is grouped under: the rule, or the outcome's own words."""
    outcome = notice.reading.outcome
    if notice.rule.type != rules.UNREACHABLE.type:
        return notice.rule.key
    if outcome in rules.REACHABILITY:
        return rules.REACHABILITY[outcome].headline
    return notice.reading.detail


def _builtin_facts(notice: rules.Notice, result: HostResult, settings: Settings) -> dict[str, Any]:
    facts: dict[str, Any] = {"outcome": str(result.outcome), "error": result.error or "-"}
    if notice.kind == alertstate.NoticeKind.RESOLVED:
        return facts
    if notice.rule.type == rules.HOST_KEY.type:
        known = str(settings.known_hosts.expanduser())
        entry = (
            result.client.ip
            if result.client.port == 22
            else (f"[{result.client.ip}]:{result.client.port}")
        )
        facts["host_key"] = {
            "known_hosts": known,
            "command": f"ssh-keygen -R {shlex.quote(entry)} -f {shlex.quote(known)}",
        }
        return facts
    words = rules.REACHABILITY.get(result.outcome)
    facts["hint"] = words.hint if words else None
    return facts


def log_facts(
    result: HostResult,
    *,
    run_id: int,
    host_id: int,
    since: datetime | None,
    config: Path | None = None,
) -> dict[str, Any]:
    """What the event-log digest says about one host of one run, as JSON-ready values.

    ``since`` is the previous ok run's time (None: the client's first run); ``config``
    is the config file the commands in the mail name. The events themselves are read
    from ``security_events`` when the digest is composed.
    """
    answer = result.answer
    problems: list[str]
    gaps: list[str] = []
    if result.outcome == Outcome.OK and answer is not None:
        problems = [text for part, text in answer.errors if part == "events"]
        gaps = [gap_text(gap) for gap in answer.gaps]
    else:
        words = rules.REACHABILITY.get(result.outcome)
        headline = words.headline if words else str(result.outcome)
        problems = [f"{headline} ({result.outcome}): {result.error or '-'}"]
    return {
        "host": result.client.label,
        "who": who(result.client),
        "run_id": run_id,
        "host_id": host_id,
        "outcome": str(result.outcome),
        "problems": problems,
        "gaps": gaps,
        "since": when(since) if since else None,
        "history_command": history_command(result.client, events=True, config=config),
        "doctor_command": doctor_command(result.client, config),
    }


def _history_line(rule: Any, history: Sequence[tuple[datetime, float | None]]) -> str:
    if not history:
        return "no earlier samples"
    return ", ".join(
        f"{at.astimezone(UTC):%m-%d %H:%M} {rules.format_value(rule, v)}" for at, v in history
    )


def _runs(notice: rules.Notice) -> str:
    runs = notice.state.consecutive
    if notice.kind == alertstate.NoticeKind.RESOLVED or runs <= 1:
        return ""
    return f" ({runs} runs in a row over the limit)"


def _detail(notice: rules.Notice) -> str:
    detail = notice.reading.detail
    if notice.rule.type == rules.HOST_KEY.type:
        return f"{notice.rule.key}: {detail}"
    return detail


def history_command(client: Client, *, events: bool = False, config: Path | None = None) -> str:
    """The command that shows a client's history: ``fleetstat history web01 --config FILE``.

    With the ``config`` it reads the same database from any folder.
    """
    command = f"fleetstat history {shlex.quote(client.label)}"
    if config is not None:
        command += f" --config {shlex.quote(str(config))}"
    return command + " --events" if events else command


def doctor_command(client: Client, config: Path | None = None) -> str:
    """The command that says what a client lacks: ``fleetstat doctor web01 --config FILE``."""
    command = f"fleetstat doctor {shlex.quote(client.label)}"
    return command + (f" --config {shlex.quote(str(config))}" if config is not None else "")


# ---------------------------------------------------------------- the alert mail of a pass


def compose_alerts(facts: Sequence[Mapping[str, Any]], templates: Templates, at: datetime) -> Draft:
    """One recipient's alert mail of one pass: every notice, grouped by rule, then host.

    ``at`` is when the pass composed it (UTC).
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for fact in sorted(facts, key=lambda f: (f["group"], f["host"])):
        groups.setdefault(fact["group"], []).append(fact)
    tally = Counter(fact["word"] for fact in facts)
    counts = ", ".join(f"{tally[word]} {word}" for word in NOTICE_WORDS.values() if tally[word])
    context = {"groups": groups, "counts": counts, "at": when(at), "total": len(facts)}
    subject = templates.render("alert-subject.txt", context | {"summary": _summary(groups)})
    body = templates.render("alert.txt", context)
    return Draft(kind=Kind.ALERT, subject=one_line(subject, SUBJECT_WIDTH), body=body)


def _summary(groups: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """``memory on db01, db02, db03; cpu on web01``: the hosts of each group, a few each."""
    parts = []
    for group, facts in groups.items():
        hosts = list(dict.fromkeys(fact["host"] for fact in facts))
        shown = ", ".join(hosts[:SUBJECT_HOSTS])
        if len(hosts) > SUBJECT_HOSTS:
            shown += f" and {len(hosts) - SUBJECT_HOSTS} more"
        parts.append(f"{group} on {shown}")
    return "; ".join(parts)


# ---------------------------------------------------------------- the event-log digest


@dataclass(frozen=True)
class LogEntry:
    """One host of a digest: its log facts (``log_facts``) and the events its run stored."""

    facts: Mapping[str, Any]
    events: Sequence[Event]


def compose_digest(
    entries: Sequence[LogEntry],
    silenced: Sequence[Mapping[str, Any]],
    templates: Templates,
    *,
    max_events: int,
    at: datetime,
) -> Draft:
    """One recipient's event-log digest of one pass, sent every pass even with no events.

    Hosts whose log could not be read come first, then those whose log was read but had
    lost data (rotated away before it was read: the gaps), then those with new events
    (counts per event id, then at most ``max_events`` lines each), then one line of the
    quiet ones.
    ``silenced`` are the alert facts a silence kept from the alert mail: counted here.
    """
    unread = [e for e in entries if e.facts["problems"]]
    lost = [e for e in entries if e.facts.get("gaps")]
    noisy = [e for e in entries if e.events]
    quiet = [e for e in entries if not (e.events or e.facts["problems"] or e.facts.get("gaps"))]
    new = sum(len(e.events) for e in entries)
    context = {
        "unread": [_log_host(e, max_events) for e in unread],
        "lost": [_log_host(e, max_events) for e in lost],
        "lost_hosts": len({e.facts["host_id"] for e in lost}),
        "noisy": [_log_host(e, max_events) for e in noisy],
        "quiet": ", ".join(e.facts["host"] for e in quiet),
        "quiet_since": _quiet_since(quiet),
        "silenced": silenced,
        "hosts": len({e.facts["host_id"] for e in entries}),
        "new": new,
        "noisy_hosts": len({e.facts["host_id"] for e in noisy}),
        "unread_hosts": len({e.facts["host_id"] for e in unread}),
        "at": when(at),
    }
    subject = templates.render("digest-subject.txt", context)
    body = templates.render("digest.txt", context)
    return Draft(kind=Kind.EVENTS, subject=one_line(subject, SUBJECT_WIDTH), body=body)


def _log_host(entry: LogEntry, max_events: int) -> dict[str, Any]:
    events = entry.events
    shown = events[: max(max_events, 0)]
    kinds = Counter(_event_kind(e) for e in events)
    facts = entry.facts
    return {
        **facts,
        "count": len(events),
        "failed": sum(e.level == "audit_failure" for e in events),
        "kinds": kinds.most_common(),
        "lines": [event_line(e) for e in shown],
        "rest": len(events) - len(shown),
        "sql": f"SELECT * FROM security_events WHERE host_id = {facts['host_id']}"
        f" AND run_id = {facts['run_id']} ORDER BY time;",
    }


def _quiet_since(quiet: Sequence[LogEntry]) -> str:
    """Since when the quiet hosts have nothing new: the oldest previous run of theirs."""
    times = [e.facts["since"] for e in quiet if e.facts["since"]]
    if len(times) < len(quiet) or not times:
        return "since monitoring began" if not times else f"since {min(times)} or earlier"
    return f"since {min(times)}"


def _event_kind(event: Event) -> str:
    known = meaning(event.event_id)
    return f"{event.event_id} {known}" if known else event.event_id


def event_line(event: Event) -> str:
    """One event on one line: time, id and meaning (``meanings.describe``: worded as a
    failure when it failed, with who did it to what), user, source IP, summary."""
    known = meanings.describe(event)
    parts = [f"{event.time.astimezone(UTC):%Y-%m-%d %H:%M:%S}", f"{event.event_id} {known}"]
    if event.user:
        parts.append(f"user={event.user}")
    if event.source_ip:
        parts.append(f"from={event.source_ip}")
    if event.message != known:
        parts.append(one_line(event.message.split("\n", 1)[0], SUMMARY_WIDTH))
    return "  ".join(parts)


def gap_text(gap: EventGap) -> str:
    """What the digest says about log data that was gone: how much, and why."""
    amount = "an unknown number of bytes" if gap.bytes is None else f"{gap.bytes} bytes"
    return f"{amount} of {gap.file} were skipped: {gap.reason}"


# ---------------------------------------------------------------- small helpers


def one_line(text: str, width: int) -> str:
    """``text`` with every run of whitespace (newlines too) made one space, cut at ``width``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def who(client: Client) -> str:
    """``web01 (10.0.0.5)``, or the IP alone when the client has no other name."""
    return f"{client.label} ({client.ip})" if client.label != client.ip else client.ip


def when(moment: datetime | None) -> str:
    """``2026-11-27 12:00:00 UTC``, or ``-``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


# ---------------------------------------------------------------- the message


def compose_test(smtp: SmtpSettings, address: str, moment: datetime) -> EmailMessage:
    """The one test mail of ``fleetstat mail test``, sent at ``moment``, never queued."""
    mail = QueuedMail(
        id=0,
        created_at=moment,
        kind=Kind.TEST,
        recipient=address,
        subject=f"{PREFIX} test mail",
        body=f"This is a test mail from fleetstat, sent {when(moment)} via "
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
