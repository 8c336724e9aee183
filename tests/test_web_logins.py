"""Logins that can't be guessed and sessions that end: counted in the database, across
every ``serve`` process, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fleetstat.store import Store, logins
from fleetstat.web.app import Database
from fleetstat.web.auth import Sessions
from tests.support.sshd import free_port
from tests.support.web import PASSWORD
from tests.test_web_edits import form_value, wait_listening

FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))
NAMES = logins.subjects("admin", "192.0.2.7")


def wait_at(session: Any, now: datetime) -> float:
    """Seconds until both subjects of ``NAMES`` may try again, as stored."""
    rows = session.execute(
        select(logins.FAILURES.c.not_before).where(logins.FAILURES.c.subject.in_(NAMES))
    ).scalars()
    return max([0.0, *((not_before - now).total_seconds() for not_before in rows)])


def test_the_wait_doubles_past_the_free_failures_and_is_capped():
    waits = [logins.wait_after(n) for n in range(1, 14)]
    assert waits[: logins.FREE_FAILURES] == [0.0] * logins.FREE_FAILURES
    assert waits[logins.FREE_FAILURES : logins.FREE_FAILURES + 4] == [1.0, 2.0, 4.0, 8.0]
    assert max(waits) == logins.MAX_WAIT == waits[-1]  # never locked out for good


def test_parallel_wrong_tries_are_counted_one_after_another(db_url):
    """40 guesses at one instant: only the free ones and the one that starts the wait are
    looked at; every other is told to wait, whichever database holds the count."""
    store = Store.open(db_url)
    now = datetime.now(UTC)

    def guess(_: int) -> float:
        with store.session() as session:
            return logins.charge(session, NAMES, now)

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            waits = list(pool.map(guess, range(40)))
        assert waits.count(0.0) == logins.FREE_FAILURES + 1
        assert all(0 < wait <= logins.FIRST_WAIT for wait in waits if wait)
        with store.session() as session:
            assert wait_at(session, now) == logins.FIRST_WAIT
            assert wait_at(session, now + timedelta(seconds=1)) == 0.0
    finally:
        store.close()


def test_failures_are_forgotten_a_while_after_the_last(sqlite_store):
    start = datetime.now(UTC)
    with sqlite_store.session() as session:
        for _ in range(logins.FREE_FAILURES + 3):
            logins.charge(session, NAMES, start + timedelta(seconds=100))
        later = start + timedelta(seconds=100 + logins.FORGET_AFTER + 1)
        assert logins.charge(session, NAMES, later) == 0.0
        assert wait_at(session, later) == 0.0  # the count began again


def test_an_account_and_an_address_are_each_counted(sqlite_url, sqlite_store):
    sessions = Sessions(PASSWORD, Database(sqlite_url), idle=3600)
    for _ in range(logins.FREE_FAILURES + 1):
        assert sessions.attempt("admin", "guess", "10.0.0.1") == (False, 0.0)
    # the account waits, from any address, and even the right password is not looked at
    assert sessions.attempt("admin", PASSWORD, "10.0.0.2").wait > 0
    # the address waits, whichever account it names
    assert sessions.attempt("root", "guess", "10.0.0.1").wait > 0
    # another account from another address is not held up
    assert sessions.attempt("operator", "guess", "10.0.0.3") == (False, 0.0)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[str]]:
    """Two ``fleetstat serve`` processes on one database; their base URLs."""
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    Store.open(db).close()
    env = {**os.environ, "FLEETSTAT_WEB_PASSWORD": PASSWORD}
    urls, processes = [], []
    for _ in range(2):
        port = free_port(["127.0.0.1"])
        argv = [FLEETSTAT, "serve", "--db", db, "--listen", f"127.0.0.1:{port}"]
        processes.append(subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_listening(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def form_login(url: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    client = client or httpx.Client(base_url=url, timeout=30)
    csrf = form_value(client.get(f"{url}/login").text, "csrf")
    return client.post(f"{url}/login", data={"password": password, "csrf": csrf, "next": "/"})


def test_guesses_count_across_processes_and_a_right_login_clears_them(two_servers):
    first, second = two_servers
    for n in range(logins.FREE_FAILURES + 1):  # form and basic auth, alternating processes
        url = two_servers[n % 2]
        if n % 2:
            answer = httpx.get(f"{url}/api/hosts", auth=("admin", f"guess {n}"))
        else:
            answer = form_login(url, f"guess {n}")
        assert answer.status_code == 401, n
    early = httpx.get(f"{second}/api/hosts", auth=("admin", PASSWORD))
    assert early.status_code == 429  # the right password, but too early: not looked at
    assert early.headers["retry-after"] == "1"
    refused = form_login(first, PASSWORD)
    assert refused.status_code == 429
    assert (
        "Too many failed logins from this address or for this account: try again in" in refused.text
    )
    time.sleep(logins.FIRST_WAIT + 0.1)
    assert form_login(first, PASSWORD).status_code == 303
    # the right login forgets the address's failures, not the account's: a script's
    # right logins cannot wipe the count of guesses sent from elsewhere
    assert httpx.get(f"{second}/api/hosts", auth=("admin", "again")).status_code == 401
    assert httpx.get(f"{second}/api/hosts", auth=("admin", "again")).status_code == 429


def test_a_session_is_one_in_every_process_and_logout_ends_it_everywhere(two_servers):
    first, second = two_servers
    browser = httpx.Client(timeout=30)
    assert form_login(first, PASSWORD, browser).status_code == 303
    cookie = browser.cookies["fleetstat_session"]
    copied = httpx.Client(timeout=30, cookies={"fleetstat_session": cookie})
    assert copied.get(f"{second}/api/hosts").status_code == 200
    page = browser.get(f"{second}/")
    logout = browser.post(f"{second}/logout", data={"csrf": form_value(page.text, "csrf")})
    assert logout.status_code == 303
    for url in two_servers:
        assert copied.get(f"{url}/api/hosts").status_code == 401, url
        assert copied.get(f"{url}/").status_code == 303, url
