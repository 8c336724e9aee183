"""The reads of the web page, its JSON API and ``/metrics``: typed, frozen rows.

Each function takes an open session; times are UTC. Every query is bounded: by the
number of hosts, by an index range, or by a ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from fleetstat.core.alertstate import State
from fleetstat.core.metrics import COLUMNS
from fleetstat.store import series
from fleetstat.store.models import (
    AlertState,
    AlertTransition,
    CollectionAttempt,
    Host,
    Run,
    Sample,
    SampleDisk,
    SecurityEvent,
)
from fleetstat.store.queries import latest_sample_id


@dataclass(frozen=True)
class LatestRow:
    """One host with the figures of its newest sample (None before the first): percents,
    load averages, ``uptime_seconds``, ``mem_total`` in bytes, the fullest filesystem
    (``disk_percent`` of ``disk_mount``) and how many of its alert rules fire.
    ``figures`` holds every figure of the metrics table (``metrics.COLUMNS``) by column."""

    host_id: int
    name: str
    address: str
    ip: str
    hostname: str | None
    os_name: str | None
    last_outcome: str | None
    last_attempt_at: datetime | None
    last_ok_at: datetime | None
    cpu_percent: float | None
    mem_percent: float | None
    mem_total: int | None
    swap_percent: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    uptime_seconds: float | None
    disk_percent: float | None
    disk_mount: str | None
    firing: int
    figures: dict[str, float | None] = field(default_factory=dict)


#: The columns of ``latest``: (LatestRow field, column), in query order.
_HOST_COLUMNS = (
    ("host_id", Host.id), ("name", Host.name), ("address", Host.address), ("ip", Host.ip),
    ("hostname", Host.hostname), ("os_name", Host.os_name),
    ("last_outcome", Host.last_outcome), ("last_attempt_at", Host.last_attempt_at),
    ("last_ok_at", Host.last_ok_at),
)  # fmt: skip
_SAMPLE_COLUMNS = (
    ("cpu_percent", Sample.cpu_percent), ("mem_percent", Sample.mem_percent),
    ("mem_total", Sample.mem_total), ("swap_percent", Sample.swap_percent),
    ("load1", Sample.load1), ("load5", Sample.load5), ("load15", Sample.load15),
    ("uptime_seconds", Sample.uptime_seconds),
)  # fmt: skip


def latest(session: Session) -> list[LatestRow]:
    """Every host with its newest sample, fullest disk and firing alerts, by name: one
    query, a few index lookups per host, never a scan of the history."""
    fullest = (
        select(SampleDisk.percent, SampleDisk.mount)
        .where(SampleDisk.sample_id == Sample.id)
        .order_by(SampleDisk.percent.desc())
        .limit(1)
        .correlate(Sample)
    )
    firing = (
        select(func.count())
        .where(AlertState.host_id == Host.id, AlertState.state == State.FIRING)
        .correlate(Host)
        .scalar_subquery()
    )
    columns = [column for _, column in _HOST_COLUMNS + _SAMPLE_COLUMNS]
    figures = [getattr(Sample, column.name) for column in COLUMNS]
    query = (
        select(
            *columns,
            fullest.with_only_columns(SampleDisk.percent).scalar_subquery().label("disk_percent"),
            fullest.with_only_columns(SampleDisk.mount).scalar_subquery().label("disk_mount"),
            firing.label("firing"),
            *figures,
        )
        .select_from(Host)
        .outerjoin(Sample, Sample.id == latest_sample_id())
        .order_by(Host.name, Host.address)
    )
    names = [name for name, _ in _HOST_COLUMNS + _SAMPLE_COLUMNS] + [
        "disk_percent", "disk_mount", "firing",
    ]  # fmt: skip
    return [_latest_row(names, list(row)) for row in session.execute(query)]


def _latest_row(names: list[str], cells: list[Any]) -> LatestRow:
    """A ``LatestRow`` from the cells of ``latest``: the named ones, then the figures."""
    named, figures = cells[: len(names)], cells[len(names) :]
    by_column = dict(zip((column.name for column in COLUMNS), figures, strict=True))
    return LatestRow(**dict(zip(names, named, strict=True)), figures=by_column)


@dataclass(frozen=True)
class FleetRow(LatestRow):
    """A host of the fleet page: its ``LatestRow``, its security events of the last 24 h,
    and ``spark``, 24 hourly averages of cpu, memory, disk and load, oldest first."""

    events_24h: int = 0
    spark: dict[str, list[float | None]] = field(default_factory=dict)


def fleet(session: Session, now: datetime) -> list[FleetRow]:
    """Every host with its latest figures, firing alerts, 24 h events and sparklines."""
    day = now - timedelta(hours=24)
    counted = session.execute(
        select(SecurityEvent.host_id, func.count())
        .where(SecurityEvent.time >= day)
        .group_by(SecurityEvent.host_id)
    )
    events = {host_id: int(count) for host_id, count in counted}
    sparks = series.fleet_sparklines(session, day, now)
    return [
        FleetRow(**row.__dict__, events_24h=events.get(row.host_id, 0),
                 spark=sparks.get(row.host_id, {}))
        for row in latest(session)
    ]  # fmt: skip


def fleet_version(session: Session) -> tuple[int, ...]:
    """What changes whenever the fleet's rows do (but for the passing of time): the
    newest attempt, alert transition and security event, and the hosts' count and
    newest id. A few index lookups: cheap enough to ask on every refresh."""
    newest = [
        select(func.coalesce(func.max(column), 0)).scalar_subquery()
        for column in (CollectionAttempt.id, AlertTransition.id, SecurityEvent.id, Host.id)
    ]
    hosts = select(func.count()).select_from(Host).scalar_subquery()
    row = session.execute(select(*newest, hosts)).one()
    return tuple(int(value) for value in row)


@dataclass(frozen=True)
class HostDetail:
    """What the host page says of a host besides its charts (times UTC)."""

    host_id: int
    name: str
    address: str
    ip: str
    port: int
    hostname: str | None
    os_name: str | None
    os_version: str | None
    kernel: str | None
    arch: str | None
    python: str | None
    first_seen_at: datetime
    last_attempt_at: datetime | None
    last_ok_at: datetime | None
    last_outcome: str | None


def host(session: Session, key: str) -> HostDetail | None:
    """The host whose id, address (``ip:port``) or name is ``key``; None when unknown."""
    where = [Host.address == key, Host.name == key]
    if key.isascii() and key.isdigit() and int(key) < 2**31:
        where.append(Host.id == int(key))
    row = session.scalars(select(Host).where(or_(*where)).order_by(Host.id).limit(1)).first()
    if row is None:
        return None
    names = [name for name in HostDetail.__dataclass_fields__ if name != "host_id"]
    return HostDetail(host_id=row.id, **{name: getattr(row, name) for name in names})


@dataclass(frozen=True)
class Attempt:
    """One attempt of a host: its outcome, error (None when ok), duration in seconds, and
    what its login printed besides the answer (None: nothing)."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    outcome: str
    error: str | None
    login_noise: str | None = None


def attempts(
    session: Session, host_id: int, start: datetime, end: datetime, limit: int = 1000
) -> list[Attempt]:
    """The newest ``limit`` attempts of ``host_id`` that started in [start, end), newest first."""
    rows = session.scalars(
        select(CollectionAttempt)
        .where(CollectionAttempt.host_id == host_id, CollectionAttempt.started_at >= start)
        .where(CollectionAttempt.started_at < end)
        .order_by(CollectionAttempt.started_at.desc(), CollectionAttempt.id.desc())
        .limit(limit)
    )
    return [
        Attempt(
            a.run_id,
            a.started_at,
            a.finished_at,
            a.duration_seconds,
            a.outcome,
            a.error,
            a.login_noise,
        )
        for a in rows
    ]


@dataclass(frozen=True)
class EventFilter:
    """What an events search matches: each given field must match (``kind`` is the
    event id or kind, exact; ``text`` a part of the message); times are UTC, [since, until)."""

    host_id: int | None = None
    kind: str | None = None
    user: str | None = None
    source_ip: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class EventRow:
    """One stored security event with its host's name and address."""

    event_id: int
    host_id: int
    host: str
    address: str
    time: datetime
    source: str
    kind: str
    level: str
    user: str | None
    source_ip: str | None
    message: str


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first; ``more`` says whether a next page exists."""

    rows: list[EventRow]
    page: int
    per_page: int
    more: bool


def events(session: Session, wanted: EventFilter, page: int = 1, per_page: int = 50) -> EventPage:
    """Page ``page`` (from 1) of the events that match ``wanted``, ``per_page`` a page."""
    query = _event_query(wanted).offset((page - 1) * per_page).limit(per_page + 1)
    rows = [_event_row(row) for row in session.execute(query)]
    return EventPage(rows=rows[:per_page], page=page, per_page=per_page, more=len(rows) > per_page)


def _event_query(wanted: EventFilter) -> Select[Any]:
    query: Select[Any] = select(SecurityEvent, Host.name, Host.address).join(  # type: ignore[assignment]
        Host, Host.id == SecurityEvent.host_id
    )
    conditions = [
        SecurityEvent.host_id == wanted.host_id if wanted.host_id is not None else None,
        SecurityEvent.event_id == wanted.kind if wanted.kind else None,
        SecurityEvent.user == wanted.user if wanted.user else None,
        SecurityEvent.source_ip == wanted.source_ip if wanted.source_ip else None,
        SecurityEvent.message.contains(wanted.text, autoescape=True) if wanted.text else None,
        SecurityEvent.time >= wanted.since if wanted.since else None,
        SecurityEvent.time < wanted.until if wanted.until else None,
    ]
    given = [condition for condition in conditions if condition is not None]
    if given:
        query = query.where(and_(*given))
    return query.order_by(SecurityEvent.time.desc(), SecurityEvent.id.desc())


def _event_row(row: Any) -> EventRow:
    event, name, address = row
    return EventRow(
        event_id=event.id,
        host_id=event.host_id,
        host=name,
        address=address,
        time=event.time,
        source=event.source,
        kind=event.event_id,
        level=event.level,
        user=event.user,
        source_ip=event.source_ip,
        message=event.message,
    )


@dataclass(frozen=True)
class TransitionRow:
    """One change of an alert state, with its reason."""

    host_id: int
    host: str
    rule: str
    old_state: str
    new_state: str
    value: float | None
    threshold: float | None
    reason: str
    created_at: datetime


def transitions(
    session: Session, host_id: int | None = None, limit: int = 100
) -> list[TransitionRow]:
    """The newest ``limit`` alert transitions (of one host when given), newest first."""
    query = select(AlertTransition, Host.name).join(Host, Host.id == AlertTransition.host_id)
    if host_id is not None:
        query = query.where(AlertTransition.host_id == host_id)
    query = query.order_by(AlertTransition.created_at.desc(), AlertTransition.id.desc())
    return [
        TransitionRow(
            t.host_id, name, t.rule, t.old_state, t.new_state, t.value, t.threshold, t.reason,
            t.created_at,
        )
        for t, name in session.execute(query.limit(limit))
    ]  # fmt: skip


@dataclass(frozen=True)
class LastRun:
    """The newest finished run: when, how long (seconds) and how many hosts answered."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    hosts_total: int
    hosts_ok: int


def last_run(session: Session) -> LastRun | None:
    """The newest finished run, or None before the first."""
    run = session.scalars(
        select(Run).where(Run.finished_at.is_not(None)).order_by(Run.id.desc()).limit(1)
    ).first()
    if run is None or run.finished_at is None:
        return None
    return LastRun(run.id, run.started_at, run.finished_at, run.hosts_total or 0, run.hosts_ok or 0)
