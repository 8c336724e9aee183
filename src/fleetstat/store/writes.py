"""The one write path for collected data: runs, hosts, attempts, samples, events.

Each function works inside the caller's session (``Store.session()``, one transaction);
``record`` writes everything one host result produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from fleetstat import model
from fleetstat.store.models import (
    RECORD_ID_LEN,
    Base,
    CollectionAttempt,
    Host,
    Run,
    Sample,
    SampleDisk,
    SecurityEvent,
)

EVENT_KEY = ("host_id", "source", "record_id")


def start_run(session: Session, now: datetime, collector: str) -> int:
    """Insert a run started at ``now``; its id."""
    run = Run(started_at=now, collector=collector)
    session.add(run)
    session.flush()
    return run.id


def finish_run(session: Session, run_id: int, now: datetime, total: int, ok: int) -> None:
    """Mark run ``run_id`` finished at ``now`` with its host counts."""
    session.execute(
        update(Run).where(Run.id == run_id).values(finished_at=now, hosts_total=total, hosts_ok=ok)
    )


def record(session: Session, run_id: int, result: model.HostResult, now: datetime) -> int:
    """Write one host result of run ``run_id``; the host's id.

    The new event cursor is kept only together with a stored answer: a failed outcome
    leaves the previous cursor, so the next run asks again for what was missed. The
    answer's cursor is laid over the stored one source by source, so a source that failed
    this time (and so sent no cursor) keeps its place for the next run.
    """
    host = upsert_host(session, result, now)
    session.add(attempt_row(run_id, host.id, result))
    answer = result.answer
    if result.outcome is model.Outcome.OK and answer is not None:
        sample = sample_row(run_id, host.id, result.client.ip, answer, result.finished_at)
        session.add(sample)
        session.flush()
        insert_disks(session, sample.id, answer.disks)
        insert_events(session, run_id, host.id, result.client.ip, answer.events)
        previous = json.loads(host.event_cursor) if host.event_cursor else {}
        host.event_cursor = json.dumps({**previous, **answer.cursor}, sort_keys=True)
    session.flush()
    return host.id


def upsert_host(session: Session, result: model.HostResult, now: datetime) -> Host:
    """The ``hosts`` row of the result's client, made on first sight and brought up to date."""
    client = result.client
    host = session.scalars(select(Host).where(Host.address == client.address)).one_or_none()
    if host is None:
        host = Host(address=client.address, first_seen_at=now)
        session.add(host)
    host.ip, host.port, host.name = client.ip, client.port, client.label
    host.last_attempt_at = result.started_at
    host.last_outcome = str(result.outcome)
    if result.outcome is model.Outcome.OK and result.answer is not None:
        host.last_ok_at = result.finished_at
        _set_host_info(host, result.answer.host)
    session.flush()
    return host


def _set_host_info(host: Host, info: model.HostInfo) -> None:
    for name in ("hostname", "os", "os_name", "os_version", "kernel", "arch", "python"):
        setattr(host, name, fit("hosts", name, getattr(info, name)))


def attempt_row(run_id: int, host_id: int, result: model.HostResult) -> CollectionAttempt:
    """The ``collection_attempts`` row of one result."""
    return CollectionAttempt(
        run_id=run_id,
        host_id=host_id,
        ip=result.client.ip,
        started_at=result.started_at,
        finished_at=result.finished_at,
        duration_seconds=result.duration,
        outcome=str(result.outcome),
        error=None if result.outcome is model.Outcome.OK else result.error,
    )


def sample_row(
    run_id: int, host_id: int, ip: str, answer: model.Answer, collected_at: datetime
) -> Sample:
    """The ``samples`` row of one answer; the figures of a failed part stay null."""
    cpu, mem, swap, load = answer.cpu, answer.memory, answer.swap, answer.load
    return Sample(
        run_id=run_id,
        host_id=host_id,
        ip=ip,
        collected_at=collected_at,
        agent_clock=answer.clock,
        cpu_percent=cpu and cpu.percent,
        cpu_count=cpu and cpu.count,
        cpu_busy_seconds=cpu and cpu.busy,
        cpu_total_seconds=cpu and cpu.total,
        mem_total=mem and mem.total,
        mem_available=mem and mem.available,
        mem_used=mem and mem.used,
        mem_percent=mem and mem.percent,
        swap_total=swap and swap.total,
        swap_used=swap and swap.used,
        swap_free=swap and swap.free,
        swap_percent=swap and swap.percent,
        uptime_seconds=answer.uptime,
        boot_time=answer.boot_time,
        load1=load and load[0],
        load5=load and load[1],
        load15=load and load[2],
    )


def insert_disks(session: Session, sample_id: int, disks: Iterable[model.Disk]) -> None:
    """Insert the ``sample_disks`` rows of one sample."""
    rows = [
        {
            "sample_id": sample_id,
            "mount": fit("sample_disks", "mount", d.mount),
            "device": fit("sample_disks", "device", d.device),
            "fstype": fit("sample_disks", "fstype", d.fstype),
            "total": d.total,
            "used": d.used,
            "free": d.free,
            "percent": d.percent,
        }
        for d in disks
    ]
    if rows:
        session.execute(insert(SampleDisk), rows)


def insert_events(
    session: Session, run_id: int, host_id: int, ip: str, events: Iterable[model.Event]
) -> None:
    """Insert the security events not stored before; a record seen again is skipped."""
    rows = _unique(event_rows(run_id, host_id, ip, events))
    if rows:
        session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name), rows)


def event_rows(
    run_id: int, host_id: int, ip: str, events: Iterable[model.Event]
) -> list[dict[str, Any]]:
    """The ``security_events`` rows of an answer's events (``fields`` as JSON text)."""
    return [
        {
            "host_id": host_id,
            "ip": ip,
            "run_id": run_id,
            "source": fit("security_events", "source", e.source),
            "record_id": stored_record_id(e.record_id),
            "event_id": fit("security_events", "event_id", e.event_id),
            "time": e.time,
            "level": fit("security_events", "level", e.level),
            "user": fit("security_events", "user", e.user),
            "source_ip": fit("security_events", "source_ip", e.source_ip),
            "message": e.message,
            "fields": json.dumps(e.fields, sort_keys=True, default=str),
        }
        for e in events
    ]


def fit(table: str, column: str, value: str | None) -> str | None:
    """``value`` cut to the column's length: one overlong name must not lose a host's result."""
    length = getattr(Base.metadata.tables[table].c[column].type, "length", None)
    if value is None or length is None or len(value) <= length:
        return value
    return value[: length - 1] + "…"


def stored_record_id(record_id: str) -> str:
    """The record id as stored: one longer than the column becomes ``sha256:<hex>`` of it."""
    if len(record_id) <= RECORD_ID_LEN:
        return record_id
    return "sha256:" + hashlib.sha256(record_id.encode("utf-8")).hexdigest()


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with a key seen earlier in the same answer left out."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(tuple(row[k] for k in EVENT_KEY), row)
    return list(seen.values())


def insert_ignoring_duplicates(
    dialect: str, table: type[Any] = SecurityEvent, key: Sequence[str] = EVENT_KEY
) -> Insert:
    """An INSERT into ``table`` that skips rows whose ``key`` is already stored.

    PostgreSQL and SQLite: ``ON CONFLICT (key) DO NOTHING``; MariaDB/MySQL:
    ``ON DUPLICATE KEY UPDATE id = id`` (not ``INSERT IGNORE``, which would also silence
    truncated or invalid values).
    """
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(key))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key))
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).on_duplicate_key_update(id=table.id)
    raise NotImplementedError(f"no insert-or-skip for the {dialect} database")
