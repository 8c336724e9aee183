"""One pass per database and one migration at a time, on real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from fleetstat.collect.job import pass_lock
from fleetstat.store import Store, migrations
from fleetstat.store import engine as engines
from fleetstat.store.models import CollectionAttempt, Host
from tests.support import answers, databases

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def other_spelling(url: str) -> str:
    """The same database under another URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return f"sqlite:///{path.parent}/./{path.name}"
    if parsed.get_backend_name() == "postgresql":
        return parsed.update_query_dict({"application_name": "second"}).render_as_string(False)
    return parsed.update_query_dict({"charset": "utf8mb4"}).render_as_string(False)


def test_collectors_opening_one_fresh_database_at_once_never_fail(db_url: str) -> None:
    start = threading.Barrier(4)
    failures: list[BaseException] = []
    who = answers.client(ip="127.0.0.44", name="new-host")

    def collector(n: int) -> None:
        try:
            start.wait()
            store = Store.open(db_url)
            try:
                run_id = store.start_run(T0 + timedelta(minutes=n))
                store.record(run_id, answers.ok_result(T0, answers.answer(T0), who=who), T0)
            finally:
                store.close()
        except BaseException as err:  # noqa: BLE001 (collected, asserted below)
            failures.append(err)

    threads = [threading.Thread(target=collector, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    store = Store.open(db_url)
    try:
        assert store.revision() == migrations.head()
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Host)) == 1
            assert session.scalar(select(func.count()).select_from(CollectionAttempt)) == 4
    finally:
        store.close()


def test_a_second_pass_waits_for_the_first_under_any_url_and_says_who_holds_it(
    db_url: str,
) -> None:
    first, second = Store.open(db_url), Store.open(other_spelling(db_url))
    heard: list[str] = []

    async def both() -> list[str]:
        order: list[str] = []

        async def later() -> None:
            async with pass_lock(second, on_wait=heard.append):
                order.append("second")

        async with pass_lock(first):
            order.append("first")
            waiting = asyncio.ensure_future(later())
            await asyncio.sleep(1.0)
            assert not waiting.done()
            order.append("first done")
        await asyncio.wait_for(waiting, 5)
        return order

    try:
        order = asyncio.run(both())
        assert order == ["first", "first done", "second"]
        [told] = heard
        assert f"pid {os.getpid()} on {socket.gethostname()} since" in told
        # released: a third takes it at once
        asyncio.run(asyncio.wait_for(_take_and_leave(first), 5))
    finally:
        first.close()
        second.close()


async def _take_and_leave(store: Store) -> None:
    async with pass_lock(store):
        pass


def test_a_pass_in_another_process_waits_while_this_one_holds_the_lock(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    code = (
        "import asyncio, sys\n"
        "from fleetstat.collect.job import pass_lock\n"
        "from fleetstat.store import Store\n"
        "async def main():\n"
        "    async with pass_lock(Store.open(sys.argv[1])):\n"
        "        print('got it', flush=True)\n"
        "asyncio.run(main())\n"
    )

    async def hold_while_the_other_waits() -> tuple[subprocess.Popen[str], str]:
        async with pass_lock(store):
            other = subprocess.Popen(
                [sys.executable, "-c", code, other_spelling(sqlite_url)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert other.stderr is not None
            told = await asyncio.wait_for(asyncio.to_thread(other.stderr.readline), 30)
            await asyncio.sleep(0.5)
            assert other.poll() is None  # still waiting for the lock
        return other, told

    try:
        other, told = asyncio.run(hold_while_the_other_waits())
        out, _err = other.communicate(timeout=20)
    finally:
        store.close()
    assert out == "got it\n"
    assert f"held by pid {os.getpid()} on {socket.gethostname()}" in told


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_real_deadlock_is_known_as_one_and_a_plain_failure_is_not(backend: str) -> None:
    with databases.server_database(backend) as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE pair (id INTEGER PRIMARY KEY, n INTEGER)"))
            connection.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
        first, second = engine.connect(), engine.connect()
        victims: list[BaseException] = []

        def bump(connection: Connection, ids: tuple[int, int], locked: threading.Barrier) -> None:
            try:
                with connection.begin():
                    connection.execute(text(f"UPDATE pair SET n = 1 WHERE id = {ids[0]}"))
                    locked.wait()
                    connection.execute(text(f"UPDATE pair SET n = 1 WHERE id = {ids[1]}"))
            except DBAPIError as err:
                victims.append(err)

        locked = threading.Barrier(2)
        threads = [
            threading.Thread(target=bump, args=(first, (1, 2), locked)),
            threading.Thread(target=bump, args=(second, (2, 1), locked)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with pytest.raises(DBAPIError) as plain:
            first.execute(text("SELECT * FROM no_such_table"))
        first.close()
        second.close()
        engine.dispose()
    assert len(victims) == 1
    assert engines.is_deadlock(victims[0])
    assert not engines.is_deadlock(plain.value)
