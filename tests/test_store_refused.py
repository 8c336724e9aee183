"""No host vanishes: every result gets its attempt, once per run, on real SQLite, PostgreSQL
and MariaDB, whatever the answer holds."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fleetstat.core import model
from fleetstat.store import Store
from fleetstat.store.models import CollectionAttempt, Host, Sample, SecurityEvent
from tests.support import answers

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HUGE = 2**70


def backend(store: Store) -> str:
    return store.engine.dialect.name


def with_event_message(message: str) -> model.Answer:
    evt = dataclasses.replace(answers.event(1, T0), message=message)
    return answers.answer(T0, evts=(evt,))


#: An answer each database refuses, and the words the error must hold to name the value.
REFUSED: dict[str, list[tuple[model.Answer, str]]] = {
    "postgresql": [(with_event_message("before\x00after"), "security_events.message")],
    "mysql": [],  # its 64 KB TEXT is LONGTEXT where a client's text may pass it (0008)
    "sqlite": [],
}
EVERYWHERE = [
    (answers.answer(T0, memory=model.Memory(HUGE, 1, 1, 1.0)), "samples.mem_total"),
    (
        answers.answer(T0, disks=(model.Disk("/", "/dev/sda", "ext4", HUGE, 1, 1, 1.0),)),
        "sample_disks.total",
    ),
]


def refused_answers(store: Store) -> list[tuple[model.Answer, str]]:
    return REFUSED.get(backend(store), REFUSED["mysql"]) + EVERYWHERE


def attempts(store: Store) -> list[Any]:
    with store.session() as session:
        return list(session.scalars(select(CollectionAttempt).order_by(CollectionAttempt.id)))


def test_an_event_text_past_64_kb_is_stored_whole(store: Store) -> None:
    run_id = store.start_run(T0)
    long = "x" * 70_000
    done = store.record(run_id, answers.ok_result(T0, with_event_message(long)), T0)
    assert done.outcome is model.Outcome.OK
    with store.session() as session:
        assert session.scalars(select(SecurityEvent.message)).all() == [long]


def test_a_refused_answer_is_stored_as_an_attempt_naming_the_value(store: Store) -> None:
    for n, (hostile, field) in enumerate(refused_answers(store)):
        run_id = store.start_run(T0 + timedelta(minutes=n))
        bad = answers.client(ip="127.0.0.66", name="hostile")
        done = store.record(run_id, answers.ok_result(T0, hostile, who=bad), T0)
        good = store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)

        assert done.outcome is model.Outcome.STORE_REFUSED and good.outcome is model.Outcome.OK
        assert done.error and field in done.error and "refused" in done.error
        row = [a for a in attempts(store) if a.run_id == run_id and a.host_id == done.host_id]
        assert [(a.outcome, a.error) for a in row] == [("store_refused", done.error)]
    with store.session() as session:
        hosts = {h.name: h for h in session.scalars(select(Host))}
        sampled = set(session.scalars(select(Sample.host_id)))
        events = session.scalars(select(SecurityEvent.host_id)).all()
    assert hosts["hostile"].last_outcome == "store_refused"
    assert hosts["hostile"].event_cursor is None  # the events are asked for again
    assert hosts["hostile"].id not in sampled and hosts["web01"].id in sampled
    assert hosts["hostile"].id not in events


def test_a_failed_result_whose_error_the_database_refuses_still_gets_its_attempt(
    store: Store,
) -> None:
    run_id = store.start_run(T0)
    error = "agent said \x00\x1b[31m" + "y" * 70_000
    failed = answers.failed_result(T0, model.Outcome.AGENT_FAILED, error)
    done = store.record(run_id, failed, T0)

    [attempt] = attempts(store)
    assert attempt.outcome in ("agent_failed", "store_refused")
    assert done.outcome.value == attempt.outcome
    if attempt.outcome == "store_refused":
        assert "\x00" not in attempt.error and "\x1b" not in attempt.error
        assert len(attempt.error) <= 2000


def test_a_result_stored_twice_in_one_run_is_stored_once(store: Store) -> None:
    run_id = store.start_run(T0)
    ans = answers.answer(T0, evts=answers.events(range(3), T0))
    first = store.record(run_id, answers.ok_result(T0, ans), T0)
    again = store.record(run_id, answers.ok_result(T0, ans), T0)
    failed_again = store.record(run_id, answers.failed_result(T0), T0)

    assert first.new and not again.new and not failed_again.new
    assert [a.outcome for a in attempts(store)] == ["ok"]
    with store.session() as session:
        assert len(session.scalars(select(Sample)).all()) == 1
        assert session.scalar(select(Host.last_outcome)) == "ok"
    later = store.start_run(T0 + timedelta(minutes=5))
    assert store.record(later, answers.failed_result(T0 + timedelta(minutes=5)), T0).new


def test_then_writes_in_the_hosts_transaction_and_rolls_back_with_it(store: Store) -> None:
    run_id = store.start_run(T0)
    seen: list[model.Outcome] = []

    def then(session: Any, done: Any) -> None:
        seen.append(done.outcome)
        session.execute(select(1))
        raise RuntimeError("alert evaluation broke")

    with pytest.raises(RuntimeError):
        store.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0, then=then)
    assert seen == [model.Outcome.OK]
    assert attempts(store) == []


def test_a_new_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "fleetstat.db"
    old = os.umask(0o022)
    store = Store.open(f"sqlite:///{path}")
    try:
        store.record(store.start_run(T0), answers.ok_result(T0, answers.answer(T0)), T0)
        made = sorted(path.parent.iterdir())
        assert path.with_name("fleetstat.db-wal") in made  # SQLite's own files too
        for one in made:
            assert stat.S_IMODE(one.stat().st_mode) == 0o600, one
    finally:
        store.close()
        os.umask(old)
