"""The store on real SQLite, PostgreSQL and MariaDB: what is written is what is read back."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from fleetstat.core import model
from fleetstat.core.bounds import MAX_CURSOR
from fleetstat.core.errors import StoreError
from fleetstat.store import Store
from fleetstat.store.models import (
    Base,
    CollectionAttempt,
    Host,
    Run,
    Sample,
    SampleDisk,
    SecurityEvent,
)
from tests.support import answers
from tests.support.databases import admin_engine

T0 = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def count(store: Store, table: type[Any]) -> int:
    """Rows in the table of a model class."""
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def record_ok(store: Store, at: datetime, ans: model.Answer, **kw: Any) -> tuple[int, int]:
    """One run at ``at`` in which the host answered ``ans``; (run id, host id)."""
    run_id = store.start_run(at, "collector01")
    host_id = store.record(
        run_id, answers.ok_result(at, ans, **kw), at + timedelta(seconds=2)
    ).host_id
    store.finish_run(run_id, at + timedelta(seconds=3), 1, 1)
    return run_id, host_id


# ---------------------------------------------------------------- round trips


def test_ok_result_is_read_back_with_the_client_ip_and_every_figure(store: Store) -> None:
    ans = answers.answer(T0 + timedelta(seconds=1), evts=answers.events(range(3), T0))
    who = answers.client(ip="127.0.0.7", port=2222, name="db01")
    run_id, host_id = record_ok(store, T0, ans, who=who)

    with store.session() as session:
        sample = session.scalars(select(Sample)).one()
        host = session.get(Host, host_id)
        attempt = session.scalars(select(CollectionAttempt)).one()
        disks = session.scalars(select(SampleDisk).order_by(SampleDisk.mount)).all()
        run = session.get(Run, run_id)
    assert (sample.run_id, sample.host_id, sample.ip) == (run_id, host_id, "127.0.0.7")
    assert sample.collected_at == T0 + timedelta(seconds=1.5)
    assert sample.agent_clock == ans.clock
    assert ans.cpu and ans.memory and ans.swap and ans.load
    assert (sample.cpu_percent, sample.cpu_count) == (ans.cpu.percent, ans.cpu.count)
    assert (sample.cpu_busy_seconds, sample.cpu_total_seconds) == (ans.cpu.busy, ans.cpu.total)
    assert (sample.cpu_method, sample.cpu_seconds) == (str(ans.cpu.method), ans.cpu.seconds)
    assert (sample.mem_total, sample.mem_available) == (ans.memory.total, ans.memory.available)
    assert (sample.mem_used, sample.mem_percent) == (ans.memory.used, ans.memory.percent)
    assert (sample.swap_total, sample.swap_used) == (ans.swap.total, ans.swap.used)
    assert (sample.swap_free, sample.swap_percent) == (ans.swap.free, ans.swap.percent)
    assert (sample.uptime_seconds, sample.boot_time) == (ans.uptime, ans.boot_time)
    assert (sample.load1, sample.load5, sample.load15) == ans.load
    assert [
        (d.mount, d.device, d.fstype, d.total, d.used, d.free, d.percent, d.error) for d in disks
    ] == [dataclasses.astuple(d) for d in ans.disks]
    assert host is not None
    assert (host.address, host.ip, host.port, host.name) == (
        "127.0.0.7:2222",
        "127.0.0.7",
        2222,
        "db01",
    )
    assert (host.hostname, host.os, host.os_name, host.os_version) == (
        "web01",
        "linux",
        "Debian GNU/Linux",
        "12",
    )
    assert (host.kernel, host.arch, host.python) == ("6.1.0-18-amd64", "x86_64", "3.11.2")
    assert (host.first_seen_at, host.last_attempt_at) == (T0 + timedelta(seconds=2), T0)
    assert (host.last_ok_at, host.last_outcome) == (T0 + timedelta(seconds=1.5), "ok")
    assert (attempt.outcome, attempt.error, attempt.ip) == ("ok", None, "127.0.0.7")
    assert attempt.duration_seconds == 1.5
    assert run is not None
    assert (run.hosts_total, run.hosts_ok, run.collector) == (1, 1, "collector01")
    assert run.finished_at == T0 + timedelta(seconds=3)
    assert store.events_of_run(run_id, host_id) == list(ans.events)


def test_a_part_that_failed_is_stored_as_null(store: Store) -> None:
    ans = answers.answer(T0, cpu=None, swap=None, load=None, uptime=None, boot_time=None)
    record_ok(store, T0, ans)

    with store.session() as session:
        sample = session.scalars(select(Sample)).one()
    assert sample.cpu_percent is sample.cpu_count is sample.swap_total is None
    assert sample.load1 is sample.uptime_seconds is sample.boot_time is None
    assert sample.mem_total == ans.memory.total if ans.memory else False


def test_times_in_another_zone_are_stored_as_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    started = T0.astimezone(paris)
    run_id, host_id = record_ok(store, started, answers.answer(started))

    row = store.history("web01")[0]
    assert row.started_at == T0
    assert row.started_at.tzinfo == UTC
    assert store.previous_ok_at(host_id, run_id + 1) == T0 + timedelta(seconds=1.5)


def test_events_seen_again_are_not_stored_twice(store: Store) -> None:
    first_run, host_id = record_ok(
        store, T0, answers.answer(T0, evts=answers.events(range(10), T0))
    )
    later = T0 + timedelta(minutes=5)
    second = answers.answer(later, evts=answers.events(range(5, 15), T0))
    second_run, _ = record_ok(store, later, second)

    assert count(store, SecurityEvent) == 15
    assert [e.record_id for e in store.events_of_run(second_run, host_id)] == [
        e.record_id for e in second.events[5:]
    ]
    assert len(store.events_of_run(first_run, host_id)) == 10


def test_five_hundred_events_with_repeats_are_stored_once_each(store: Store) -> None:
    evts = answers.events(range(500), T0)
    record_ok(store, T0, answers.answer(T0, evts=evts + evts[:50]))
    record_ok(
        store,
        T0 + timedelta(minutes=5),
        answers.answer(T0, evts=answers.events(range(250, 750), T0)),
    )

    assert count(store, SecurityEvent) == 750


def test_record_ids_differing_only_in_case_are_different_events(store: Store) -> None:
    one = answers.event(1, T0)
    other = dataclasses.replace(one, record_id=one.record_id.upper())
    record_ok(store, T0, answers.answer(T0, evts=(one, other)))

    assert count(store, SecurityEvent) == 2


def test_failed_outcome_stores_an_attempt_and_keeps_the_old_cursor(store: Store) -> None:
    evts = answers.events(range(3), T0)
    first_run, host_id = record_ok(store, T0, answers.answer(T0, evts=evts))
    later = T0 + timedelta(minutes=5)
    run_id = store.start_run(later)
    failed = answers.failed_result(later, model.Outcome.AUTH_FAILED, "Permission denied")
    assert store.record(run_id, failed, later).host_id == host_id

    assert count(store, Sample) == 1
    assert store.cursors() == {"127.0.0.1:22": answers.cursor_after(evts)}
    newest = store.history("127.0.0.1:22")[0]
    assert (newest.run_id, newest.outcome, newest.error) == (
        run_id,
        "auth_failed",
        "Permission denied",
    )
    assert newest.cpu_percent is newest.mem_percent is None
    host = store.latest_hosts()[0]
    assert (host.last_outcome, host.last_attempt_at) == ("auth_failed", later)
    assert host.last_ok_at == T0 + timedelta(seconds=1.5)
    assert store.previous_ok_at(host_id, run_id) == T0 + timedelta(seconds=1.5)
    assert store.previous_ok_at(host_id, first_run) is None


def test_cursors_round_trip_per_address(store: Store) -> None:
    cursor = {"linux-auth": {"journal": "s=1;i=2", "boot": "x"}, "windows-security": {"id": 7}}
    record_ok(store, T0, answers.answer(T0, cursor=cursor))
    other = answers.client(ip="127.0.0.2", name="web02")
    record_ok(store, T0, answers.answer(T0, cursor={}), who=other)
    unseen = answers.client(ip="127.0.0.3", name="web03")
    store.record(store.start_run(T0), answers.failed_result(T0, who=unseen), T0)

    assert store.cursors() == {"127.0.0.1:22": cursor, "127.0.0.2:22": {}}


def test_an_answer_whose_events_part_failed_keeps_that_sources_cursor(store: Store) -> None:
    cursor = {"linux-auth": {"journal": "s=1;i=2"}, "windows-security": {"record_id": 7}}
    record_ok(store, T0, answers.answer(T0, cursor=cursor))
    later = T0 + timedelta(minutes=5)
    failed_events = answers.answer(
        later, cursor={"windows-security": {"record_id": 9}}, errors=(("events", "denied"),)
    )
    record_ok(store, later, failed_events)

    assert store.cursors() == {
        "127.0.0.1:22": {"linux-auth": {"journal": "s=1;i=2"}, "windows-security": {"record_id": 9}}
    }


def test_a_cursor_of_new_sources_every_run_never_grows_past_its_bound(store: Store) -> None:
    for n in range(4):  # a hostile client: 12 KB of sources never seen before, every run
        cursor = {f"source-{n}-{k}": "x" * 1000 for k in range(12)}
        record_ok(store, T0 + timedelta(minutes=5 * n), answers.answer(T0, cursor=cursor))
        stored = store.cursors()["127.0.0.1:22"]
        assert len(json.dumps(stored)) <= MAX_CURSOR
        assert cursor.items() <= stored.items()  # what the client sent is kept


def test_latest_hosts_shows_each_host_with_its_newest_sample(store: Store) -> None:
    record_ok(store, T0, answers.answer(T0), who=answers.client(ip="127.0.0.2", name="b"))
    record_ok(store, T0, answers.answer(T0), who=answers.client(ip="127.0.0.1", name="a"))
    later = T0 + timedelta(minutes=5)
    busy = answers.answer(later, cpu=model.Cpu(97.5, 2, 1.0, 1.0, 2.0), uptime=5.0)
    record_ok(store, later, busy, who=answers.client(ip="127.0.0.1", name="a"))
    never = answers.client(ip="127.0.0.3", name="c")
    store.record(store.start_run(later), answers.failed_result(later, who=never), later)

    rows = store.latest_hosts()
    assert [(r.name, r.last_outcome, r.cpu_percent, r.uptime_seconds) for r in rows] == [
        ("a", "ok", 97.5, 5.0),
        ("b", "ok", 12.5, 86400.5),
        ("c", "unreachable", None, None),
    ]
    assert rows[0].sampled_at == later + timedelta(seconds=1.5)
    assert rows[2].last_ok_at is None


def test_history_finds_a_host_by_name_ip_or_address_newest_first(store: Store) -> None:
    for minutes in range(4):
        at = T0 + timedelta(minutes=5 * minutes)
        record_ok(store, at, answers.answer(at))

    by_name = store.history("web01", limit=3)
    assert [r.started_at for r in by_name] == [T0 + timedelta(minutes=m) for m in (15, 10, 5)]
    assert store.history("127.0.0.1", limit=3) == by_name == store.history("127.0.0.1:22", limit=3)
    assert by_name[0].cpu_percent == 12.5
    assert store.history("nobody") == []


def test_records_can_come_from_another_thread(store: Store) -> None:
    run_id = store.start_run(T0)
    done: list[int] = []
    result = answers.ok_result(T0, answers.answer(T0))
    worker = threading.Thread(target=lambda: done.append(store.record(run_id, result, T0).host_id))
    worker.start()
    worker.join()

    assert done == [1]
    assert count(store, Sample) == 1


# ---------------------------------------------------------------- failures


def test_a_constraint_failure_is_a_store_error_and_the_next_record_works(store: Store) -> None:
    with pytest.raises(StoreError, match="failed") as caught:
        store.record(424242, answers.ok_result(T0, answers.answer(T0)), T0)
    assert caught.value.__cause__ is not None
    assert count(store, Host) == 0

    record_ok(store, T0, answers.answer(T0))
    assert count(store, Sample) == 1


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive"):
        store.start_run(datetime(2026, 11, 27, 12, 0))


@contextmanager
def sqlite_gone(store: Store, url: str) -> Iterator[None]:
    """The SQLite file's folder moved away (a file in its place) until the block ends."""
    folder = Path(make_url(url).database or "").parent
    away = folder.with_name("away")
    store.engine.dispose()  # a connection opened from now on finds no database
    folder.rename(away)
    folder.write_text("not a folder")
    try:
        yield
    finally:
        folder.unlink()
        away.rename(folder)


@contextmanager
def postgresql_gone(store: Store, url: str) -> Iterator[None]:
    """Every connection to the database cut, and the database renamed, until the block ends."""
    name = make_url(url).database
    admin = admin_engine("postgresql")
    with admin.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        connection.execute(text(f"ALTER DATABASE {name} RENAME TO {name}_away"))
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {name}_away RENAME TO {name}"))


@contextmanager
def mariadb_gone(store: Store, url: str) -> Iterator[None]:
    """The server refusing the database's user (account locked, connections killed)."""
    admin = admin_engine("mariadb")
    with admin.connect() as connection:
        ids = connection.execute(
            text("SELECT id FROM information_schema.processlist WHERE user = :u"),
            {"u": make_url(url).username},
        ).scalars()
        connection.execute(text(f"ALTER USER '{make_url(url).username}'@'%' ACCOUNT LOCK"))
        for thread_id in ids:
            connection.execute(text(f"KILL {int(thread_id)}"))
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER USER '{make_url(url).username}'@'%' ACCOUNT UNLOCK"))


@contextmanager
def own_mariadb_user(url: str) -> Iterator[str]:
    """``url`` reached as a user of its own (so locking it out spares the admin)."""
    user = f"fs_{uuid.uuid4().hex[:10]}"
    database = make_url(url).database
    admin = admin_engine("mariadb")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"))
        connection.execute(text(f"GRANT ALL ON {database}.* TO '{user}'@'%'"))
    try:
        yield make_url(url).set(username=user, password="pw").render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP USER '{user}'@'%'"))


GONE = {"sqlite": sqlite_gone, "postgresql": postgresql_gone, "mariadb": mariadb_gone}


def test_a_database_that_goes_away_is_a_store_error_until_it_comes_back(db_url: str) -> None:
    backend = make_url(db_url).get_backend_name()
    backend = "mariadb" if backend == "mysql" else backend
    with as_own_user(backend, db_url) as url:
        store = Store.open(url)
        try:
            run_id, _ = record_ok(store, T0, answers.answer(T0))
            later = T0 + timedelta(minutes=5)
            with GONE[backend](store, url):
                with pytest.raises(StoreError) as caught:
                    store.record(run_id, answers.ok_result(later, answers.answer(later)), later)
                assert caught.value.__cause__ is not None
            record_ok(store, later, answers.answer(later))
            assert count(store, Sample) == 2
        finally:
            store.close()


@contextmanager
def as_own_user(backend: str, url: str) -> Iterator[str]:
    """``url``, on MariaDB reached as a user of its own."""
    if backend == "mariadb":
        with own_mariadb_user(url) as own:
            yield own
    else:
        yield url


def test_a_full_sqlite_disk_is_a_store_error_and_stores_nothing(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        record_ok(store, T0, answers.answer(T0))
        with store.engine.connect() as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()

        @event.listens_for(store.engine, "connect")
        def no_room(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        store.engine.dispose()
        run_id = store.start_run(T0 + timedelta(minutes=5))  # fits in the free pages
        many = answers.answer(T0, evts=answers.events(range(2000), T0))
        with pytest.raises(StoreError, match="full") as caught:
            store.record(run_id, answers.ok_result(T0, many), T0)
        assert caught.value.__cause__ is not None
        assert count(store, Sample) == 1
        assert count(store, SecurityEvent) == 0
    finally:
        store.close()


def test_a_locked_sqlite_database_is_a_store_error_and_the_next_record_works(
    sqlite_url: str,
) -> None:
    store = Store.open(sqlite_url, timeout=0.1)
    other = Store.open(sqlite_url)
    try:
        run_id = store.start_run(T0)
        with other.engine.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match="locked"):
                store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)
            connection.rollback()
        store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)
        assert count(store, Sample) == 1
    finally:
        other.close()
        store.close()


# ---------------------------------------------------------------- opening


def test_open_makes_the_folder_and_uses_wal_and_foreign_keys(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert Path(make_url(sqlite_url).database or "").is_file()
    finally:
        store.close()


def test_open_of_a_folder_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="folder"):
        Store.open(f"sqlite:///{tmp_path / 'file' / 'db' / 'fleetstat.db'}")


def test_a_url_that_is_not_one_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("fleetstat.db")


def test_a_server_that_does_not_answer_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql+psycopg://fleet:hunter2@127.0.0.1:1/fleetstat")
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_a_closed_database_file_holds_everything_on_its_own(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = Store.open(sqlite_url)
    try:
        record_ok(store, T0, answers.answer(T0))
    finally:
        store.close()
    copy = tmp_path / "copy.db"
    shutil.copy(make_url(sqlite_url).database or "", copy)
    reopened = Store.open(f"sqlite:///{copy}")
    try:
        assert count(reopened, Sample) == 1
    finally:
        reopened.close()


# ---------------------------------------------------------------- the schema document

SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def doc_queries() -> list[tuple[str, str]]:
    """The example queries of docs/schema.md as (text before it, SQL)."""
    parts = SCHEMA_DOC.read_text().split("```sql\n")
    return [(before, after.split("```")[0]) for before, after in itertools.pairwise(parts)]


def test_every_table_and_column_is_in_the_schema_doc() -> None:
    doc = SCHEMA_DOC.read_text()
    for table in Base.metadata.tables.values():
        assert f"## `{table.name}`" in doc, table.name
        section = doc.split(f"## `{table.name}`")[1].split("\n## ")[0]
        for column in table.columns:
            assert f"`{column.name}`" in section, f"{table.name}.{column.name}"


def test_the_example_queries_of_the_schema_doc_run(store: Store) -> None:
    record_ok(store, T0, answers.answer(T0, evts=answers.events(range(3), T0)))
    dialect = store.engine.dialect.name
    ran = 0
    with store.engine.connect() as connection:
        for before, sql in doc_queries():
            if "On PostgreSQL" in before.strip().split("\n\n")[-1] and dialect != "postgresql":
                continue
            connection.execute(text(sql.replace(":", r"\:")))
            ran += 1
    assert ran >= 6


def test_an_in_memory_sqlite_database_is_one_database_for_every_thread() -> None:
    store = Store.open("sqlite://")
    try:
        run_id = store.start_run(T0)
        result = answers.ok_result(T0, answers.answer(T0))
        worker = threading.Thread(target=store.record, args=(run_id, result, T0))
        worker.start()
        worker.join()
        assert [h.name for h in store.latest_hosts()] == ["web01"]
    finally:
        store.close()


def test_overlong_event_texts_are_cut_and_long_record_ids_stay_unique(store: Store) -> None:
    long_id = "s=739ad463348b4ceca5a9e69c95a3c93f;" + "i=4ec00;" * 40
    one = dataclasses.replace(answers.event(1, T0), record_id=long_id, user="u" * 400)
    two = dataclasses.replace(one, record_id=long_id + "x")
    run_id, host_id = record_ok(store, T0, answers.answer(T0, evts=(one, two)))
    record_ok(store, T0, answers.answer(T0, evts=(one,)))

    stored = store.events_of_run(run_id, host_id)
    assert len(stored) == 2 == count(store, SecurityEvent)
    assert all(e.record_id.startswith("sha256:") for e in stored)
    assert stored[0].user is not None
    assert len(stored[0].user) == 255
