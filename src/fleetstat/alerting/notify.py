"""Alert states and mail: per host in its transaction, then once per pass per recipient.

``after_host`` runs inside the transaction that stores one host result (the same
session as ``Store.record``): it writes every alert state change (compare-and-set, with
its ``alert_transitions`` row), quietly resolves the rules that left the client's
config, and keeps in ``mail_items`` what each of the client's addresses is to read —
one item per notice and one for the host's event log. So the sample, its events, the
states and what is to be mailed commit together or not at all.

``compose_pass`` runs once at the end of a pass, in one transaction: it retires the
hosts that left the config (their alerts resolve quietly), then turns every item not
yet mailed — this pass's, and any an earlier pass left behind when it stopped short —
into at most two mails per recipient: one alert mail (only when a notice is not
silenced) and one event-log digest (always). ``mail.flush`` then sends them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fleetstat.alerting import mailtext, rules, silences
from fleetstat.alerting.mailtemplates import Templates
from fleetstat.core import alertstate
from fleetstat.core.model import AlertRule, Config, Event, HostResult, Settings
from fleetstat.store import alert_states, mail_items, outbox, queries, retired
from fleetstat.store import silences as stored_silences
from fleetstat.store.models import MailItem
from fleetstat.store.outbox import Kind
from fleetstat.store.silences import SilenceRow

log = logging.getLogger(__name__)

#: How many values of earlier runs an alert mail shows per rule.
HISTORY_POINTS = 5


@dataclass(frozen=True)
class _Host:
    """One client's result in one run, as the steps below need it."""

    session: Session
    run_id: int
    host_id: int
    result: HostResult
    now: datetime


def after_host(  # noqa: PLR0917 (the host transaction's caller passes these in order)
    session: Session,
    run_id: int,
    host_id: int,
    result: HostResult,
    settings: Settings,
    now: datetime,
) -> int:
    """Judge the client's rules and the two built-in ones; keep what is to be mailed.

    Runs in the host's transaction (``session``). Returns how many mail items it kept
    (none for a client without ``mail``). ``now`` is the evaluation time (UTC).
    """
    host = _Host(session, run_id, host_id, result, now)
    client = result.client
    if not client.mail:
        log.info("%s has no mail address: no mail is sent for it", client.label)
    client_rules = rules.rules_for(client)
    states = alert_states.load(session, host_id)
    initial = [rules.initial_state(rule, now) for rule in client_rules]
    states.update(alert_states.create_missing(session, host_id, initial, now, have=states))
    quiet = stored_silences.in_force(session, now)
    notices = _apply(host, client_rules, quiet, states)
    _retire_rules(host, {rule.key for rule in client_rules}, states)
    facts = [
        (notice, mailtext.alert_facts(notice, result, _history(host, notice), settings))
        for notice in notices
    ]
    since = queries.previous_ok_at(session, host_id, run_id)
    log_facts = mailtext.log_facts(
        result, run_id=run_id, host_id=host_id, since=since, config=settings.config
    )
    items = [
        _item(host, recipient, Kind.ALERT, fact, notice)
        for recipient in client.mail
        for notice, fact in facts
    ]
    items += [_item(host, recipient, Kind.EVENTS, log_facts) for recipient in client.mail]
    mail_items.keep(session, items)
    return len(items)


def _apply(
    host: _Host,
    client_rules: Sequence[AlertRule],
    quiet: Sequence[SilenceRow],
    states: Mapping[str, alertstate.AlertState],
) -> list[rules.Notice]:
    """Write each changed state compare-and-set; the notices of the changes this call won."""
    client = host.result.client
    notices = []
    for rule in client_rules:
        hushed = silences.any_covers(quiet, client, rule)
        evaluation = rules.evaluate(
            rule, states.get(rule.key), host.result, host.now, silenced=hushed
        )
        if evaluation.changed and _save(host, evaluation) and evaluation.notice:
            notices.append(evaluation.notice)
    return notices


def _save(host: _Host, evaluation: rules.Evaluation) -> bool:
    """Write one change and its transition; False when another collector changed it first."""
    old, new = evaluation.old, evaluation.new
    if not alert_states.save(host.session, host.host_id, old, new, host.now):
        log.info(
            "%s %s: changed by another collector", host.result.client.label, evaluation.rule.key
        )
        return False
    if evaluation.transition:
        alert_states.record_transition(
            host.session,
            host.host_id,
            new,
            evaluation.transition,
            run_id=host.run_id,
            now=host.now,
        )
    return True


def _retire_rules(host: _Host, keep: set[str], states: Mapping[str, alertstate.AlertState]) -> None:
    """Resolve quietly the host's rules that are no longer in its config."""
    for key, state in states.items():
        if key not in keep:
            _retire(host.session, host.host_id, state, host.run_id, host.now)


def _retire(
    session: Session, host_id: int, state: alertstate.AlertState, run_id: int | None, now: datetime
) -> None:
    evaluation = rules.retire(state, now)
    if evaluation is None:
        return
    if alert_states.save(session, host_id, evaluation.old, evaluation.new, now):
        assert evaluation.transition is not None
        alert_states.record_transition(
            session, host_id, evaluation.new, evaluation.transition, run_id=run_id, now=now
        )


def _history(host: _Host, notice: rules.Notice) -> list[alert_states.Point]:
    return alert_states.recent_values(
        host.session, host.host_id, notice.rule, HISTORY_POINTS, before_run=host.run_id
    )


def _item(
    host: _Host,
    recipient: str,
    kind: Kind,
    facts: Mapping[str, Any],
    notice: rules.Notice | None = None,
) -> dict[str, Any]:
    """The ``mail_items`` row of one thing to mail ``recipient``."""
    return {
        "created_at": host.now,
        "run_id": host.run_id,
        "host_id": host.host_id,
        "recipient": recipient,
        "kind": str(kind),
        "rule": notice.rule.key if notice else None,
        "silenced": bool(notice and notice.silenced),
        "facts": json.dumps(facts, sort_keys=True),
    }


# ---------------------------------------------------------------- once per pass


def compose_pass(session: Session, config: Config, run_id: int, now: datetime) -> list[int]:
    """Retire the hosts that left ``config``, then queue the mails of every item not yet mailed.

    Per recipient: one alert mail when any of its notices is not silenced, and one
    event-log digest when it has any log item. Every item is marked handled, with the
    outbox row that carried it, compare-and-set: when another collector composed some of
    them first, ``mail_items.TakenByAnother`` is raised and the transaction rolls back. Returns the
    ids of the outbox rows queued.
    """
    retire_hosts(session, config, run_id, now)
    items = mail_items.unhandled(session)
    by_recipient: dict[str, list[MailItem]] = {}
    for item in items:
        by_recipient.setdefault(item.recipient, []).append(item)
    templates = Templates(config.settings.mail_templates)
    queued: list[int] = []
    for recipient, mine in sorted(by_recipient.items()):
        queued += _queue_for(session, recipient, mine, templates, config.settings, run_id, now)
    return queued


def retire_hosts(session: Session, config: Config, run_id: int, now: datetime) -> list[int]:
    """Mark retired the hosts not in ``config`` and resolve their alerts quietly; their ids."""
    addresses = {client.address for client in config.clients}
    gone = retired.retire_others(session, addresses, now)
    states = alert_states.states_of_hosts(session)
    for host_id in gone:
        for state in states.get(host_id, {}).values():
            _retire(session, host_id, state, run_id, now)
    return gone


def _queue_for(  # noqa: PLR0917 (one recipient's share of the pass)
    session: Session,
    recipient: str,
    items: Sequence[MailItem],
    templates: Templates,
    settings: Settings,
    run_id: int,
    now: datetime,
) -> list[int]:
    """Queue ``recipient``'s alert mail and digest of ``items``; the outbox ids."""
    notices = [item for item in items if item.kind == Kind.ALERT]
    loud = [item for item in notices if not item.silenced]
    logs = [item for item in items if item.kind == Kind.EVENTS]
    drafts: list[tuple[outbox.Draft, Sequence[MailItem]]] = []
    if loud:
        drafts.append((mailtext.compose_alerts([_facts(i) for i in loud], templates, now), loud))
    if logs:
        hushed = [_facts(item) for item in notices if item.silenced]
        drafts.append((_digest(session, logs, hushed, templates, settings, now), logs))
    queued = [_queue(session, draft, recipient, carried, run_id, now) for draft, carried in drafts]
    mail_items.mark_handled(session, [item.id for item in notices if item.silenced], None, now)
    return queued


def _digest(  # noqa: PLR0917 (one recipient's digest)
    session: Session,
    logs: Sequence[MailItem],
    hushed: Sequence[Mapping[str, Any]],
    templates: Templates,
    settings: Settings,
    now: datetime,
) -> outbox.Draft:
    """The event-log digest of ``logs``, with the ``hushed`` (silenced) alerts noted."""
    events = queries.events_of_runs(session, [(item.run_id, item.host_id) for item in logs])
    entries = [_log_entry(item, events[(item.run_id, item.host_id)]) for item in logs]
    return mailtext.compose_digest(
        entries, hushed, templates, max_events=settings.mail_max_events, at=now
    )


def _queue(  # noqa: PLR0917 (one mail and what it carries)
    session: Session,
    draft: outbox.Draft,
    recipient: str,
    items: Sequence[MailItem],
    run_id: int,
    now: datetime,
) -> int:
    [outbox_id] = outbox.enqueue(session, draft, [recipient], now=now, run_id=run_id)
    mail_items.mark_handled(session, [item.id for item in items], outbox_id, now)
    return outbox_id


def _facts(item: MailItem) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(item.facts)
    return facts


def _log_entry(item: MailItem, events: Sequence[Event]) -> mailtext.LogEntry:
    mailed = [event for event in events if not event.own_session]
    return mailtext.LogEntry(facts=_facts(item), events=mailed)
