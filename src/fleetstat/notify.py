"""After each host's result is stored: judge its alert rules and queue the mails.

``after_host`` runs once per client per run, after ``Store.record``. In ONE transaction
it writes every alert state change (compare-and-set, with its ``alert_transitions``
row), the digest mail of the notices this collector won, and the event-log mail. The
run's caller then sends the outbox with ``mail.flush`` once at the end of the run.

A failed result (any outcome but ``ok``) gets no event-log mail: nothing was read from
the client, and the ``unreachable`` alert already tells what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from fleetstat import alerts, mailtext
from fleetstat.model import AlertRule, EventGap, HostResult, Outcome, Settings
from fleetstat.store import Store, alert_states, outbox

log = logging.getLogger(__name__)

#: How many values of earlier runs an alert mail shows per rule.
HISTORY_POINTS = 5


def after_host(  # noqa: PLR0917 (the run's caller passes these in order)
    store: Store,
    run_id: int,
    host_id: int,
    result: HostResult,
    settings: Settings,
    now: datetime,
) -> list[int]:
    """Evaluate the client's rules and the two built-in ones; queue its mails.

    Returns the ids of the outbox rows queued (none for a client without ``mail``).
    ``now`` is the evaluation time (UTC).
    """
    host = _Host(run_id, host_id, result, now)
    if not result.client.mail:
        log.info("%s has no mail address: no mail is sent for it", result.client.label)
    rules = alerts.rules_for(result.client)
    alert_states.create_missing(store, host_id, rules, now)
    drafts = [_events_draft(store, host, settings)] if _wants_events(result) else []
    with store.session() as session:
        notices = _apply(session, host, rules)
        if notices:
            drafts.insert(0, _alert_draft(session, host, notices, settings))
        return _enqueue(session, host, drafts)


@dataclass(frozen=True)
class _Host:
    """One client's result in one run, as the steps below need it."""

    run_id: int
    host_id: int
    result: HostResult
    now: datetime


def _apply(session: Session, host: _Host, rules: Sequence[AlertRule]) -> list[alerts.Notice]:
    """Write each changed state compare-and-set; the notices of the changes this call won."""
    states = alert_states.load(session, host.host_id)
    notices = []
    for rule in rules:
        evaluation = alerts.evaluate(rule, states.get(rule.key), host.result, host.now)
        if evaluation.changed and _save(session, host, evaluation) and evaluation.notice:
            notices.append(evaluation.notice)
    return notices


def _save(session: Session, host: _Host, evaluation: alerts.Evaluation) -> bool:
    """Write one change and its transition; False when another collector changed it first."""
    if not alert_states.save(session, host.host_id, evaluation.old, evaluation.new, host.now):
        log.info(
            "%s %s: changed by another collector", host.result.client.label, evaluation.rule.key
        )
        return False
    if evaluation.transition:
        alert_states.record_transition(
            session,
            host.host_id,
            evaluation.new,
            evaluation.transition,
            run_id=host.run_id,
            now=host.now,
        )
    return True


def _alert_draft(
    session: Session, host: _Host, notices: Sequence[alerts.Notice], settings: Settings
) -> outbox.Draft:
    history = {
        n.rule.key: alert_states.recent_values(
            session, host.host_id, n.rule, HISTORY_POINTS, before_run=host.run_id
        )
        for n in notices
    }
    return mailtext.compose_alert(host.result, notices, history, settings)


def _wants_events(result: HostResult) -> bool:
    return result.outcome == Outcome.OK and bool(result.client.mail)


def _events_draft(store: Store, host: _Host, settings: Settings) -> outbox.Draft:
    events = [e for e in store.events_of_run(host.run_id, host.host_id) if not e.own_session]
    since = None if events else store.previous_ok_at(host.host_id, host.run_id)
    answer = host.result.answer
    problems = [text for part, text in answer.errors if part == "events"] if answer else []
    problems += [gap_text(gap) for gap in answer.gaps] if answer else []
    return mailtext.compose_events(
        host.result.client,
        events,
        host_id=host.host_id,
        run_id=host.run_id,
        since=since,
        settings=settings,
        problems=problems,
    )


def gap_text(gap: EventGap) -> str:
    """What the mail says about log data that was gone: how much, and why."""
    amount = "an unknown number of bytes" if gap.bytes is None else f"{gap.bytes} bytes"
    return f"{amount} of {gap.file} were skipped: {gap.reason}"


def _enqueue(session: Session, host: _Host, drafts: Sequence[outbox.Draft]) -> list[int]:
    ids: list[int] = []
    for draft in drafts:
        ids += outbox.enqueue(
            session,
            draft,
            host.result.client.mail,
            now=host.now,
            run_id=host.run_id,
            host_id=host.host_id,
        )
    return ids
