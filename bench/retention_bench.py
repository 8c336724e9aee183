"""Database size and prune time over a simulated year: N hosts, a pass every 5 minutes.

Month by month, inserts in bulk what that month of passes stores — per host and pass one
attempt, one sample with one disk; per host and day a few security events; per recipient
and pass an alert mail and an event digest, already sent — then rolls up the month's
completed hours and prunes with the default retention (``fleetstat db prune``), and
prints the database's size after each month. The size must level off once the longest
retention (a year) is reached.

    .venv/bin/python bench/retention_bench.py [--hosts 300] [--months 14] [--db URL]

Without ``--db`` a fresh SQLite file in a temp dir; a PostgreSQL URL must name an empty
database (``createdb fleetstat_bench``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import Connection

from fleetstat.model import Settings
from fleetstat.store import Store
from fleetstat.store.models import (
    CollectionAttempt,
    Host,
    MailOutbox,
    Run,
    Sample,
    SampleDisk,
    SecurityEvent,
)
from fleetstat.store.retention import Retention

START = datetime(2025, 1, 1, tzinfo=UTC)
PASS = timedelta(minutes=5)
DAY = timedelta(days=1)
MONTH = timedelta(days=30.4)
EVENTS_PER_HOST_DAY = 5
RECIPIENTS = 10
CHUNK = 20_000


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk(connection: Connection, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    total = 0
    target: Table = table.__table__
    for batch in chunks(rows):
        connection.execute(insert(target), batch)
        total += len(batch)
    return total


def add_hosts(store: Store, count: int) -> list[int]:
    with store.engine.begin() as connection:
        bulk(connection, Host, (host_row(n) for n in range(count)))
        return [row[0] for row in connection.execute(text("SELECT id FROM hosts ORDER BY id"))]


def host_row(n: int) -> dict[str, Any]:
    ip = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
    return {"address": f"{ip}:22", "ip": ip, "port": 22, "name": f"h{n:04d}",
            "first_seen_at": START}  # fmt: skip


def passes(start: datetime, end: datetime) -> Iterator[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += PASS


def add_month(store: Store, hosts: list[int], start: datetime, end: datetime) -> int:
    """Insert every pass between ``start`` and ``end``, a day at a time; rows inserted."""
    rows = 0
    day = start
    while day < end:
        with store.engine.begin() as connection:
            rows += add_day(connection, hosts, list(passes(day, min(day + DAY, end))))
        day += DAY
    return rows


def add_day(connection: Connection, hosts: list[int], moments: list[datetime]) -> int:
    """The passes at ``moments``: runs, attempts, samples with a disk, mails, events."""
    before = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM runs")).scalar_one()
    rows = bulk(connection, Run, (run_row(moment, len(hosts)) for moment in moments))
    runs = list(zip(range(before + 1, before + 1 + len(moments)), moments, strict=True))
    rows += bulk(
        connection, CollectionAttempt, (attempt_row(r, h, m) for r, m in runs for h in hosts)
    )
    first = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM samples")).scalar_one()
    rows += bulk(connection, Sample, (sample_row(r, h, m) for r, m in runs for h in hosts))
    count = len(runs) * len(hosts)
    rows += bulk(connection, SampleDisk, (disk_row(first + 1 + n) for n in range(count)))
    rows += bulk(connection, MailOutbox, (mail for r, m in runs for mail in mail_rows(r, m)))
    rows += bulk(connection, SecurityEvent, event_rows(runs[0][0], hosts, moments[0]))
    return rows


def run_row(moment: datetime, hosts: int) -> dict[str, Any]:
    return {"started_at": moment, "finished_at": moment + timedelta(seconds=20),
            "hosts_total": hosts, "hosts_ok": hosts, "collector": "bench"}  # fmt: skip


def attempt_row(run_id: int, host_id: int, moment: datetime) -> dict[str, Any]:
    return {"run_id": run_id, "host_id": host_id, "ip": "10.0.0.1", "started_at": moment,
            "finished_at": moment, "duration_seconds": 1.2, "outcome": "ok",
            "error": None}  # fmt: skip


def sample_row(run_id: int, host_id: int, moment: datetime) -> dict[str, Any]:
    return {"run_id": run_id, "host_id": host_id, "ip": "10.0.0.1", "collected_at": moment,
            "cpu_percent": 12.5, "cpu_count": 4, "mem_total": 8 << 30,
            "mem_available": 5 << 30, "mem_used": 3 << 30, "mem_percent": 37.5,
            "swap_percent": 1.0, "uptime_seconds": 86400.0, "load1": 0.4, "load5": 0.3,
            "load15": 0.2}  # fmt: skip


def disk_row(sample_id: int) -> dict[str, Any]:
    return {"sample_id": sample_id, "mount": "/", "device": "/dev/vda1", "fstype": "ext4",
            "total": 100 << 30, "used": 40 << 30, "free": 60 << 30, "percent": 40.0}  # fmt: skip


def mail_rows(run_id: int, moment: datetime) -> Iterator[dict[str, Any]]:
    for n in range(RECIPIENTS):
        for kind in ("alert", "events"):
            yield {"created_at": moment, "run_id": run_id, "kind": kind,
                   "recipient": f"ops{n}@example.org", "subject": "[fleetstat] digest",
                   "body": "x" * 2000, "status": "sent", "attempts": 1,
                   "sent_at": moment}  # fmt: skip


def event_rows(run_id: int, hosts: list[int], day: datetime) -> Iterator[dict[str, Any]]:
    for host_id in hosts:
        for n in range(EVENTS_PER_HOST_DAY):
            yield {"host_id": host_id, "ip": "10.0.0.1", "run_id": run_id,
                   "source": "linux-journal", "record_id": f"{day:%Y%m%d%H%M}-{n}",
                   "event_id": "ssh.login", "time": day + timedelta(minutes=n),
                   "level": "info", "user": "deploy", "source_ip": "10.9.9.9",
                   "message": "Accepted publickey for deploy", "fields": "{}"}  # fmt: skip


def size_mb(store: Store, path: Path | None) -> float:
    if path is not None:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = path.with_name(path.name + "-wal")
        return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6
    with store.engine.connect() as connection:
        return float(connection.execute(text("SELECT pg_database_size(current_database())"))
                     .scalar_one()) / 1e6  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--db", help="an empty database's URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetstat-retention-") as tmp:
        path = None if args.db else Path(tmp) / "fleetstat.db"
        store = Store.open(args.db or f"sqlite:///{path}")
        keep = Retention.of(Settings())
        hosts = add_hosts(store, args.hosts)
        print(f"{args.hosts} hosts, a pass every 5 min, database {store.url}")
        print("month  rows added  insert s  rollup s  prune s  rows pruned  size MB")
        for month in range(args.months):
            start, end = START + month * MONTH, START + (month + 1) * MONTH
            began = time.perf_counter()
            added = add_month(store, hosts, start, end)
            inserted = time.perf_counter()
            store.roll_up(end, everything=True)
            rolled = time.perf_counter()
            pruned = sum(store.prune(keep, end).values())
            done = time.perf_counter()
            print(f"{month + 1:>5}  {added:>10,}  {inserted - began:>8.1f}  "
                  f"{rolled - inserted:>8.1f}  {done - rolled:>7.1f}  {pruned:>11,}  "
                  f"{size_mb(store, path):>7.0f}", flush=True)  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
