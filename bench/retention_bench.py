"""Database size and prune time over a simulated year: N hosts, a pass every 5 minutes.

Month by month, inserts in bulk what that month of passes stores — per host and pass one
attempt, one sample with one disk; per host and day a few security events; per recipient
and pass an alert mail and an event digest, already sent. The rows are made by the
database itself (``INSERT … SELECT`` over the runs and hosts, a day per transaction), so
loading costs no Python per row; on SQLite the loading connection alone runs with
``synchronous = OFF``. Then, as the product does with the default retention: the month's
completed hours are rolled up and everything past its retention is pruned (what
``fleetstat db prune`` does), and one pass's tidying is timed — rolling up the month's
last hour and pruning ``TIDY_BATCHES`` batches, as ``job._tidy`` does after every pass.
The database's size is printed after each month; it must level off once the longest
retention (a year) is reached.

    .venv/bin/python bench/retention_bench.py [--hosts 300] [--months 14] [--db URL]
        [--vacuum] [--db-timeout 3600]

Without ``--db`` a fresh SQLite file in a temp dir (``--dir`` to put it elsewhere); a
PostgreSQL URL must name an empty database (``createdb fleetstat_bench``). ``--vacuum``
runs ``VACUUM ANALYZE`` after each month, as autovacuum would (a server with autovacuum
off never reuses the space of deleted rows), and prints its time and the size after it;
SQLite needs none: its freed pages are reused in place. A month's bulk rollup is one
database call, longer than a pass's ``db-timeout`` allows: ``--db-timeout`` bounds it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import Connection, Engine

from fleetstat.collect.job import TIDY_BATCHES
from fleetstat.core.model import Settings
from fleetstat.store import Store
from fleetstat.store.models import Host, Run
from fleetstat.store.retention import HOUR, Retention

START = datetime(2025, 1, 1, tzinfo=UTC)
PASS = timedelta(minutes=5)
DAY = timedelta(days=1)
MONTH = timedelta(days=30.4)
EVENTS_PER_HOST_DAY = 5
RECIPIENTS = 10
BODY = "x" * 2000

#: What one day of passes stores, made from that day's runs (``:a`` to ``:b``) and the hosts.
ATTEMPTS = """
INSERT INTO collection_attempts (run_id, host_id, ip, started_at, finished_at,
    duration_seconds, outcome, error)
SELECT r.id, h.id, '10.0.0.1', r.started_at, r.started_at, 1.2, 'ok', NULL
FROM runs r CROSS JOIN hosts h WHERE r.id BETWEEN :a AND :b ORDER BY r.id, h.id
"""
SAMPLES = """
INSERT INTO samples (run_id, host_id, ip, collected_at, cpu_percent, cpu_count, mem_total,
    mem_available, mem_used, mem_percent, swap_percent, uptime_seconds, load1, load5, load15)
SELECT r.id, h.id, '10.0.0.1', r.started_at, 12.5, 4, 8589934592, 5368709120, 3221225472,
    37.5, 1.0, 86400.0, 0.4, 0.3, 0.2
FROM runs r CROSS JOIN hosts h WHERE r.id BETWEEN :a AND :b ORDER BY r.id, h.id
"""
DISKS = """
INSERT INTO sample_disks (sample_id, mount, device, fstype, total, used, free, percent)
SELECT s.id, '/', '/dev/vda1', 'ext4', 107374182400, 42949672960, 64424509440, 40.0
FROM samples s WHERE s.run_id BETWEEN :a AND :b ORDER BY s.id
"""
MAILS = """
INSERT INTO mail_outbox (created_at, run_id, kind, recipient, subject, body, status,
    attempts, sent_at)
SELECT r.started_at, r.id, :kind, :recipient, '[fleetstat] digest', :body, 'sent', 1,
    r.started_at
FROM runs r WHERE r.id BETWEEN :a AND :b
"""
#: The day's first runs stand for its events: one event per host and run.
EVENTS = """
INSERT INTO security_events (host_id, ip, run_id, source, record_id, event_id, time, level,
    "user", source_ip, message, fields)
SELECT h.id, '10.0.0.1', r.id, 'linux-journal', 'r' || CAST(r.id AS VARCHAR(20)),
    'ssh.login', r.started_at, 'info', 'deploy', '10.9.9.9',
    'Accepted publickey for deploy', '{}'
FROM runs r CROSS JOIN hosts h WHERE r.id BETWEEN :a AND :e
"""


def loader(store: Store) -> Engine:
    """An engine of its own for loading, that waits for no disk sync at commit (SQLite:
    ``synchronous = OFF``; PostgreSQL: ``synchronous_commit = off``, this session only)."""
    engine = create_engine(store.engine.url)
    fast = {
        "sqlite": ("PRAGMA synchronous = OFF", "PRAGMA cache_size = -262144"),
        "postgresql": ("SET synchronous_commit = off",),
    }[engine.dialect.name]

    @event.listens_for(engine, "connect")
    def _fast(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        for statement in fast:
            cursor.execute(statement)
        cursor.close()
        connection.commit()  # a SET rolled back with its transaction would not hold

    return engine


def add_hosts(engine: Engine, count: int) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Host), [host_row(n) for n in range(count)])


def host_row(n: int) -> dict[str, Any]:
    ip = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
    return {"address": f"{ip}:22", "ip": ip, "port": 22, "name": f"h{n:04d}",
            "first_seen_at": START}  # fmt: skip


def passes(start: datetime, end: datetime) -> Iterator[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += PASS


def add_month(engine: Engine, start: datetime, end: datetime) -> int:
    """Insert every pass between ``start`` and ``end``, a day per transaction; rows inserted."""
    rows = 0
    day = start
    while day < end:
        with engine.begin() as connection:
            rows += add_day(connection, list(passes(day, min(day + DAY, end))))
        day += DAY
    return rows


def add_day(connection: Connection, moments: list[datetime]) -> int:
    """The passes at ``moments``: runs, attempts, samples with a disk, mails, events."""
    before = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM runs")).scalar_one()
    connection.execute(insert(Run), [run_row(moment) for moment in moments])
    first, last = before + 1, before + len(moments)
    span = {"a": first, "b": last}
    rows = len(moments)
    for statement in (ATTEMPTS, SAMPLES, DISKS):
        rows += connection.execute(text(statement), span).rowcount
    mails = [{**span, "kind": kind, "recipient": f"ops{n}@example.org", "body": BODY}
             for n in range(RECIPIENTS) for kind in ("alert", "events")]  # fmt: skip
    rows += connection.execute(text(MAILS), mails).rowcount
    events = {"a": first, "e": min(last, first + EVENTS_PER_HOST_DAY - 1)}
    rows += connection.execute(text(EVENTS), events).rowcount
    return rows


def run_row(moment: datetime) -> dict[str, Any]:
    return {"started_at": moment, "finished_at": moment + timedelta(seconds=20),
            "hosts_total": 0, "hosts_ok": 0, "collector": "bench"}  # fmt: skip


def size_mb(store: Store, path: Path | None) -> float:
    """The database's size: the SQLite file (after a WAL checkpoint), or pg_database_size."""
    if path is not None:
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = path.with_name(path.name + "-wal")
        return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6
    with store.engine.connect() as connection:
        return float(connection.execute(text("SELECT pg_database_size(current_database())"))
                     .scalar_one()) / 1e6  # fmt: skip


def vacuum(store: Store, path: Path | None) -> tuple[float, float]:
    """``VACUUM ANALYZE`` on PostgreSQL (none on SQLite): its seconds, the size after it."""
    began = time.perf_counter()
    if path is None:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - began, size_mb(store, path)


def tidy_pass(store: Store, keep: Retention, now: datetime) -> tuple[float, float]:
    """One pass's tidying at ``now``, as ``job._tidy`` does it: its seconds (roll up, prune)."""
    began = time.perf_counter()
    store.roll_up(now)
    rolled = time.perf_counter()
    store.prune(keep, now, max_batches=TIDY_BATCHES)
    return rolled - began, time.perf_counter() - rolled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--db", help="an empty database's URL (default: a fresh SQLite file)")
    parser.add_argument("--dir", help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--vacuum", action="store_true", help="also the size after VACUUM")
    parser.add_argument(
        "--db-timeout", type=float, default=3600,
        help="seconds a database call may take: a whole month's rollup is one call (3600)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetstat-retention-", dir=args.dir) as tmp:
        path = None if args.db else Path(tmp) / "fleetstat.db"
        store = Store.open(args.db or f"sqlite:///{path}", timeout=args.db_timeout)
        keep = Retention.of(Settings())
        load = loader(store)
        add_hosts(load, args.hosts)
        print(f"{args.hosts} hosts, a pass every 5 min, database {store.url}")
        head = "month  rows added  insert s  rollup s  prune s  rows pruned  size MB  pass rollup s"
        print(head + "  pass prune s  load" + ("  vacuum s  vacuumed MB" if args.vacuum else ""))
        for month in range(args.months):
            start, end = START + month * MONTH, START + (month + 1) * MONTH
            began = time.perf_counter()
            added = add_month(load, start, end)
            inserted = time.perf_counter()
            store.roll_up(end - HOUR, everything=True)
            rolled = time.perf_counter()
            pruned = sum(store.prune(keep, end - HOUR).values())
            done = time.perf_counter()
            size = size_mb(store, path)
            pass_rollup, pass_prune = tidy_pass(store, keep, end)
            line = (f"{month + 1:>5}  {added:>10,}  {inserted - began:>8.1f}  "
                    f"{rolled - inserted:>8.1f}  {done - rolled:>7.1f}  {pruned:>11,}  "
                    f"{size:>7.0f}  {pass_rollup:>13.3f}  {pass_prune:>12.3f}  "
                    f"{os.getloadavg()[0]:>4.0f}")  # fmt: skip
            if args.vacuum:
                seconds, vacuumed = vacuum(store, path)
                line += f"  {seconds:>8.1f}  {vacuumed:>11.0f}"
            print(line, flush=True)
        load.dispose()
        store.close()


if __name__ == "__main__":
    main()
