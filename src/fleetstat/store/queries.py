"""The reads other parts need: cursors, the host list, a host's history, a run's events.

Each function takes an open session and returns typed, frozen rows; times are UTC.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from fleetstat.core import cpurate, model
from fleetstat.store.models import CollectionAttempt, Host, Sample, SecurityEvent


@dataclass(frozen=True)
class HostRow:
    """One host as ``fleetstat hosts`` shows it.

    ``cpu_percent``, ``mem_percent`` (percent) and ``uptime_seconds`` (seconds) come
    from the host's last sample, taken at ``sampled_at``; all None before the first.
    """

    host_id: int
    address: str
    name: str
    ip: str
    group: str | None
    hostname: str | None
    os_name: str | None
    last_outcome: str | None
    last_attempt_at: datetime | None
    last_ok_at: datetime | None
    sampled_at: datetime | None
    cpu_percent: float | None
    mem_percent: float | None
    uptime_seconds: float | None
    retired_at: datetime | None = None


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of one host, as ``fleetstat history`` shows it.

    ``duration_seconds`` in seconds; ``cpu_percent`` and ``mem_percent`` (percent)
    are the sample's when the outcome was ok, else None; ``error`` is None when ok;
    ``login_noise`` is what the login printed besides the answer (None: nothing).
    """

    run_id: int
    host_id: int
    address: str
    name: str
    ip: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    outcome: str
    error: str | None
    cpu_percent: float | None
    mem_percent: float | None
    login_noise: str | None = None


def cursors(session: Session) -> dict[str, dict[str, Any]]:
    """Address → the event cursor stored with the host's last answer (none: left out)."""
    rows = session.execute(
        select(Host.address, Host.event_cursor).where(Host.event_cursor.is_not(None))
    )
    return {address: json.loads(text) for address, text in rows if text is not None}


def outcomes_of_run(session: Session, run_id: int) -> dict[str, tuple[model.Outcome, str | None]]:
    """Address → (outcome, error) of every host that run ``run_id`` has stored so far."""
    rows = session.execute(
        select(Host.address, CollectionAttempt.outcome, CollectionAttempt.error)
        .join(Host, Host.id == CollectionAttempt.host_id)
        .where(CollectionAttempt.run_id == run_id)
    )
    return {address: (model.Outcome(outcome), error) for address, outcome, error in rows}


def cpu_counters(session: Session) -> dict[str, cpurate.Counters]:
    """Address → the CPU counters of the host's newest sample that has them."""
    rows = session.execute(
        select(
            Host.address, Sample.cpu_busy_seconds, Sample.cpu_total_seconds, Sample.agent_clock
        ).join(Sample, Sample.id == latest_sample_id())
    )
    return {
        address: cpurate.Counters(busy=busy, total=total, at=at)
        for address, busy, total, at in rows
        if busy is not None and total is not None and at is not None
    }


def latest_sample_id() -> Any:
    """A correlated subquery: the id of the host's newest sample (uses its index)."""
    return (
        select(Sample.id)
        .where(Sample.host_id == Host.id)
        .order_by(Sample.collected_at.desc(), Sample.id.desc())
        .limit(1)
        .correlate(Host)
        .scalar_subquery()
    )


def latest_hosts(session: Session) -> list[HostRow]:
    """Every host with its last outcome and last sample's figures, ordered by name.

    Two index lookups per host (its newest sample's id, then that sample), never a scan
    of ``samples``, so the cost follows the number of hosts, not the history kept.
    """
    hosts = session.execute(
        select(Host, latest_sample_id()).order_by(Host.name, Host.address)
    ).all()
    samples = _samples_by_id(session, [sid for _, sid in hosts if sid is not None])
    return [_host_row(host, samples.get(sid)) for host, sid in hosts]


def _samples_by_id(session: Session, ids: list[int], chunk: int = 1000) -> dict[int, Sample]:
    found: dict[int, Sample] = {}
    for start in range(0, len(ids), chunk):
        query = select(Sample).where(Sample.id.in_(ids[start : start + chunk]))
        found.update((sample.id, sample) for sample in session.scalars(query))
    return found


def _host_row(host: Host, sample: Sample | None) -> HostRow:
    return HostRow(
        host_id=host.id,
        address=host.address,
        name=host.name,
        ip=host.ip,
        group=host.group_name,
        hostname=host.hostname,
        os_name=host.os_name,
        last_outcome=host.last_outcome,
        last_attempt_at=host.last_attempt_at,
        last_ok_at=host.last_ok_at,
        sampled_at=sample.collected_at if sample else None,
        cpu_percent=sample.cpu_percent if sample else None,
        mem_percent=sample.mem_percent if sample else None,
        uptime_seconds=sample.uptime_seconds if sample else None,
        retired_at=host.retired_at,
    )


def history(session: Session, host: str, limit: int = 20) -> list[AttemptRow]:
    """The last ``limit`` attempts of the hosts named ``host`` (name, IP or address), newest first.

    An unknown host gives an empty list.
    """
    query = (
        select(CollectionAttempt, Host.address, Host.name, Sample.cpu_percent, Sample.mem_percent)
        .join(Host, Host.id == CollectionAttempt.host_id)
        .outerjoin(
            Sample,
            and_(
                Sample.run_id == CollectionAttempt.run_id,
                Sample.host_id == CollectionAttempt.host_id,
            ),
        )
        .where(or_(Host.address == host, Host.name == host, Host.ip == host))
        .order_by(CollectionAttempt.started_at.desc(), CollectionAttempt.id.desc())
        .limit(limit)
    )
    return [_attempt_row(row) for row in session.execute(query)]


def _attempt_row(row: Any) -> AttemptRow:
    attempt, address, name, cpu, mem = row
    return AttemptRow(
        run_id=attempt.run_id,
        host_id=attempt.host_id,
        address=address,
        name=name,
        ip=attempt.ip,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        duration_seconds=attempt.duration_seconds,
        outcome=attempt.outcome,
        error=attempt.error,
        cpu_percent=cpu,
        mem_percent=mem,
        login_noise=attempt.login_noise,
    )


def events_of_runs(
    session: Session, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], list[model.Event]]:
    """The events stored for each (run id, host id) of ``pairs``, oldest first: one query
    per run however many hosts."""
    hosts_by_run: dict[int, set[int]] = defaultdict(set)
    for run_id, host_id in pairs:
        hosts_by_run[run_id].add(host_id)
    found: dict[tuple[int, int], list[model.Event]] = {
        (run_id, host_id): [] for run_id, hosts in hosts_by_run.items() for host_id in hosts
    }
    events: Table = SecurityEvent.__table__  # type: ignore[assignment]
    for run_id, hosts in hosts_by_run.items():
        query = (
            select(events)
            .where(events.c.run_id == run_id, events.c.host_id.in_(sorted(hosts)))
            .order_by(events.c.time, events.c.id)
        )
        for row in session.execute(query):
            found[(run_id, row.host_id)].append(_event(row))
    return found


def events_of_host(session: Session, host: str, limit: int = 50) -> list[model.Event]:
    """The newest ``limit`` security events of ``host`` (name, IP or address), newest first."""
    query = (
        select(SecurityEvent)
        .join(Host, Host.id == SecurityEvent.host_id)
        .where(or_(Host.address == host, Host.name == host, Host.ip == host))
        .order_by(SecurityEvent.time.desc(), SecurityEvent.id.desc())
        .limit(limit)
    )
    return [_event(row) for row in session.scalars(query)]


def _event(row: SecurityEvent | Row[Any]) -> model.Event:
    return model.Event(
        source=row.source,
        record_id=row.record_id,
        event_id=row.event_id,
        time=row.time,
        level=row.level,
        user=row.user,
        source_ip=row.source_ip,
        message=row.message,
        fields=json.loads(row.fields),
        actor=row.actor,
        target=row.target,
        own_session=row.own_session,
        category=row.category,
    )


def previous_ok_at(session: Session, host_id: int, before_run_id: int) -> datetime | None:
    """When host ``host_id`` last answered ok in a run older than ``before_run_id``."""
    return session.scalar(_PREVIOUS_OK, {"b_host": host_id, "b_run": before_run_id})


#: Read for every host result, so built once.
_PREVIOUS_OK = select(func.max(CollectionAttempt.finished_at)).where(
    CollectionAttempt.host_id == bindparam("b_host"),
    CollectionAttempt.run_id < bindparam("b_run"),
    CollectionAttempt.outcome == str(model.Outcome.OK),
)


def host_ids(session: Session, host: str) -> list[int]:
    """The ids of the hosts named ``host`` (name, IP or ``ip:port``)."""
    query = select(Host.id).where(or_(Host.address == host, Host.name == host, Host.ip == host))
    return list(session.scalars(query.order_by(Host.id)))
