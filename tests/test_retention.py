"""Rollups and pruning on real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from fleetstat.collect import job
from fleetstat.core import model
from fleetstat.store import Store, retention
from fleetstat.store import outbox as outbox_rows
from fleetstat.store.models import (
    CollectionAttempt,
    MailOutbox,
    Sample,
    SampleDisk,
    SampleRollup,
    SecurityEvent,
)
from fleetstat.store.retention import Retention
from tests.support import answers
from tests.support.sshd import client_for

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
KEEP = Retention(samples=2 * 86400, rollups=10 * 86400, attempts=3 * 86400, events=4 * 86400,
                 mail=1 * 86400)  # fmt: skip


def count(store: Store, table: type[Any]) -> int:
    """Rows of the model's table."""
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def store_pass(
    store: Store, at: datetime, cpu: float | None, *, host: str = "web01", n: int = 0
) -> None:
    """One run at ``at`` in which ``host`` answered with ``cpu`` % CPU (None: its CPU part
    failed), and event ``n``."""
    run_id = store.start_run(at)
    base = answers.answer(at, evts=answers.events([n], at) if n else ())
    measured = base.cpu is not None and cpu is not None
    cpu_figures = dataclasses.replace(base.cpu, percent=cpu) if measured else None
    who = answers.client(ip=f"10.0.0.{1 if host == 'web01' else 2}", name=host)
    result = answers.ok_result(at, dataclasses.replace(base, cpu=cpu_figures), who=who)
    store.record(run_id, result, at)
    store.finish_run(run_id, at, 1, 1)


def rollups(store: Store, metric: str) -> list[tuple[datetime, int, float, float, float]]:
    """(hour, count, min, avg, max) of ``metric`` for every host, oldest first."""
    query = (
        select(SampleRollup.hour, SampleRollup.count, SampleRollup.min, SampleRollup.avg,
               SampleRollup.max)
        .where(SampleRollup.metric == metric)
        .order_by(SampleRollup.hour, SampleRollup.host_id)
    )  # fmt: skip
    with store.session() as session:
        return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def test_completed_hours_roll_up_once_with_count_min_mean_and_max(store: Store) -> None:
    for minute, cpu in ((0, 10.0), (20, 30.0), (40, 50.0), (65, 70.0)):
        store_pass(store, T0 + timedelta(minutes=minute), cpu)
    written = store.roll_up(T0 + timedelta(minutes=70))  # the 11:00 hour is not over
    assert rollups(store, "cpu_percent") == [(T0, 3, 10.0, 30.0, 50.0)]
    assert rollups(store, "disk:/var") == [(T0, 3, 85.0, 85.0, 85.0)]
    assert written == 8  # six sample figures and two disks, one host, one hour
    assert store.roll_up(T0 + timedelta(minutes=70)) == 0
    store.roll_up(T0 + timedelta(hours=2))
    assert [row[0] for row in rollups(store, "cpu_percent")] == [T0, T0 + timedelta(hours=1)]


def test_hosts_are_rolled_up_apart_and_empty_hours_are_skipped(store: Store) -> None:
    store_pass(store, T0, 10.0, host="web01")
    store_pass(store, T0 + timedelta(minutes=5), 90.0, host="db01")
    store_pass(store, T0 + 3 * DAY, 40.0, host="web01")
    store.roll_up(T0 + 4 * DAY)
    assert [(r[0], r[3]) for r in rollups(store, "cpu_percent")] == [
        (T0, 10.0),
        (T0, 90.0),
        (T0 + 3 * DAY, 40.0),
    ]


def test_a_figure_missing_from_samples_is_rolled_up_from_the_others(store: Store) -> None:
    store_pass(store, T0, 20.0)
    store_pass(store, T0 + timedelta(minutes=5), None)
    store_pass(store, T0 + timedelta(minutes=65), None)  # no CPU figure all that hour
    store.roll_up(T0 + timedelta(hours=2))
    assert rollups(store, "cpu_percent") == [(T0, 1, 20.0, 20.0, 20.0)]
    assert [row[:2] for row in rollups(store, "mem_percent")] == [(T0, 2), (T0 + HOUR, 1)]
    assert [row[:2] for row in rollups(store, "disk:/var")] == [(T0, 2), (T0 + HOUR, 1)]


def test_one_call_rolls_up_a_bounded_number_of_hours(sqlite_store: Store) -> None:
    for hour in range(5):
        store_pass(sqlite_store, T0 + timedelta(hours=hour), 10.0)
    retention.roll_up(sqlite_store.engine, T0 + DAY, hours=2)
    assert len(rollups(sqlite_store, "cpu_percent")) == 2
    retention.roll_up(sqlite_store.engine, T0 + DAY, hours=2)
    assert len(rollups(sqlite_store, "cpu_percent")) == 4


def test_prune_deletes_only_what_is_older_than_its_retention(store: Store) -> None:
    now = T0 + 10 * DAY
    for day, n in ((0, 1), (5, 2), (7, 3), (9, 4)):
        store_pass(store, T0 + day * DAY, 20.0, n=n)
    store.roll_up(now)
    with store.session() as session:
        for age, status in ((3, "sent"), (3, "pending"), (0.5, "sent")):
            draft = outbox_rows.Draft("alert", "subject", "body")
            ids = outbox_rows.enqueue(session, draft, ["a@example.com"], now=now - age * DAY)
            session.execute(
                MailOutbox.__table__.update().where(MailOutbox.id.in_(ids)).values(status=status)
            )
    planned = store.prune(KEEP, now, dry_run=True)
    assert count(store, Sample) == 4
    deleted = store.prune(KEEP, now)
    assert (
        deleted
        == planned
        == {
            "samples": 3,  # days 0, 5 and 7; day 9 is within two days
            "sample_rollups": 0,  # the oldest hour is exactly ten days old: kept
            "collection_attempts": 2,  # days 0 and 5; day 7 is exactly three days old
            "security_events": 2,
            "mail_outbox": 1,  # the old sent mail; the pending one always stays
        }
    )
    assert count(store, SampleDisk) == 2  # the disks of the kept sample only
    assert count(store, SampleRollup) == 4 * 8
    assert count(store, CollectionAttempt) == 2
    assert count(store, SecurityEvent) == 2
    with store.session() as session:
        assert sorted(session.scalars(select(MailOutbox.status))) == ["pending", "sent"]
    assert store.prune(KEEP, now) == dict.fromkeys(deleted, 0)


def test_pruning_goes_in_batches_and_a_bound_leaves_the_rest(sqlite_store: Store) -> None:
    for minute in range(7):
        store_pass(sqlite_store, T0 + timedelta(minutes=minute), 1.0)
    sqlite_store.roll_up(T0 + DAY)
    only_samples = Retention(samples=86400, rollups=0, attempts=0, events=0, mail=0)
    later = T0 + 2 * DAY
    first = retention.prune(sqlite_store.engine, only_samples, later, max_batches=2, batch=3)
    assert first == {"samples": 6}
    assert count(sqlite_store, Sample) == 1
    assert retention.prune(sqlite_store.engine, only_samples, later, batch=3) == {"samples": 1}


def test_zero_keeps_a_kind_of_row_for_ever(sqlite_store: Store) -> None:
    store_pass(sqlite_store, T0, 1.0)
    forever = Retention(samples=0, rollups=0, attempts=0, events=0, mail=0)
    assert sqlite_store.prune(forever, T0 + 1000 * DAY) == {}
    assert count(sqlite_store, Sample) == 1


def test_samples_of_hours_not_rolled_up_yet_are_kept_whatever_their_age(
    sqlite_store: Store,
) -> None:
    for day in range(4):
        store_pass(sqlite_store, T0 + day * DAY, 1.0)
    now = T0 + 40 * DAY
    retention.roll_up(sqlite_store.engine, now, hours=1)  # only day 0 is rolled up
    assert sqlite_store.prune(KEEP, now)["samples"] == 1
    assert count(sqlite_store, Sample) == 3
    assert retention.roll_up_all(sqlite_store.engine, now) == 3 * 8
    assert sqlite_store.prune(KEEP, now)["samples"] == 3


FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``fleetstat`` with ``args``."""
    return subprocess.run([FLEETSTAT, *args], check=False, capture_output=True, text=True)


def test_db_prune_counts_first_with_dry_run_then_rolls_up_and_deletes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleetstat.db'}"
    store = Store.open(url)
    old = datetime.now(UTC) - 100 * DAY
    for day in range(3):
        store_pass(store, old + day * DAY, 5.0)
    store.close()
    dry = cli("db", "prune", "--db", url, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "samples              would delete 0 rows" in dry.stdout  # none rolled up yet
    assert "collection_attempts  would delete 3 rows" in dry.stdout
    done = cli("db", "prune", "--db", url)
    assert done.returncode == 0, done.stderr
    assert "rolled up 24 hourly figures first" in done.stdout
    assert "samples              deleted 3 rows" in done.stdout
    assert "collection_attempts  deleted 3 rows" in done.stdout
    reopened = Store.open(url)
    try:
        assert count(reopened, Sample) == 0
        assert count(reopened, CollectionAttempt) == 0
        assert count(reopened, SampleRollup) == 24
    finally:
        reopened.close()


def test_db_prune_of_a_database_that_is_not_there_makes_none(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    done = cli("db", "prune", "--db", f"sqlite:///{path}")
    assert done.returncode == 3
    assert "no fleetstat database" in done.stderr
    assert not path.exists()


def test_every_pass_rolls_up_the_last_hours_and_prunes_a_few_batches(
    tmp_path: Path, sqlite_store: Store, ssh_user: Any, sshd: Any
) -> None:
    long_ago = datetime.now(UTC) - 100 * DAY
    for hour in range(3):
        store_pass(sqlite_store, long_ago + timedelta(hours=hour), 5.0)
    settings = model.Settings(
        db=sqlite_store.url, known_hosts=tmp_path / "known_hosts", cpu_interval=0.0
    )
    client = client_for(ssh_user, sshd, "127.0.0.1", name="live")
    config = model.Config(path=tmp_path / "clients.xml", settings=settings, clients=(client,))
    report = asyncio.run(job.run_pass(config, sqlite_store))
    assert report.ok == 1 and report.tidy_error is None
    assert count(sqlite_store, SampleRollup) == 3 * 8  # the old hours; not the running one
    assert count(sqlite_store, Sample) == 1  # the old samples went, the new one stays
    assert count(sqlite_store, CollectionAttempt) == 1
