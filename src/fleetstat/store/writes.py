"""The one write path for collected data: runs, hosts, attempts, samples, events.

Each function works inside the caller's session (``Store.session()``, one transaction)
with SQLAlchemy Core statements: one host result costs a handful of statements whatever
its number of disks and events. ``record`` writes everything one host result produced;
``record_refused`` writes the attempt of a result whose answer the database refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from fleetstat.core import model
from fleetstat.core.bounds import MAX_CURSOR
from fleetstat.core.metrics import COLUMNS
from fleetstat.store import refusal
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

#: The tables, for Core statements (an ORM entity would make them ORM bulk operations).
HOSTS: Table = Host.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]
ATTEMPTS: Table = CollectionAttempt.__table__  # type: ignore[assignment]
SAMPLES: Table = Sample.__table__  # type: ignore[assignment]
DISKS: Table = SampleDisk.__table__  # type: ignore[assignment]
EVENTS: Table = SecurityEvent.__table__  # type: ignore[assignment]

#: The statements of every host result, built once (building one costs more than running it).
_HOST_BY_ADDRESS = select(HOSTS.c.id, HOSTS.c.event_cursor).where(
    HOSTS.c.address == bindparam("address")
)
#: The row another collector may have just made: a locking read sees the newest version
#: (MariaDB's plain reads keep the transaction's first view, from before that row).
_HOST_BY_ADDRESS_NEWEST = _HOST_BY_ADDRESS.with_for_update()
_UPDATE_HOST = update(HOSTS).where(HOSTS.c.id == bindparam("b_id"))  # SET: the row's keys
_INSERT_SAMPLE = insert(SAMPLES)
_INSERT_DISKS = insert(DISKS)

EVENT_KEY = ("host_id", "source", "record_id")
ATTEMPT_KEY = ("run_id", "host_id")
HOST_INFO = ("hostname", "os", "os_name", "os_version", "kernel", "arch", "python")


@dataclass(frozen=True)
class Recorded:
    """What ``record`` did with one host result.

    ``outcome`` is the outcome stored (the result's own, or ``store_refused`` with
    ``error`` naming what was refused); ``new`` is False when this run already held an
    attempt of this host, and nothing was written.
    """

    host_id: int
    outcome: model.Outcome
    new: bool = True
    error: str | None = None

    def applied_to(self, result: model.HostResult) -> model.HostResult:
        """``result`` as it was stored: a refused one without its answer."""
        if self.outcome is result.outcome:
            return result
        return replace(result, outcome=self.outcome, error=self.error, answer=None)


def start_run(session: Session, now: datetime, collector: str) -> int:
    """Insert a run started at ``now``; its id."""
    row = session.execute(insert(RUNS).values(started_at=now, collector=collector))
    return int(row.inserted_primary_key[0])  # type: ignore[attr-defined]


def finish_run(session: Session, run_id: int, now: datetime, total: int, ok: int) -> None:
    """Mark run ``run_id`` finished at ``now`` with its host counts."""
    session.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id)
        .values(finished_at=now, hosts_total=total, hosts_ok=ok)
    )


def open_runs(session: Session) -> list[tuple[int, datetime]]:
    """(id, started_at) of every run not yet finished, oldest first."""
    query = select(RUNS.c.id, RUNS.c.started_at).where(RUNS.c.finished_at.is_(None))
    return [(int(row.id), row.started_at) for row in session.execute(query.order_by(RUNS.c.id))]


def close_as_found(session: Session, run_id: int) -> tuple[int, int]:
    """Finish run ``run_id`` with the counts of the attempts it holds, at its last
    attempt's end (its start when it holds none); (total, ok)."""
    total, ok, last = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((ATTEMPTS.c.outcome == "ok", 1), else_=0)), 0),
            func.max(ATTEMPTS.c.finished_at),
        ).where(ATTEMPTS.c.run_id == run_id)
    ).one()
    started: datetime = session.execute(
        select(RUNS.c.started_at).where(RUNS.c.id == run_id)
    ).scalar_one()
    finish_run(session, run_id, last or started, int(total), int(ok))
    return int(total), int(ok)


def record(session: Session, run_id: int, result: model.HostResult, now: datetime) -> Recorded:
    """Write one host result of run ``run_id``: host, attempt and, when ok, the answer.

    A result of a host this run already stored is skipped (``Recorded.new`` False). The
    new event cursor is kept only together with a stored answer: a failed outcome leaves
    the previous cursor, so the next run asks again for what was missed. The answer's
    cursor is laid over the stored one source by source, so a source that failed this
    time (and so sent no cursor) keeps its place for the next run.
    """
    host_id, cursor = ensure_host(session, result.client, now)
    if not insert_attempt(session, attempt_row(run_id, host_id, result)):
        return Recorded(host_id, result.outcome, new=False)
    changes = host_changes(result)
    answer = result.answer
    if result.outcome is model.Outcome.OK and answer is not None:
        sample_id = insert_sample(session, sample_row(run_id, host_id, result))
        insert_disks(session, disk_rows(sample_id, answer.disks))
        insert_events(session, event_rows(run_id, host_id, result.client.ip, answer.events))
        changes["event_cursor"] = merged_cursor(cursor, answer.cursor)
    session.execute(_UPDATE_HOST, {**changes, "b_id": host_id})
    return Recorded(host_id, result.outcome)


def merged_cursor(stored: str | None, sent: dict[str, Any]) -> str:
    """The answer's cursor laid over the stored one, source by source, as JSON.

    A source the answer did not name keeps its place, unless keeping the old sources would
    pass ``MAX_CURSOR``: then only what the answer sent is kept (a client that names new
    sources every run must not grow the row without end).
    """
    merged = json.dumps({**(json.loads(stored) if stored else {}), **sent}, sort_keys=True)
    return merged if len(merged) <= MAX_CURSOR else json.dumps(sent, sort_keys=True)


def record_refused(
    session: Session, run_id: int, result: model.HostResult, reason: str
) -> Recorded:
    """Write only the attempt of a result the database refused: outcome ``store_refused``.

    ``reason`` names what was refused. The host keeps its names and its event cursor, so
    the next run asks again for the events of this answer.
    """
    host_id, _cursor = ensure_host(session, result.client, result.started_at)
    row = attempt_row(run_id, host_id, result)
    error = refusal.clean(reason)
    row.update(outcome=str(model.Outcome.STORE_REFUSED), error=error)
    if not insert_attempt(session, row):
        return Recorded(host_id, result.outcome, new=False)
    changes = {
        "last_attempt_at": result.started_at,
        "last_outcome": str(model.Outcome.STORE_REFUSED),
        "retired_at": None,
    }
    session.execute(_UPDATE_HOST, {**changes, "b_id": host_id})
    return Recorded(host_id, model.Outcome.STORE_REFUSED, error=error)


def answer_rows(run_id: int, host_id: int, result: model.HostResult) -> dict[str, list[Any]]:
    """Every row ``record`` would write for ``result``, by table (to find a refused value)."""
    rows: dict[str, list[Any]] = {
        "hosts": [host_changes(result)],
        "collection_attempts": [attempt_row(run_id, host_id, result)],
    }
    answer = result.answer
    if result.outcome is model.Outcome.OK and answer is not None:
        rows["samples"] = [sample_row(run_id, host_id, result)]
        rows["sample_disks"] = disk_rows(0, answer.disks)
        rows["security_events"] = event_rows(run_id, host_id, result.client.ip, answer.events)
    return rows


def ensure_host(session: Session, client: model.Client, now: datetime) -> tuple[int, str | None]:
    """The id and event cursor of the client's ``hosts`` row, made on first sight.

    Race-safe: two collectors seeing a new host at once both insert-or-skip on the
    unique address, then both read the one row that won.
    """
    found = session.execute(_HOST_BY_ADDRESS, {"address": client.address}).one_or_none()
    if found is None:
        new = {
            "address": client.address,
            "ip": client.ip,
            "port": client.port,
            "name": fit("hosts", "name", client.label),
            "first_seen_at": now,
        }
        session.execute(insert_ignoring_duplicates(session, HOSTS, ("address",)), new)
        found = session.execute(_HOST_BY_ADDRESS_NEWEST, {"address": client.address}).one()
    return int(found.id), found.event_cursor


def host_changes(result: model.HostResult) -> dict[str, Any]:
    """The ``hosts`` columns one result brings up to date."""
    client = result.client
    changes: dict[str, Any] = {
        "ip": client.ip,
        "port": client.port,
        "name": fit("hosts", "name", client.label),
        "group_name": fit("hosts", "group_name", client.group),
        "last_attempt_at": result.started_at,
        "last_outcome": str(result.outcome),
        "retired_at": None,  # collected, so in the config: live again if it was retired
    }
    if result.outcome is model.Outcome.OK and result.answer is not None:
        changes["last_ok_at"] = result.finished_at
        info = result.answer.host
        changes.update({name: fit("hosts", name, getattr(info, name)) for name in HOST_INFO})
    return changes


def attempt_row(run_id: int, host_id: int, result: model.HostResult) -> dict[str, Any]:
    """The ``collection_attempts`` row of one result."""
    return {
        "run_id": run_id,
        "host_id": host_id,
        "ip": result.client.ip,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "duration_seconds": result.duration,
        "outcome": str(result.outcome),
        "error": None if result.outcome is model.Outcome.OK else result.error,
        "login_noise": result.login_noise,
    }


def insert_attempt(session: Session, row: dict[str, Any]) -> bool:
    """Insert one attempt; False when this run already holds one of this host (skipped)."""
    dialect = session.get_bind().dialect.name
    statement = _insert_attempt(dialect)
    if dialect in ("mysql", "mariadb"):  # no row on a duplicate: id 0
        return bool(session.execute(statement, row).lastrowid)  # type: ignore[attr-defined]
    return session.execute(statement, row).first() is not None


@functools.cache
def _insert_attempt(dialect: str) -> Insert:
    statement = _insert_ignoring(dialect, ATTEMPTS, ATTEMPT_KEY)
    return statement if dialect in ("mysql", "mariadb") else statement.returning(ATTEMPTS.c.id)


def sample_row(run_id: int, host_id: int, result: model.HostResult) -> dict[str, Any]:
    """The ``samples`` row of an ok result; the figures of a failed part stay null.

    The metrics' figures (``metrics.COLUMNS``) come from their rows of the table."""
    answer = result.answer
    assert answer is not None
    cpu, mem, swap = answer.cpu, answer.memory, answer.swap
    return {
        "run_id": run_id,
        "host_id": host_id,
        "ip": result.client.ip,
        "collected_at": result.finished_at,
        "agent_clock": answer.clock,
        "cpu_count": cpu and cpu.count,
        "cpu_busy_seconds": cpu and cpu.busy,
        "cpu_total_seconds": cpu and cpu.total,
        "cpu_method": cpu and str(cpu.method),
        "cpu_seconds": cpu and cpu.seconds,
        "mem_total": mem and mem.total,
        "mem_available": mem and mem.available,
        "mem_used": mem and mem.used,
        "swap_total": swap and swap.total,
        "swap_used": swap and swap.used,
        "swap_free": swap and swap.free,
        "uptime_seconds": answer.uptime,
        "boot_time": answer.boot_time,
        **{column.name: column.value(answer) for column in COLUMNS},
    }


def insert_sample(session: Session, row: dict[str, Any]) -> int:
    """Insert one ``samples`` row; its id."""
    return int(session.execute(_INSERT_SAMPLE, row).inserted_primary_key[0])  # type: ignore[attr-defined]


def disk_rows(sample_id: int, disks: Iterable[model.Disk]) -> list[dict[str, Any]]:
    """The ``sample_disks`` rows of one sample."""
    return [
        {
            "sample_id": sample_id,
            "mount": fit("sample_disks", "mount", d.mount),
            "device": fit("sample_disks", "device", d.device),
            "fstype": fit("sample_disks", "fstype", d.fstype),
            "total": d.total,
            "used": d.used,
            "free": d.free,
            "percent": d.percent,
            "error": d.error,
        }
        for d in disks
    ]


def insert_disks(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the ``sample_disks`` rows of one sample in one statement."""
    if rows:
        session.execute(_INSERT_DISKS, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the security events not stored before; a record seen again is skipped."""
    rows = _unique(rows)
    if rows:
        session.execute(insert_ignoring_duplicates(session, EVENTS, EVENT_KEY), rows)


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
            "actor": fit("security_events", "actor", e.actor),
            "target": fit("security_events", "target", e.target),
            "category": e.category,
            "own_session": e.own_session,
        }
        for e in events
    ]


def fit(table: str, column: str, value: str | None) -> str | None:
    """``value`` cut to the column's length: one overlong name must not lose a host's result."""
    length = _length(table, column)
    if value is None or length is None or len(value) <= length:
        return value
    return value[: length - 1] + "…"


@functools.cache
def _length(table: str, column: str) -> int | None:
    """The declared length of a string column (None for text)."""
    return getattr(Base.metadata.tables[table].c[column].type, "length", None)


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


def insert_ignoring_duplicates(session: Session, table: Table, key: tuple[str, ...]) -> Insert:
    """An INSERT into ``table`` that skips rows whose unique ``key`` is already stored.

    PostgreSQL and SQLite: ``ON CONFLICT (key) DO NOTHING``; MariaDB/MySQL: ``ON
    DUPLICATE KEY UPDATE id = id`` (the key's first column where there is no ``id``; not
    ``INSERT IGNORE``, which would also silence truncated or invalid values). Built once
    per database kind, table and key.
    """
    return _insert_ignoring(session.get_bind().dialect.name, table, key)


@functools.cache
def _insert_ignoring(dialect: str, table: Table, key: tuple[str, ...]) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(key))
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key))
    if dialect in ("mysql", "mariadb"):
        first = "id" if "id" in table.c else key[0]
        return mysql.insert(table).on_duplicate_key_update({first: table.c[first]})
    raise NotImplementedError(f"no insert-or-skip for the {dialect} database")
