"""The queries of alert state (``alert_states``, ``alert_transitions``) and the recent values
an alert mail shows.

A state row is created once per (host, rule) and then only updated compare-and-set on
``version``: ``UPDATE ... WHERE id = ? AND version = ?``. A row count of 0 means another
collector changed it first; that collector owns the change and its mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetstat import alerts
from fleetstat.errors import StoreError
from fleetstat.model import AlertRule
from fleetstat.store.models import AlertState, AlertTransition, Sample, SampleDisk

if TYPE_CHECKING:
    from fleetstat.store import Store


#: One earlier value of a metric: (collected_at UTC, value in the rule's unit or None).
Point = tuple[datetime, float | None]


def load(session: Session, host_id: int) -> dict[str, alerts.AlertState]:
    """The stored states of one host, by rule key."""
    rows = session.scalars(select(AlertState).where(AlertState.host_id == host_id))
    return {row.rule: _state(row) for row in rows}


def create_missing(store: Store, host_id: int, rules: Iterable[AlertRule], now: datetime) -> int:
    """Create an ``ok`` row for each rule that has none, each in its own transaction.

    Another collector creating the same row first (the unique constraint on
    (host_id, rule)) is not an error: that row is used. Returns how many this call made.
    """
    with store.session() as session:
        have = set(load(session, host_id))
    made = 0
    for rule in rules:
        if rule.key not in have:
            made += _insert(store, host_id, alerts.initial_state(rule, now), now)
    return made


def _insert(store: Store, host_id: int, state: alerts.AlertState, now: datetime) -> int:
    try:
        with store.session() as session:
            session.add(_row(host_id, state, now))
    except StoreError as err:
        if isinstance(err.__cause__, IntegrityError):
            return 0
        raise
    return 1


def save(
    session: Session, host_id: int, old: alerts.AlertState, new: alerts.AlertState, now: datetime
) -> bool:
    """Write ``new`` over ``old`` compare-and-set on ``old.version``; False when another won."""
    statement = (
        update(AlertState)
        .where(
            AlertState.host_id == host_id,
            AlertState.rule == old.rule,
            AlertState.version == old.version,
        )
        .values(
            state=new.state,
            value=new.value,
            threshold=new.threshold,
            since=new.since,
            consecutive=new.consecutive,
            last_notified_at=new.last_notified_at,
            version=old.version + 1,
            updated_at=now,
        )
    )
    result = cast(CursorResult[object], session.execute(statement))
    return result.rowcount == 1


def record_transition(
    session: Session,
    host_id: int,
    state: alerts.AlertState,
    transition: alerts.Transition,
    *,
    run_id: int | None,
    now: datetime,
) -> None:
    """Add one ``alert_transitions`` row for a state change."""
    session.add(
        AlertTransition(
            host_id=host_id,
            rule=state.rule,
            old_state=transition.old_state,
            new_state=transition.new_state,
            value=state.value,
            threshold=state.threshold,
            reason=transition.reason,
            run_id=run_id,
            created_at=now,
        )
    )


def recent_values(
    session: Session, host_id: int, rule: AlertRule, count: int = 5, before_run: int | None = None
) -> list[Point]:
    """The last ``count`` stored values of the rule's metric, newest first.

    memory, cpu, swap: percent; load: 1-minute load per core; disk: percent of the named
    mount, or of the fullest filesystem of each sample. Samples of run ``before_run`` and
    later are left out. Empty for the built-in rules.
    """
    samples = select(Sample).where(Sample.host_id == host_id)
    if before_run is not None:
        samples = samples.where(Sample.run_id < before_run)
    rows = session.scalars(samples.order_by(Sample.collected_at.desc()).limit(count)).all()
    if rule.type == "disk":
        return [(row.collected_at, _disk_percent(session, row.id, rule.mount)) for row in rows]
    if rule.type in SAMPLE_VALUES:
        return [(row.collected_at, SAMPLE_VALUES[rule.type](row)) for row in rows]
    return []


def _load_per_core(row: Sample) -> float | None:
    if row.load1 is None or not row.cpu_count:
        return None
    return row.load1 / row.cpu_count


def _disk_percent(session: Session, sample_id: int, mount: str | None) -> float | None:
    statement = select(SampleDisk.mount, SampleDisk.percent).where(
        SampleDisk.sample_id == sample_id
    )
    disks = {disk_mount: percent for disk_mount, percent in session.execute(statement)}
    return disks.get(mount) if mount else max(disks.values(), default=None)


SAMPLE_VALUES: dict[str, Callable[[Sample], float | None]] = {
    "memory": lambda row: row.mem_percent,
    "cpu": lambda row: row.cpu_percent,
    "swap": lambda row: row.swap_percent,
    "load": _load_per_core,
}


def _state(row: AlertState) -> alerts.AlertState:
    return alerts.AlertState(
        rule=row.rule,
        type=row.type,
        state=row.state,
        value=row.value,
        threshold=row.threshold,
        since=row.since,
        consecutive=row.consecutive,
        last_notified_at=row.last_notified_at,
        version=row.version,
    )


def _row(host_id: int, state: alerts.AlertState, now: datetime) -> AlertState:
    return AlertState(
        host_id=host_id,
        rule=state.rule,
        type=state.type,
        state=state.state,
        value=state.value,
        threshold=state.threshold,
        since=state.since or now,
        consecutive=state.consecutive,
        last_notified_at=state.last_notified_at,
        version=1,
        updated_at=now,
    )
