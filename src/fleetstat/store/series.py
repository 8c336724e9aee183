"""Time series of one host or of the whole fleet, bucketed in the database.

``host_series`` and ``fleet_sparklines`` are the one seam between the charts and the
stored figures. A short range (up to ``LONG_RANGE``, buckets under an hour) groups raw
``samples`` (and ``sample_disks``) into buckets of ``step`` seconds inside the database,
so no series sends more than ``max_points`` points. A long range is read in buckets of
whole hours: the hours already rolled up from ``sample_rollups`` (count-weighted means),
the newer ones from the raw samples, so its newest hours have no hole and no hour is
counted twice, and its old days stay after their raw samples are pruned. Times in and
out are UTC; a bucket is named by its start (Unix seconds).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from fleetstat.store.models import Run, Sample, SampleDisk, SampleRollup

#: The most points one series of a chart carries.
MAX_POINTS = 1000
#: Seconds in an hour: the bucket of the rollups.
HOUR = 3600
#: A range longer than this is read by the hour (rollups, then the newest raw samples).
LONG_RANGE = timedelta(days=2)
#: The ``sample_rollups.metric`` of a filesystem's percent used is this plus its mount.
DISK_METRIC = "disk:"

#: The figures of ``samples`` a host chart shows: series name → column (percent or load).
SAMPLE_SERIES: dict[str, Any] = {
    "cpu": Sample.cpu_percent,
    "memory": Sample.mem_percent,
    "swap": Sample.swap_percent,
    "load1": Sample.load1,
    "load5": Sample.load5,
    "load15": Sample.load15,
}


@dataclass(frozen=True)
class Series:
    """Points of one figure: ``times`` (Unix seconds, bucket starts) and ``values``."""

    times: list[int] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class HostSeries:
    """A host's charts over [``start``, ``end``): one ``Series`` per figure, in buckets of
    ``step`` seconds (each the average of the samples in it). ``disks`` is by mount."""

    start: datetime
    end: datetime
    step: int
    series: dict[str, Series]
    disks: dict[str, Series]


def step_for(start: datetime, end: datetime, max_points: int = MAX_POINTS) -> int:
    """The bucket width in whole seconds that keeps [start, end) within ``max_points``."""
    span = max((end - start).total_seconds(), 1.0)
    return max(1, math.ceil(span / max(max_points, 1)))


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    """``column`` (a UTC time) as whole Unix seconds, on each database."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return func.timestampdiff(literal_column("SECOND"), "1970-01-01", column)


def _bucket(session: Session, column: Any, step: int) -> ColumnElement[Any]:
    seconds = epoch_seconds(column, session.get_bind().dialect.name)
    return cast(func.floor(seconds / step), Integer) * step


def host_series(
    session: Session,
    host_id: int,
    start: datetime,
    end: datetime,
    *,
    max_points: int = MAX_POINTS,
    step: int | None = None,
) -> HostSeries:
    """The charts of host ``host_id`` over [start, end), at most ``max_points`` per series.

    ``step`` (seconds) asks for a bucket width; it is widened when it would give more
    points than ``max_points``. A range longer than ``LONG_RANGE``, or a width of an hour
    or more, is read in whole hours (``hourly_series``).
    """
    width = max(step or 1, step_for(start, end, max_points))
    if width >= HOUR or end - start > LONG_RANGE:
        return hourly_series(session, host_id, start, end, math.ceil(width / HOUR) * HOUR)
    bucket = _bucket(session, Sample.collected_at, width).label("bucket")
    columns = [func.avg(column).label(name) for name, column in SAMPLE_SERIES.items()]
    rows = session.execute(
        select(bucket, *columns)
        .where(Sample.host_id == host_id, Sample.collected_at >= start)
        .where(Sample.collected_at < end)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    series = {name: Series() for name in SAMPLE_SERIES}
    for row in rows:
        for name in SAMPLE_SERIES:
            series[name].times.append(int(row.bucket))
            series[name].values.append(_number(getattr(row, name)))
    disks = _disk_series(session, host_id, start, end, width)
    return HostSeries(start=start, end=end, step=width, series=series, disks=disks)


def _disk_series(
    session: Session, host_id: int, start: datetime, end: datetime, step: int
) -> dict[str, Series]:
    """Each filesystem's percent used at the first sample of each bucket (disks fill
    slowly; one sample a bucket keeps a 30-day chart to about 1,000 lookups)."""
    bucket = _bucket(session, Sample.collected_at, step).label("bucket")
    firsts = (
        select(func.min(Sample.id).label("sample_id"), bucket)
        .where(Sample.host_id == host_id, Sample.collected_at >= start)
        .where(Sample.collected_at < end)
        .group_by(bucket)
        .subquery()
    )
    rows = session.execute(
        select(SampleDisk.mount, firsts.c.bucket, SampleDisk.percent)
        .join(firsts, SampleDisk.sample_id == firsts.c.sample_id)
        .order_by(SampleDisk.mount, firsts.c.bucket)
    ).all()
    disks: dict[str, Series] = defaultdict(Series)
    for mount, at, percent in rows:
        disks[mount].times.append(int(at))
        disks[mount].values.append(_number(percent))
    return dict(disks)


def hourly_series(
    session: Session, host_id: int, start: datetime, end: datetime, width: int
) -> HostSeries:
    """The charts of host ``host_id`` in buckets of ``width`` seconds (whole hours), each
    the mean of every sample in it, disks included; the first bucket is the whole one
    that holds ``start``.

    The hours that are rolled up come from ``sample_rollups`` (their means weighted by
    their counts), the hours after from the raw samples: so a chart reaches to the
    newest sample, and shows the old days whose raw samples are pruned.
    """
    first = _at(int(start.timestamp()) // width * width)
    split = min(max(rolled_until(session) or first, first), end)
    sums: dict[str, dict[int, list[float]]] = defaultdict(dict)
    metrics = {column.key: name for name, column in SAMPLE_SERIES.items()}
    rolled = session.execute(
        select(SampleRollup.metric, SampleRollup.hour, SampleRollup.count, SampleRollup.avg)
        .where(SampleRollup.host_id == host_id)
        .where(SampleRollup.hour >= first, SampleRollup.hour < split)
    )
    for metric, hour, count, mean in rolled:
        if metric in metrics or metric.startswith(DISK_METRIC):
            _add(sums[metric], int(hour.timestamp()) // width * width, count, count * mean)
    for metric, at, count, total in _raw_sums(session, host_id, split, end, width):
        _add(sums[metric], at, count, total)
    times = sorted({at for metric in metrics for at in sums.get(metric, {})})
    series = {name: _means(sums.get(metric, {}), times) for metric, name in metrics.items()}
    disks = {
        metric.removeprefix(DISK_METRIC): _means(buckets, sorted(buckets))
        for metric, buckets in sorted(sums.items())
        if metric.startswith(DISK_METRIC)
    }
    return HostSeries(start=start, end=end, step=width, series=series, disks=disks)


@dataclass(frozen=True)
class HourFigures:
    """One bucket of a host's hourly chart (``fleetstat history --hourly``): its start
    (UTC), the mean CPU, memory and swap (percent) and load averages of its samples, and
    the filesystem with the highest mean percent used (``disk_percent`` of ``disk_mount``)."""

    hour: datetime
    cpu_percent: float | None
    mem_percent: float | None
    swap_percent: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    disk_percent: float | None
    disk_mount: str | None


def by_hour(charts: HostSeries) -> list[HourFigures]:
    """The buckets of ``charts`` as rows, newest first."""
    disks = {
        mount: dict(zip(line.times, line.values, strict=True))
        for mount, line in charts.disks.items()
    }
    columns = {name: column.key for name, column in SAMPLE_SERIES.items()}
    rows = []
    for n, at in enumerate(charts.series["cpu"].times):
        used = [
            (percent, mount)
            for mount, line in disks.items()
            if (percent := line.get(at)) is not None
        ]
        fullest = max(used, default=(None, None))
        figures = {key: charts.series[name].values[n] for name, key in columns.items()}
        rows.append(HourFigures(hour=_at(at), **figures, disk_percent=fullest[0],
                                disk_mount=fullest[1]))  # fmt: skip
    return rows[::-1]


def rolled_until(session: Session) -> datetime | None:
    """The end of the rolled-up hours: the hour after the newest rollup (None: none yet).

    ``retention.roll_up`` rolls hours up in order for every host at once, so every
    sample before this time is in ``sample_rollups``, and none after it.
    """
    newest = session.scalar(select(func.max(SampleRollup.hour)))
    return None if newest is None else newest + timedelta(seconds=HOUR)


def _raw_sums(
    session: Session, host_id: int, start: datetime, end: datetime, width: int
) -> list[tuple[str, int, int, float]]:
    """(metric, bucket, count, sum) of the host's raw samples in [start, end), by the
    rollups' metric names; figures without a value are not counted."""
    if start >= end:
        return []
    inside = (Sample.host_id == host_id, Sample.collected_at >= start, Sample.collected_at < end)
    bucket = _bucket(session, Sample.collected_at, width).label("bucket")
    figures = [f(column) for column in SAMPLE_SERIES.values() for f in (func.count, func.sum)]
    found: list[tuple[str, int, int, float]] = []
    for at, *values in session.execute(select(bucket, *figures).where(*inside).group_by(bucket)):
        for n, column in enumerate(SAMPLE_SERIES.values()):
            found.append((column.key, int(at), int(values[2 * n]), float(values[2 * n + 1] or 0)))
    disks = (
        select(
            SampleDisk.mount, bucket, func.count(SampleDisk.percent), func.sum(SampleDisk.percent)
        )
        .join(Sample, SampleDisk.sample_id == Sample.id)
        .where(*inside)
        .group_by(SampleDisk.mount, bucket)
    )
    for mount, at, count, total in session.execute(disks):
        found.append((DISK_METRIC + mount, int(at), int(count), float(total or 0)))
    return found


def _add(buckets: dict[int, list[float]], at: int, count: int, total: float) -> None:
    """Add ``count`` values summing to ``total`` to the bucket that starts at ``at``."""
    held = buckets.setdefault(at, [0, 0.0])
    held[0] += count
    held[1] += total


def _means(buckets: dict[int, list[float]], times: list[int]) -> Series:
    """The mean of each bucket of ``times`` (None where it holds no value)."""
    values = []
    for at in times:
        count, total = buckets.get(at, (0, 0.0))
        values.append(_number(total / count) if count else None)
    return Series(times=list(times), values=values)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


#: The fleet page's sparklines: series name → column; disk is the fullest filesystem.
SPARK_SERIES: dict[str, Any] = {
    "cpu": Sample.cpu_percent,
    "memory": Sample.mem_percent,
    "load": Sample.load1,
}


def fleet_sparklines(
    session: Session, start: datetime, end: datetime, points: int = 24
) -> dict[int, dict[str, list[float | None]]]:
    """Host id → series name (cpu, memory, load, disk) → ``points`` values over
    [start, end), oldest first; a slot without a sample is None.

    Each slot shows the host's sample of the first pass that started in it: a few rows
    per host through the ``run_id`` index instead of every sample of the day (the
    fleet page's whole sparkline set costs about ``points`` x hosts rows).
    """
    width = step_for(start, end, points)
    base = int(start.timestamp()) // width * width
    slots = (int(end.timestamp()) - base) // width + 1
    runs = _first_run_per_slot(session, start, end, width)
    fullest = (
        select(func.max(SampleDisk.percent))
        .where(SampleDisk.sample_id == Sample.id)
        .correlate(Sample)
        .scalar_subquery()
    )
    names = (*SPARK_SERIES, "disk")
    found: dict[int, dict[str, list[float | None]]] = {}
    for chunk in _chunks(list(runs), 500):
        query = select(Sample.host_id, Sample.run_id, *SPARK_SERIES.values(), fullest)
        rows = session.connection().execute(query.where(Sample.run_id.in_(chunk)))
        for host_id, run_id, *values in rows:
            index = (runs[run_id] - base) // width
            if 0 <= index < slots:
                lines = found.get(host_id) or found.setdefault(host_id, _empty_lines(slots))
                for name, value in zip(names, values, strict=True):
                    lines[name][index] = value
    return found


def _first_run_per_slot(
    session: Session, start: datetime, end: datetime, width: int
) -> dict[int, int]:
    """Run id → its slot's start (Unix seconds), for the first run of each slot."""
    bucket = _bucket(session, Run.started_at, width).label("bucket")
    rows = session.execute(
        select(func.min(Run.id), bucket)
        .where(Run.started_at >= start, Run.started_at < end)
        .group_by(bucket)
    )
    return {int(run_id): int(at) for run_id, at in rows}


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[n : n + size] for n in range(0, len(items), size)]


def _empty_lines(slots: int) -> dict[str, list[float | None]]:
    return {name: [None] * slots for name in (*SPARK_SERIES, "disk")}


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
