"""The web page's reads (``store.browse``, ``store.series``) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from fleetstat.core import model
from fleetstat.store import Store, alert_states, browse, series
from tests.support import answers

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _fill(store: Store) -> None:
    """Two hosts, 12 passes 5 minutes apart ending at NOW; b fails the last one."""
    a, b = answers.client("10.0.0.1", name="a"), answers.client("10.0.0.2", name="b")
    for tick in range(12):
        at = NOW - timedelta(minutes=5 * (11 - tick))
        run_id = store.start_run(at)
        memory = model.Memory(total=100, available=100 - tick, used=tick, percent=float(tick))
        event = answers.event(tick, at, source="linux-auth")
        ans = answers.answer(
            at, memory=memory, evts=(event,), cursor=answers.cursor_after((event,))
        )
        store.record(run_id, answers.ok_result(at, ans, who=a), at)
        if tick < 11:
            store.record(
                run_id, answers.ok_result(at, dataclasses.replace(ans, events=()), who=b), at
            )
        else:
            store.record(run_id, answers.failed_result(at, who=b), at)
        store.finish_run(run_id, at + timedelta(seconds=30), 2, 1 if tick == 11 else 2)


def test_a_hosts_chart_is_bucketed_in_the_database_on_every_backend(store):
    _fill(store)
    with store.session() as session:
        host = browse.host(session, "a")
        assert host is not None and host.address == "10.0.0.1:22"
        assert browse.host(session, "\u00b2") is None  # a digit to str.isdigit, not to int()
        assert browse.host(session, str(host.host_id)) == host
        start = NOW - timedelta(hours=1)
        fine = series.host_series(session, host.host_id, start, NOW + timedelta(minutes=1))
        coarse = series.host_series(session, host.host_id, start, NOW, max_points=4)
    memory = fine.series["memory"]
    assert memory.values == [float(n) for n in range(12)]
    assert memory.times == sorted(memory.times) and len(set(memory.times)) == 12
    assert coarse.step == 900 and len(coarse.series["memory"].times) <= 5
    assert sum(coarse.series["memory"].values) / len(coarse.series["memory"].values) > 4
    assert set(fine.disks) == {"/", "/var"} and fine.disks["/var"].values[0] == 85.0


def test_the_fleet_rows_carry_latest_figures_counts_and_sparklines(store):
    _fill(store)
    with store.session() as session:
        rows = {row.name: row for row in browse.fleet(session, NOW + timedelta(minutes=1))}
        latest = {row.name: row for row in browse.latest(session)}
    assert rows["a"].mem_percent == 11.0 and rows["a"].disk_percent == 85.0
    assert rows["a"].disk_mount == "/var" and rows["a"].events_24h == 12
    assert rows["b"].last_outcome == "unreachable" and rows["b"].mem_percent == 10.0
    assert latest["a"].load1 == 0.15 and latest["b"].firing == 0
    spark = rows["a"].spark["memory"]
    assert len(spark) >= 24 and [v for v in spark if v is not None] == [0.0, 11.0]  # 11:05, 12:00


def test_events_are_searched_and_paged_newest_first(store):
    _fill(store)
    with store.session() as session:
        host = browse.host(session, "10.0.0.1:22")
        assert host is not None
        first = browse.events(session, browse.EventFilter(host_id=host.host_id), 1, 5)
        last = browse.events(session, browse.EventFilter(host_id=host.host_id), 3, 5)
        by_ip = browse.events(session, browse.EventFilter(source_ip="10.0.0.4"), 1, 50)
        since = browse.events(session, browse.EventFilter(since=NOW - timedelta(minutes=9)))
        text = browse.events(session, browse.EventFilter(text="port 40002"))
        attempts = browse.attempts(session, host.host_id, NOW - timedelta(hours=1), NOW)
    assert len(first.rows) == 5 and first.more and not last.more and len(last.rows) == 2
    assert first.rows[0].time > first.rows[-1].time
    assert [e.source_ip for e in by_ip.rows] == ["10.0.0.4"]
    assert len(since.rows) == 2 and len(text.rows) == 1
    assert len(attempts) == 11 and {a.outcome for a in attempts} == {"ok"}


def test_the_last_run_is_the_newest_finished_one(store):
    _fill(store)
    with store.session() as session:
        run = browse.last_run(session)
        assert alert_states.active(session) == []
        assert browse.transitions(session) == []
    assert run is not None and run.hosts_total == 2 and run.hosts_ok == 1
