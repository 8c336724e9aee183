"""Nothing collected is lost while the database is away: retried, spooled, written back once."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from fleetstat.collect import job, writer
from fleetstat.core import model, wire
from fleetstat.store import Recorded, Store
from fleetstat.store.spool import FORMAT, Spool
from tests.support import answers
from tests.support.private_postgres import PrivatePostgres
from tests.support.sshd import client_for

T0 = datetime(2026, 12, 1, 12, 0, 0, 250000, tzinfo=UTC)
THIRTY = [f"127.0.1.{n}" for n in range(10, 40)]


def test_a_result_comes_back_from_the_spool_as_it_went_in(tmp_path: Path) -> None:
    ans = answers.answer(T0, evts=answers.events(range(3), T0))
    result = answers.ok_result(T0, ans, who=answers.client(ip="127.0.0.9", name="db9"))
    spool = Spool(tmp_path / "spool")
    path = spool.keep(7, result)

    [back] = list(spool.results())
    assert back.path == path and back.run_id == 7
    assert back.result.answer == result.answer
    assert back.result.outcome is model.Outcome.OK
    assert (back.result.started_at, back.result.finished_at) == (T0, result.finished_at)
    assert back.result.client.address == "127.0.0.9:22" and back.result.client.name == "db9"
    assert back.result.client.password is None  # no secret on disk
    assert "secret" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_a_failed_result_round_trips_too() -> None:
    failed = answers.failed_result(T0, model.Outcome.TIMEOUT, "no answer in 60 s")
    assert wire.decode_result(wire.encode_result(failed), failed.client) == failed


def test_a_file_spooled_with_its_client_inside_the_result_is_read_back(tmp_path: Path) -> None:
    """Files of earlier versions held the bare client inside the result as well."""
    result = answers.ok_result(T0, answers.answer(T0))
    bare = model.Client(ip=result.client.ip, username="", port=result.client.port, name="db9")
    record = {
        "format": FORMAT,
        "run_id": 3,
        "client": {"ip": bare.ip, "port": bare.port, "name": bare.name},
        "result": wire.encode(replace(result, client=bare)),
    }
    folder = tmp_path / "spool"
    folder.mkdir(mode=0o700)
    (folder / "result-3-x.json").write_text(json.dumps(record))
    [back] = list(Spool(folder).results())
    assert back.run_id == 3 and back.result == replace(result, client=bare)


def test_a_spooled_result_written_back_twice_is_stored_once(store: Store, tmp_path: Path) -> None:
    run_id = store.start_run(T0)
    result = answers.ok_result(T0, answers.answer(T0, evts=answers.events(range(2), T0)))
    spool = Spool(tmp_path / "spool")

    def write(run: int, one: model.HostResult) -> Recorded:
        return store.record(run, one, T0)

    spool.keep(run_id, result)
    assert writer.replay(store, spool, {}, write) == 1
    spool.keep(run_id, result)  # as if the collector died between the commit and the unlink
    assert writer.replay(store, spool, {}, write) == 1

    attempts, samples, doubled = counts(store.engine.url.render_as_string(hide_password=False))
    assert (attempts, samples, doubled) == ({run_id: 1}, {run_id: 1}, 0)
    assert list(spool.folder.iterdir()) == []


def test_a_spooled_result_of_a_run_that_is_gone_is_set_aside(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    kept = spool.keep(424242, answers.ok_result(T0, answers.answer(T0)))

    def write(run: int, one: model.HostResult) -> Recorded:
        return store.record(run, one, T0)

    assert writer.replay(store, spool, {}, write) == 0
    assert [p.name for p in spool.folder.iterdir()] == [kept.name + ".failed"]
    assert writer.replay(store, spool, {}, write) == 0 and len(spool) == 0


def config_for(folder: Path, db: str, clients: list[model.Client], smtp: model.SmtpSettings):
    settings = model.Settings(
        db=db,
        known_hosts=folder / "state" / "known_hosts",
        connect_timeout=5.0,
        timeout=30.0,
        cpu_interval=0.0,
        db_timeout=2.0,
        smtp=smtp,
    )
    return model.Config(path=folder / "clients.xml", settings=settings, clients=tuple(clients))


def counts(url: str) -> tuple[dict[int, int], dict[int, int], int]:
    """(run → attempts, run → samples, attempts seen twice for one run and host)."""
    engine = create_engine(url)
    with engine.connect() as db:
        attempts = dict(
            db.execute(
                text("SELECT run_id, count(*) FROM collection_attempts GROUP BY run_id")
            ).all()
        )
        samples = dict(
            db.execute(
                text("SELECT run_id, count(DISTINCT host_id) FROM samples GROUP BY run_id")
            ).all()
        )
        doubled = db.execute(
            text(
                "SELECT count(*) FROM (SELECT run_id, host_id FROM samples"
                " GROUP BY run_id, host_id HAVING count(*) > 1) AS d"
            )
        ).scalar_one()
    engine.dispose()
    return attempts, samples, doubled


@pytest.mark.slow
@pytest.mark.parametrize(
    ("down", "cpu_interval", "back_mid_pass"),
    [(10.0, 0.0, False), (3.0, 1.0, True)],
    ids=["down-past-the-pass-spooled", "back-within-the-pass-retried"],
)
def test_postgresql_stopped_mid_pass_loses_and_doubles_nothing(  # noqa: PLR0917
    tmp_path,
    ssh_user,
    sshd_factory,
    smtp_server,
    private_postgres: PrivatePostgres,
    down,
    cpu_interval,
    back_mid_pass,
):
    server = sshd_factory(THIRTY)
    clients = [client_for(ssh_user, server, ip, name=f"h{n}") for n, ip in enumerate(THIRTY)]
    config = config_for(tmp_path, private_postgres.url, clients, smtp_server.settings())
    config = replace(config, settings=replace(config.settings, cpu_interval=cpu_interval))
    stopped = threading.Event()

    stopped_at: list[float] = []

    def stop_for_a_while(done: int, _total: int) -> None:
        if done == 3 and not stopped.is_set():
            stopped.set()
            private_postgres.stop()
            stopped_at.append(time.monotonic())
            if back_mid_pass:
                threading.Timer(down, private_postgres.start).start()

    Store.open(config.settings.db).close()  # migrated with the default bound
    store = Store.open(config.settings.db, timeout=config.settings.db_timeout)
    try:
        first = asyncio.run(job.run_pass(config, store, progress=stop_for_a_while, concurrency=4))
        if not back_mid_pass:  # down for 10 s, and at least until the pass is over
            time.sleep(max(0.0, stopped_at[0] + down - time.monotonic()))
            private_postgres.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the server is back
            try:
                counts(private_postgres.url)
                break
            except SQLAlchemyError:
                time.sleep(0.5)
        second = asyncio.run(job.run_pass(config, store))
    finally:
        store.close()

    attempts, samples, doubled = counts(private_postgres.url)
    print(
        f"\nfirst pass: {first.ok} ok, {len(first.results) - len(first.unstored)} stored during"
        f" the pass, {first.spooled} spooled; second pass replayed {second.replayed},"
        f" stored {len(second.results) - len(second.unstored)}"
    )
    assert stopped.is_set()
    assert first.ok == 30 and second.ok == 30
    assert first.spooled == len(first.unstored) and first.spooled == second.replayed
    assert first.exit_code == (3 if first.spooled else 0)
    assert (first.spooled > 0) == (not back_mid_pass)
    assert second.unstored == {} and second.exit_code == 0
    assert attempts == {first.run_id: 30, second.run_id: 30}
    assert samples == {first.run_id: 30, second.run_id: 30}
    assert doubled == 0
    assert list(writer.spool_folder(config, Store.open(private_postgres.url)).glob("*")) == []
