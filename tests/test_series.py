"""Long chart ranges read the hourly rollups, then the newest raw samples: on SQLite,
PostgreSQL and MariaDB the series equals what the raw samples give, however much of the
range is rolled up, and after the raw samples are pruned."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fleetstat.core import model
from fleetstat.store import Store, browse, series
from fleetstat.store.models import Sample, SampleDisk
from fleetstat.store.retention import ROLLED_UP, Retention
from tests.support import answers

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
HOURS = 12
END = T0 + timedelta(hours=HOURS)
#: Keeps only the samples: everything else for ever.
SAMPLES_ONLY = Retention(samples=60.0, rollups=0, attempts=0, events=0, mail=0)


def _answer(at: datetime, tick: int, cpu_missing: bool) -> model.Answer:
    """A healthy answer whose figures change from pass to pass (CPU missing when asked)."""
    base = answers.answer(at)
    assert base.cpu is not None and base.memory is not None
    cpu = None if cpu_missing else dataclasses.replace(base.cpu, percent=float(tick * 7 % 97))
    memory = dataclasses.replace(base.memory, percent=30.0 + tick % 11)
    disks = tuple(dataclasses.replace(disk, percent=disk.percent + tick % 5) for disk in base.disks)
    load = (tick / 10, tick / 20, tick / 40)
    return dataclasses.replace(base, cpu=cpu, memory=memory, disks=disks, load=load)


def _fill(store: Store) -> None:
    """Two hosts, a pass every 20 minutes for ``HOURS`` hours from T0 (web01's CPU figure
    missing once)."""
    web, db = answers.client("10.0.0.1", name="web01"), answers.client("10.0.0.2", name="db01")
    for tick in range(HOURS * 3):
        at = T0 + timedelta(minutes=20 * tick, seconds=7)
        run_id = store.start_run(at)
        store.record(run_id, answers.ok_result(at, _answer(at, tick, tick == 4), who=web), at)
        store.record(run_id, answers.ok_result(at, _answer(at, tick + 50, False), who=db), at)
        store.finish_run(run_id, at, 2, 2)


def _host_id(store: Store, name: str) -> int:
    with store.session() as session:
        found = browse.host(session, name)
    assert found is not None
    return found.host_id


def _expected(store: Store, host_id: int, width: int) -> tuple[dict[str, list], dict[str, list]]:
    """The means per bucket of ``width`` seconds, computed here from the raw rows."""
    columns = {name: column for name, column in series.SAMPLE_SERIES.items()}
    query = select(Sample.collected_at, *columns.values()).where(Sample.host_id == host_id)
    disks = (
        select(Sample.collected_at, SampleDisk.mount, SampleDisk.percent)
        .join(Sample, SampleDisk.sample_id == Sample.id)
        .where(Sample.host_id == host_id)
    )
    figures: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    mounts: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    with store.session() as session:
        for at, *values in session.execute(query):
            bucket = int(at.timestamp()) // width * width
            for name, value in zip(columns, values, strict=True):
                figures[name][bucket].extend([] if value is None else [value])
        for at, mount, percent in session.execute(disks):
            mounts[mount][int(at.timestamp()) // width * width].append(percent)
    times = sorted({bucket for buckets in figures.values() for bucket in buckets})

    def means(buckets: dict[int, list[float]], at: list[int]) -> list:
        return [
            (t, round(sum(buckets[t]) / len(buckets[t]), 2) if buckets[t] else None) for t in at
        ]

    return (
        {name: means(figures[name], times) for name in columns},
        {mount: means(buckets, sorted(buckets)) for mount, buckets in mounts.items()},
    )


def _shown(found: series.HostSeries) -> tuple[dict[str, list], dict[str, list]]:
    def pairs(line: series.Series) -> list:
        return list(zip(line.times, line.values, strict=True))

    return (
        {name: pairs(line) for name, line in found.series.items()},
        {mount: pairs(line) for mount, line in found.disks.items()},
    )


def _same(found: series.HostSeries, expected: tuple[dict[str, list], dict[str, list]]) -> None:
    shown = _shown(found)
    for got, want in zip(shown, expected, strict=True):
        assert set(got) == set(want)
        for name in want:
            assert [t for t, _ in got[name]] == [t for t, _ in want[name]], name
            assert [v for _, v in got[name]] == pytest.approx([v for _, v in want[name]], abs=0.011)


def _chart(store: Store, host_id: int, step: int | None, start: datetime = T0):
    with store.session() as session:
        return series.host_series(session, host_id, start, END, step=step)


def test_every_charted_figure_is_one_the_rollups_keep():
    assert {column.key for column in series.SAMPLE_SERIES.values()} <= set(ROLLED_UP)


@pytest.mark.parametrize("width", [3600, 7200])
def test_a_long_range_equals_the_raw_samples_unrolled_partly_rolled_up_and_pruned(
    store: Store, width: int
):
    _fill(store)
    web = _host_id(store, "web01")
    expected = _expected(store, web, width)
    assert len(expected[0]["cpu"]) == HOURS * 3600 // width

    _same(_chart(store, web, width), expected)  # nothing rolled up: all raw

    store.roll_up(T0 + timedelta(hours=5, minutes=30))  # hours 10:00 to 14:00 rolled up
    with store.session() as session:
        assert series.rolled_until(session) == T0 + timedelta(hours=5)
    _same(_chart(store, web, width), expected)  # no hole at the end, no hour twice

    store.roll_up(END + timedelta(hours=1), everything=True)
    store.prune(SAMPLES_ONLY, END + timedelta(hours=1))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 0
    _same(_chart(store, web, width), expected)  # the old days are still there


def test_ranges_over_two_days_are_read_by_the_hour_and_short_ones_from_raw_samples(
    store: Store,
):
    _fill(store)
    web = _host_id(store, "web01")
    store.roll_up(END + timedelta(hours=1), everything=True)
    month = _chart(store, web, None, start=END - timedelta(days=30))
    assert month.step == 3600
    _same(month, _expected(store, web, 3600))
    day = _chart(store, web, None, start=END - timedelta(hours=24))
    assert day.step == 87  # 24 h in at most 1,000 points: raw samples
    assert len(day.series["cpu"].times) == HOURS * 3
    assert day.disks["/var"].values[0] == 85.0
