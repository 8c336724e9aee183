"""One pass of the job over real sshd hosts into SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fleetstat.collect import job
from fleetstat.core import model
from fleetstat.core.errors import StoreError
from fleetstat.store import Store
from tests.support.sshd import client_for

pytestmark = pytest.mark.slow

ADDRESSES = [f"127.0.0.{n}" for n in range(100, 120)]  # 20 hosts: two sshd


def config_for(
    folder: Path, db: str, clients: list[model.Client], smtp: model.SmtpSettings
) -> model.Config:
    settings = model.Settings(
        db=db,
        known_hosts=folder / "known_hosts",
        connect_timeout=5.0,
        timeout=30.0,
        cpu_interval=0.0,
        smtp=smtp,
    )
    return model.Config(path=folder / "clients.xml", settings=settings, clients=tuple(clients))


@pytest.fixture
def twenty_hosts(sshd_factory):
    return sshd_factory(ADDRESSES)


def test_a_pass_over_twenty_hosts_stores_one_sample_per_host_with_its_ip(
    tmp_path, db_url, ssh_user, twenty_hosts, smtp_server
):
    clients = [
        client_for(ssh_user, twenty_hosts, ip, name=f"h{n}", mail=(f"ops{n}@example.org",))
        for n, ip in enumerate(ADDRESSES)
    ]
    clients[-1] = replace(clients[-1], password="not-the-password")
    config = config_for(tmp_path, db_url, clients, smtp_server.settings())
    store = Store.open(db_url)
    try:
        report = asyncio.run(job.run_pass(config, store))
    finally:
        store.close()

    assert report.ok == 19 and report.failed == 1
    assert report.exit_code == 1
    assert report.unstored == {}
    engine = create_engine(db_url)
    with engine.connect() as db:
        sample_ips = sorted(row[0] for row in db.execute(text("SELECT ip FROM samples")))
        attempts = dict(db.execute(text("SELECT ip, outcome FROM collection_attempts")).all())
        finished = db.execute(text("SELECT hosts_total, hosts_ok FROM runs")).one()
    engine.dispose()
    assert sample_ips == sorted(ADDRESSES[:-1])
    assert attempts[ADDRESSES[-1]] == "auth_failed"
    assert all(attempts[ip] == "ok" for ip in ADDRESSES[:-1])
    assert tuple(finished) == (20, 19)
    events_mails = [m for m in smtp_server.messages if "security events" in m.subject]
    assert len(events_mails) == 20  # one digest per address, every pass
    [unread] = [m for m in smtp_server.to("ops19@example.org") if "security events" in m.subject]
    assert "log not read: login refused (auth_failed)" in unread.body


@pytest.mark.parametrize(
    "failure",
    [StoreError("database or disk is full"), RuntimeError("a defect in composing a mail")],
    ids=["store-error", "unexpected-error"],
)
def test_results_that_cannot_be_stored_are_reported_and_the_pass_goes_on(
    tmp_path, ssh_user, sshd_factory, smtp_server, failure
):
    server = sshd_factory(["127.0.0.121", "127.0.0.122"])
    clients = [client_for(ssh_user, server, ip) for ip in server.addresses]
    db = tmp_path / "fleetstat.db"
    config = config_for(tmp_path, f"sqlite:///{db}", clients, smtp_server.settings())
    store = Store.open(config.settings.db)
    # One host's write fails, as a full disk makes it fail (tests/test_store.py produces that
    # StoreError for real with SQLite's page limit) or as a defect would; what is under test is
    # that the pass goes on, stores the other host and says which result was not stored.
    original = store.record

    def record_then_fail(run_id: int, result: model.HostResult, now, then=None):
        if result.client.ip == "127.0.0.122":
            raise failure
        return original(run_id, result, now, then=then)

    store.record = record_then_fail  # type: ignore[method-assign]
    try:
        report = asyncio.run(job.run_pass(config, store))
    finally:
        store.close()
    assert report.ok == 2
    assert list(report.unstored) == [f"127.0.0.122:{server.port}"]
    assert str(failure) in report.unstored[f"127.0.0.122:{server.port}"]
    assert report.exit_code == 3
    check = Store.open(config.settings.db)
    try:
        stored = {row.ip: row.last_outcome for row in check.latest_hosts()}
    finally:
        check.close()
    assert stored == {"127.0.0.121": "ok"}
