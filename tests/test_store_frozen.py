"""A database that is frozen or stopped: every call ends within ``db-timeout``, naming it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from fleetstat.collect import job
from fleetstat.core.errors import StoreUnavailable
from fleetstat.store import Store
from tests.support import answers
from tests.support.databases import server_database
from tests.support.private_postgres import PrivatePostgres
from tests.support.sshd import client_for
from tests.test_spool import config_for

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


def test_a_frozen_postgresql_ends_each_call_within_the_bound_and_names_it(
    private_postgres: PrivatePostgres,
) -> None:
    Store.open(private_postgres.url).close()  # migrated with the default bound
    store = Store.open(private_postgres.url, timeout=2.0)
    try:
        run_id = store.start_run(T0)
        private_postgres.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)
        took = time.monotonic() - started
        private_postgres.thaw()

        assert took < 15.0  # bound 2 s (plus a loaded machine); unbounded, it never ends
        assert f"127.0.0.1:{private_postgres.port}" in str(caught.value)
        assert "did not answer within 2 s" in str(caught.value)
        assert store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0).new
    finally:
        private_postgres.thaw()
        store.close()


def test_a_new_connection_to_a_frozen_postgresql_ends_within_the_bound(
    private_postgres: PrivatePostgres,
) -> None:
    Store.open(private_postgres.url).close()  # migrated with the default bound
    store = Store.open(private_postgres.url, timeout=2.0)
    try:
        store.close()  # no pooled connection left: the next call connects anew
        private_postgres.freeze()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=str(private_postgres.port)):
            store.start_run(T0)
        assert time.monotonic() - started < 15.0
    finally:
        private_postgres.thaw()
        store.close()


def test_a_pass_with_postgresql_frozen_mid_pass_ends_within_the_bound_with_exit_3(
    tmp_path, ssh_user, sshd_factory, smtp_server, private_postgres: PrivatePostgres
) -> None:
    server = sshd_factory([f"127.0.2.{n}" for n in range(10, 16)])
    clients = [client_for(ssh_user, server, ip) for ip in server.addresses]
    config = config_for(tmp_path, private_postgres.url, clients, smtp_server.settings())
    frozen_at: list[float] = []

    def freeze_after_two(done: int, _total: int) -> None:
        if done == 2 and not frozen_at:
            private_postgres.freeze()
            frozen_at.append(time.monotonic())

    Store.open(config.settings.db).close()  # migrated with the default bound
    store = Store.open(config.settings.db, timeout=config.settings.db_timeout)
    try:
        report = asyncio.run(job.run_pass(config, store, progress=freeze_after_two))
        ended = time.monotonic()
        private_postgres.thaw()
        again = asyncio.run(job.run_pass(config, store))
    finally:
        private_postgres.thaw()
        store.close()

    print(f"\npass ended {ended - frozen_at[0]:.1f} s after the freeze (db-timeout 2 s)")
    # after the freeze: the rest of the hosts, then at most a retry, a last try and the
    # lock's release, each cut at db-timeout (2 s)
    assert ended - frozen_at[0] < 4 * config.settings.db_timeout + 20
    assert report.exit_code == 3
    where = f"127.0.0.1:{private_postgres.port}"
    assert report.unstored and all(where in why for why in report.unstored.values())
    said = ("did not answer within 2 s", "connection timeout expired")  # a query, a connect
    assert all(any(s in why for s in said) for why in report.unstored.values())
    assert report.spooled == len(report.unstored)
    assert again.replayed == report.spooled and again.exit_code == 0


def test_fleetstat_run_on_a_frozen_postgresql_exits_3_within_the_bound_naming_it(
    tmp_path, capsys, ssh_user, sshd, private_postgres: PrivatePostgres
) -> None:
    from fleetstat.cli import main

    config = tmp_path / "clients.xml"
    config.write_text(
        "<clients>\n"
        f'  <settings db="{private_postgres.url}" db-timeout="2s"'
        f' known-hosts="{tmp_path}/known_hosts" cpu-interval="0.1" />\n'
        f'  <client ip="127.0.0.1" port="{sshd.port}" username="{ssh_user.name}"'
        f' password="{ssh_user.password}" />\n'
        "</clients>\n"
    )
    config.chmod(0o600)
    private_postgres.freeze()
    try:
        started = time.monotonic()
        status = main(["run", "--config", str(config)])
        took = time.monotonic() - started
    finally:
        private_postgres.thaw()

    assert status == 3
    assert took < 30.0
    assert f"127.0.0.1:{private_postgres.port}" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])  # SQLite: test_store.py
def test_a_write_waiting_on_another_transactions_lock_ends_within_the_bound(backend: str) -> None:
    with server_database(backend) as db_url:
        waits_on_a_lock_within_the_bound(db_url)


def waits_on_a_lock_within_the_bound(db_url: str) -> None:
    Store.open(db_url).close()  # migrated with the default bound
    store = Store.open(db_url, timeout=2.0)
    blocker = create_engine(db_url).connect()
    try:
        store.record(store.start_run(T0), answers.ok_result(T0, answers.answer(T0)), T0)
        blocker.execute(text("UPDATE hosts SET name = name"))  # holds the row's lock
        later = store.start_run(T0)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.record(later, answers.ok_result(T0, answers.answer(T0)), T0)
        assert time.monotonic() - started < 15.0
        blocker.rollback()
        assert store.record(later, answers.ok_result(T0, answers.answer(T0)), T0).new
    finally:
        blocker.close()
        blocker.engine.dispose()
        store.close()
