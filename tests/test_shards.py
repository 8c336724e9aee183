"""A pass sharded over real Celery workers, on the real RabbitMQ and Redis, into PostgreSQL.

Every test has queues of its own on the shared brokers; the broker restart uses a private
Redis or a private RabbitMQ node. Hosts are real sshd servers on loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from fleetstat import config as fleet_config
from fleetstat.collect import job, shards
from fleetstat.core.model import Outcome
from fleetstat.store import Store
from fleetstat.store.models import CollectionAttempt, Host, MailOutbox
from tests.support import brokers
from tests.support.databases import server_database
from tests.support.sshd import SshdServer, SshUser, leftover_temp_dirs

pytestmark = pytest.mark.slow

HUNDRED = [f"127.0.{n // 250 + 30}.{n % 250 + 1}" for n in range(100)]


@pytest.fixture
def postgres() -> Iterator[str]:
    with server_database("postgresql") as url:
        yield url


def write_config(
    folder: Path,
    user: SshUser,
    server: SshdServer,
    *,
    db: str,
    broker: str,
    queue: str,
    shard_size: int = 10,
    timeout: int = 30,
    name: str = "clients.xml",
) -> Path:
    """A config for every address of ``server``, Celery settings included, mode 0600."""
    clients = "\n".join(
        f'  <client ip="{ip}" port="{server.port}" username="{user.name}" '
        f'password="{user.password}" name="h{n:03d}" mail="ops{n % 3}@example.org">\n'
        '    <alert type="memory" limit="0%" />\n  </client>'
        for n, ip in enumerate(server.addresses)
    )
    text_ = (
        "<clients>\n"
        f'  <settings db="{db}" known-hosts="{folder}/known_hosts" cpu-interval="0.1"'
        f' timeout="{timeout}" broker="{broker}" queue="{queue}" shard-size="{shard_size}">\n'
        '    <smtp host="127.0.0.1" port="9" />\n'
        f"  </settings>\n{clients}\n</clients>\n"
    )
    path = folder / name
    path.write_text(text_)
    path.chmod(0o600)
    return path


def run_sharded(path: Path) -> job.PassReport:
    """One ``--engine celery`` pass of the config at ``path``."""
    loaded = fleet_config.load(path)
    loaded = replace(loaded, settings=replace(loaded.settings, engine="celery"))
    store = Store.open(loaded.settings.db)
    try:
        return asyncio.run(job.run_pass(loaded, store))
    finally:
        store.close()


def attempts_per_host(db: str, run_id: int) -> dict[str, int]:
    """Host name → attempts stored for run ``run_id``."""
    engine = create_engine(db)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Host.name, func.count())
            .join(CollectionAttempt, CollectionAttempt.host_id == Host.id)
            .where(CollectionAttempt.run_id == run_id)
            .group_by(Host.name)
        )
        counts = {name: n for name, n in rows}
    engine.dispose()
    return counts


def doubled_mail(db: str, run_id: int) -> int:
    """Outbox rows of run ``run_id`` that repeat another's host, kind and recipient."""
    engine = create_engine(db)
    with engine.connect() as connection:
        total = connection.scalar(
            select(func.count()).select_from(MailOutbox).where(MailOutbox.run_id == run_id)
        )
        distinct = connection.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT DISTINCT host_id, kind, recipient FROM "
                "mail_outbox WHERE run_id = :r) d"
            ),
            {"r": run_id},
        ).scalar_one()
    engine.dispose()
    return int(total or 0) - int(distinct)


@pytest.mark.parametrize("broker", [brokers.RABBITMQ, brokers.REDIS], ids=["rabbitmq", "redis"])
def test_two_workers_store_a_hundred_hosts_exactly_once(
    broker: str, tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any
) -> None:
    server = sshd_factory(HUNDRED)
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=brokers.require(broker),
        queue=brokers.queue_name(),
    )  # fmt: skip
    Store.open(postgres).close()
    with brokers.workers(path, 2, tmp_path):
        report = run_sharded(path)
    assert report.ok == 100, [(r.client.name, r.error) for r in report.results if r.error]
    assert attempts_per_host(postgres, report.run_id) == {f"h{n:03d}": 1 for n in range(100)}
    assert doubled_mail(postgres, report.run_id) == 0
    assert {r.answer.host.hostname for r in report.results if r.answer} != set()


def test_a_worker_killed_mid_shard_doubles_nothing_and_loses_nothing(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any
) -> None:
    server = sshd_factory(HUNDRED)
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=brokers.require(brokers.RABBITMQ),
        queue=brokers.queue_name(), timeout=8,
    )  # fmt: skip
    Store.open(postgres).close()
    with brokers.workers(path, 2, tmp_path) as (doomed, survivor):
        outcome: dict[str, job.PassReport] = {}
        dispatcher = threading.Thread(target=lambda: outcome.update(r=run_sharded(path)))
        dispatcher.start()
        deadline = time.monotonic() + 120
        while "collect_shard" not in doomed.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # in the middle of its shards
        doomed.kill()
        dispatcher.join(timeout=300)
    report = outcome["r"]
    assert report.ok == 100, [(r.client.name, r.error) for r in report.results if r.error]
    assert attempts_per_host(postgres, report.run_id) == {f"h{n:03d}": 1 for n in range(100)}
    assert doubled_mail(postgres, report.run_id) == 0
    assert "collect_shard" in survivor.log_text()
    time.sleep(8 + 1)  # what the killed worker left is stale now: the next contact sweeps it
    loaded = fleet_config.load(path)
    store = Store.open(postgres)
    try:
        assert asyncio.run(job.run_pass(loaded, store)).ok == 100
    finally:
        store.close()
    assert leftover_temp_dirs(ssh_user) == []


def test_a_shard_no_worker_takes_is_recorded_as_lost_and_says_why(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any
) -> None:
    server = sshd_factory(["127.0.0.41", "127.0.0.42"])
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=brokers.require(brokers.RABBITMQ),
        queue=brokers.queue_name(), timeout=1, shard_size=2,
    )  # fmt: skip
    Store.open(postgres).close()
    started = time.monotonic()
    report = run_sharded(path)
    assert time.monotonic() - started < 1 + shards.SHARD_GRACE + 10
    assert [r.outcome for r in report.results] == [Outcome.SHARD_LOST] * 2
    assert all("fleetstat worker" in (r.error or "") for r in report.results)
    assert attempts_per_host(postgres, report.run_id) == {"h000": 1, "h001": 1}


def test_a_worker_with_another_config_refuses_the_shard(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any
) -> None:
    server = sshd_factory(["127.0.0.43", "127.0.0.44"])
    queue = brokers.queue_name()
    broker = brokers.require(brokers.REDIS)
    dispatcher = write_config(tmp_path, ssh_user, server, db=postgres, broker=broker, queue=queue)
    other = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=broker, queue=queue, timeout=29,
        name="other.xml",
    )  # fmt: skip
    Store.open(postgres).close()
    with brokers.workers(other, 1, tmp_path):
        report = run_sharded(dispatcher)
    assert [r.outcome for r in report.results] == [Outcome.SHARD_LOST] * 2
    assert all("is not the dispatcher's" in (r.error or "") for r in report.results)


def test_a_redelivered_shard_collects_none_of_the_hosts_its_run_stored(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any
) -> None:
    """The broker gives a shard back when its worker dies after storing it: the worker that
    takes it again logs in to no host its run already holds."""
    server = sshd_factory(["127.0.0.45", "127.0.0.46", "127.0.0.47"])
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=brokers.REDIS, queue=brokers.queue_name()
    )
    config = fleet_config.load(path)
    worker = shards.Worker(config, shards.config_digest(path), Store.open(postgres))
    addresses = [client.address for client in config.clients]
    try:
        run_id = worker.store.start_run(dt.datetime.now(dt.UTC), "dispatcher")
        first = shards.collect_shard_here(worker, run_id, worker.digest, addresses)
        again = shards.collect_shard_here(worker, run_id, worker.digest, addresses)
    finally:
        worker.store.close()
    assert [r["address"] for r in first["results"]] == addresses
    assert [r["outcome"] for r in first["results"]] == ["ok"] * 3
    assert again == {"results": [], "unstored": {}}
    assert attempts_per_host(postgres, run_id) == {"h000": 1, "h001": 1, "h002": 1}
    assert leftover_temp_dirs(ssh_user) == []


def test_no_secret_is_in_a_broker_message_or_a_result(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any, private_redis: Any
) -> None:
    import redis

    server = sshd_factory(["127.0.0.45", "127.0.0.46"])
    queue = brokers.queue_name()
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=private_redis.url, queue=queue
    )
    Store.open(postgres).close()
    client = redis.Redis.from_url(private_redis.url)
    loaded = fleet_config.load(path)
    app = shards.make_app(loaded.settings)
    digest = shards.config_digest(path)
    app.send_task(shards.TASK, args=(1, digest, ["127.0.0.45:1"]))
    queued = b"".join(client.lrange(queue, 0, -1))
    assert b"127.0.0.45:1" in queued
    assert ssh_user.password.encode() not in queued
    with brokers.workers(path, 1, tmp_path):
        report = run_sharded(path)
    assert report.ok == 2
    stored = b"".join(client.get(key) or b"" for key in client.scan_iter("celery-task-meta-*"))
    assert b'"address"' in stored
    assert ssh_user.password.encode() not in stored


@pytest.fixture(params=["private_rabbitmq", "private_redis"], ids=["rabbitmq", "redis"])
def restartable_broker(request: pytest.FixtureRequest) -> Any:
    """A broker of this test alone that it may stop and start: RabbitMQ or Redis."""
    return request.getfixturevalue(request.param)


def test_a_broker_restarted_mid_pass_loses_nothing_stored(
    tmp_path: Path, postgres: str, ssh_user: SshUser, sshd_factory: Any, restartable_broker: Any
) -> None:
    private = restartable_broker
    server = sshd_factory([f"127.0.0.{n}" for n in range(50, 70)])
    path = write_config(
        tmp_path, ssh_user, server, db=postgres, broker=private.url,
        queue=brokers.queue_name(), shard_size=2, timeout=10,
    )  # fmt: skip
    Store.open(postgres).close()
    with brokers.workers(path, 1, tmp_path, concurrency=1):
        began = time.monotonic()
        outcome: dict[str, job.PassReport] = {}
        dispatcher = threading.Thread(target=lambda: outcome.update(r=run_sharded(path)))
        dispatcher.start()
        time.sleep(3)
        assert dispatcher.is_alive(), "the pass was over before the broker stopped"
        private.stop()
        time.sleep(1)
        private.start()
        dispatcher.join(timeout=400)
        elapsed = time.monotonic() - began
    report = outcome["r"]
    counts = attempts_per_host(postgres, report.run_id)
    assert counts == {f"h{n:03d}": 1 for n in range(20)}
    lost = [r for r in report.results if r.outcome is Outcome.SHARD_LOST]
    assert report.ok + len(lost) == 20
    assert all("fleetstat worker" in (r.error or "") for r in lost)
    loaded = fleet_config.load(path)
    deadline = sum(
        shards.shard_seconds(loaded.clients[n : n + 2], loaded.settings) for n in range(0, 20, 2)
    )
    assert elapsed < deadline, "the pass waited for its shards' deadline: answers were lost"
