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
from datetime import datetime

from sqlalchemy.orm import Session

from fleetstat import alerts, mail
from fleetstat.model import AlertRule, HostResult, Outcome, Settings
from fleetstat.store import Store, alert_states, outbox

log = logging.getLogger(__name__)

#: How many earlier values an alert mail shows per rule.
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
    if not result.client.mail:
        log.info("%s has no mail address: no mail is sent for it", result.client.label)
    rules = alerts.rules_for(result.client)
    alert_states.create_missing(store, host_id, rules, now)
    events_draft = _events_draft(store, run_id, host_id, result, settings)
    with store.session() as session:
        notices = _apply(
            session, run_id=run_id, host_id=host_id, result=result, rules=rules, now=now
        )
        drafts = [_alert_draft(session, host_id, result, notices, settings)] if notices else []
        drafts += [events_draft] if events_draft else []
        return _enqueue(session, drafts, run_id=run_id, host_id=host_id, result=result, now=now)


def _apply(
    session: Session,
    *,
    run_id: int,
    host_id: int,
    result: HostResult,
    rules: Sequence[AlertRule],
    now: datetime,
) -> list[alerts.Notice]:
    """Write each changed state compare-and-set; the notices of the changes this call won."""
    states = alert_states.load(session, host_id)
    notices = []
    for rule in rules:
        evaluation = alerts.evaluate(rule, states.get(rule.key), result, now)
        if not evaluation.changed:
            continue
        if not alert_states.save(session, host_id, evaluation.old, evaluation.new, now):
            log.info("%s %s: changed by another collector", result.client.label, rule.key)
            continue
        if evaluation.transition:
            alert_states.record_transition(
                session, host_id, evaluation.new, evaluation.transition, run_id=run_id, now=now
            )
        if evaluation.notice:
            notices.append(evaluation.notice)
    return notices


def _alert_draft(
    session: Session,
    host_id: int,
    result: HostResult,
    notices: Sequence[alerts.Notice],
    settings: Settings,
) -> outbox.Draft:
    history = {
        n.rule.key: alert_states.recent_values(session, host_id, n.rule, HISTORY_POINTS)
        for n in notices
    }
    return mail.compose_alert(result, notices, history, settings)


def _events_draft(
    store: Store, run_id: int, host_id: int, result: HostResult, settings: Settings
) -> outbox.Draft | None:
    if result.outcome != Outcome.OK or not result.client.mail:
        return None
    events = store.events_of_run(run_id, host_id)
    since = None if events else store.previous_ok_at(host_id, run_id)
    return mail.compose_events(
        result.client, events, host_id=host_id, run_id=run_id, since=since, settings=settings
    )


def _enqueue(
    session: Session,
    drafts: Sequence[outbox.Draft],
    *,
    run_id: int,
    host_id: int,
    result: HostResult,
    now: datetime,
) -> list[int]:
    recipients = result.client.mail
    ids: list[int] = []
    for draft in drafts:
        ids += outbox.enqueue(session, draft, recipients, now=now, run_id=run_id, host_id=host_id)
    return ids
