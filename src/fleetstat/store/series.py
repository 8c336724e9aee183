"""Time series of one host or of the whole fleet, bucketed in the database.

``host_series`` and ``fleet_sparklines`` are the one seam between the charts and the
stored figures: today they group raw ``samples`` (and ``sample_disks``) into buckets of
``step`` seconds inside the database, so no series sends more than ``max_points``
points; once hourly rollups exist, long ranges read those instead, behind the same
functions. Times in and out are UTC; a bucket is named by its start (Unix seconds).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from fleetstat.store.models import Run, Sample, SampleDisk

#: The most points one series of a chart carries.
MAX_POINTS = 1000

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
    points than ``max_points``.
    """
    width = max(step or 1, step_for(start, end, max_points))
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
