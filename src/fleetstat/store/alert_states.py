"""The queries of alert state (``alert_states``, ``alert_transitions``) and the recent values
an alert mail shows.

A state row is created once per (host, rule) — an insert that skips a row another
collector made first — and then only updated compare-and-set on ``version``:
``UPDATE ... WHERE host_id = ? AND rule = ? AND version = ?``. A row count of 0 means
another collector changed it first; that collector owns the change and its mail. Every
function works inside the caller's session and transaction; none commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from fleetstat.core import alertstate
from fleetstat.core.metrics import METRICS
from fleetstat.core.model import AlertRule
from fleetstat.store.models import AlertState, AlertTransition, Host, Sample, SampleDisk
from fleetstat.store.writes import insert_ignoring_duplicates

STATES: Table = AlertState.__table__  # type: ignore[assignment]
TRANSITIONS: Table = AlertTransition.__table__  # type: ignore[assignment]
#: The statements of every host result, built once (building one costs more than running it).
_LOAD = select(STATES).where(STATES.c.host_id == bindparam("b_host"))
_SAVE = update(STATES).where(  # SET: the row's keys
    STATES.c.host_id == bindparam("b_host"),
    STATES.c.rule == bindparam("b_rule"),
    STATES.c.version == bindparam("b_version"),
)
_ADD_TRANSITION = insert(TRANSITIONS)

#: The ``version`` of a state row as first inserted.
FIRST_VERSION = 1

#: One earlier value of a metric: (collected_at UTC, value in the rule's unit or None).
Point = tuple[datetime, float | None]


def load(session: Session, host_id: int) -> dict[str, alertstate.AlertState]:
    """The stored states of one host, by rule key."""
    rows = session.execute(_LOAD, {"b_host": host_id})
    return {row.rule: _state(row) for row in rows}


def create_missing(
    session: Session,
    host_id: int,
    initial: Iterable[alertstate.AlertState],
    now: datetime,
    have: dict[str, alertstate.AlertState],
) -> dict[str, alertstate.AlertState]:
    """Insert each of the ``initial`` states (the rules' starting states) whose rule is
    missing from ``have`` (the host's stored states); the states this call made, by rule.

    A row another collector made first (the unique key (host_id, rule)) is skipped by
    the insert itself, so the host's transaction goes on; its compare-and-set update
    then finds another version and leaves the change to that collector.
    """
    made = {
        state.rule: replace(state, version=FIRST_VERSION)
        for state in initial
        if state.rule not in have
    }
    if made:
        rows = [_values(host_id, state, now) for state in made.values()]
        session.execute(insert_ignoring_duplicates(session, STATES, ("host_id", "rule")), rows)
    return made


def save(
    session: Session,
    host_id: int,
    old: alertstate.AlertState,
    new: alertstate.AlertState,
    now: datetime,
) -> bool:
    """Write ``new`` over ``old`` compare-and-set on ``old.version``; False when another won."""
    values = {
        "state": str(new.state),
        "value": new.value,
        "threshold": new.threshold,
        "since": new.since,
        "consecutive": new.consecutive,
        "clearing": new.clearing,
        "unmailed": new.unmailed,
        "last_notified_at": new.last_notified_at,
        "acked_at": new.acked_at,
        "ack_reason": new.ack_reason,
        "version": old.version + 1,
        "updated_at": now,
    }
    where = {"b_host": host_id, "b_rule": old.rule, "b_version": old.version}
    result = cast(CursorResult[object], session.execute(_SAVE, {**values, **where}))
    return result.rowcount == 1


def record_transition(
    session: Session,
    host_id: int,
    state: alertstate.AlertState,
    transition: alertstate.Transition,
    *,
    run_id: int | None,
    now: datetime,
) -> None:
    """Add one ``alert_transitions`` row for a state change."""
    row = {
        "host_id": host_id,
        "rule": state.rule,
        "old_state": str(transition.old_state),
        "new_state": str(transition.new_state),
        "value": state.value,
        "threshold": state.threshold,
        "reason": transition.reason,
        "run_id": run_id,
        "created_at": now,
    }
    session.execute(_ADD_TRANSITION, row)


def recent_values(
    session: Session, host_id: int, rule: AlertRule, count: int = 5, before_run: int | None = None
) -> list[Point]:
    """The last ``count`` stored values of the rule's metric, newest first.

    In the metric's unit (``metrics.METRICS``); samples of run ``before_run`` and later
    are left out. Empty for the built-in rules.
    """
    metric = METRICS.get(rule.type)
    if metric is None:
        return []
    samples = select(Sample).where(Sample.host_id == host_id)
    if before_run is not None:
        samples = samples.where(Sample.run_id < before_run)
    rows = session.scalars(samples.order_by(Sample.collected_at.desc()).limit(count)).all()
    return [
        (row.collected_at, metric.stored(row, _disks(session, row.id), rule.mount)) for row in rows
    ]


def _disks(session: Session, sample_id: int) -> dict[str, float]:
    statement = select(SampleDisk.mount, SampleDisk.percent).where(
        SampleDisk.sample_id == sample_id
    )
    return {mount: percent for mount, percent in session.execute(statement)}


# ---------------------------------------------------------------- what is firing


@dataclass(frozen=True)
class AlertRow:
    """The state of one rule on one host, as ``fleetstat alerts`` and the web page show it.

    ``value`` and ``threshold`` are in the rule's unit; times are UTC.
    """

    host_id: int
    host: str
    address: str
    rule: str
    type: str
    state: str
    since: datetime
    value: float | None
    threshold: float | None
    acked_at: datetime | None
    ack_reason: str | None


def active(session: Session) -> list[AlertRow]:
    """Every state that is not ``ok`` (firing, pending), by host name and rule."""
    return _rows(session, AlertState.state != str(alertstate.State.OK))


def of_host(session: Session, host_id: int) -> list[AlertRow]:
    """Every state of host ``host_id``, ``ok`` ones too, by rule."""
    return _rows(session, AlertState.host_id == host_id)


def _rows(session: Session, where: ColumnElement[bool]) -> list[AlertRow]:
    query = (
        select(AlertState, Host.name, Host.address)
        .join(Host, Host.id == AlertState.host_id)
        .where(where)
        .order_by(Host.name, Host.address, AlertState.rule)
    )
    return [
        AlertRow(
            host_id=row.host_id,
            host=name,
            address=address,
            rule=row.rule,
            type=row.type,
            state=row.state,
            since=row.since,
            value=row.value,
            threshold=row.threshold,
            acked_at=row.acked_at,
            ack_reason=row.ack_reason,
        )
        for row, name, address in session.execute(query)
    ]


def _state(row: Row[Any]) -> alertstate.AlertState:
    return alertstate.AlertState(
        rule=row.rule,
        type=row.type,
        state=alertstate.State(row.state),
        value=row.value,
        threshold=row.threshold,
        since=row.since,
        consecutive=row.consecutive,
        last_notified_at=row.last_notified_at,
        version=row.version,
        clearing=row.clearing,
        unmailed=row.unmailed,
        acked_at=row.acked_at,
        ack_reason=row.ack_reason,
    )


def _values(host_id: int, state: alertstate.AlertState, now: datetime) -> dict[str, object]:
    return {
        "host_id": host_id,
        "rule": state.rule,
        "type": state.type,
        "state": str(state.state),
        "value": state.value,
        "threshold": state.threshold,
        "since": state.since or now,
        "consecutive": state.consecutive,
        "clearing": 0,
        "unmailed": False,
        "last_notified_at": state.last_notified_at,
        "version": FIRST_VERSION,
        "updated_at": now,
    }


def acknowledge(
    session: Session, host_id: int, rule: str, reason: str | None, now: datetime
) -> bool:
    """Mark the firing state of (host, rule) acknowledged at ``now``; False when not firing.

    Compare-and-set like every state write: one UPDATE that also bumps ``version``.
    """
    statement = (
        update(AlertState)
        .where(
            AlertState.host_id == host_id,
            AlertState.rule == rule,
            AlertState.state == str(alertstate.State.FIRING),
        )
        .values(
            acked_at=now,
            ack_reason=reason,
            version=AlertState.version + 1,
            updated_at=now,
        )
    )
    return cast(CursorResult[object], session.execute(statement)).rowcount == 1


def states_of_hosts(session: Session) -> dict[int, dict[str, alertstate.AlertState]]:
    """Every stored state, by host id and rule key (for retiring rules left out of the config)."""
    found: dict[int, dict[str, alertstate.AlertState]] = {}
    for row in session.execute(select(STATES)):
        found.setdefault(row.host_id, {})[row.rule] = _state(row)
    return found
