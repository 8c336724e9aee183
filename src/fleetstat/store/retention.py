"""Keeping the database the right size: hourly rollups, and pruning in bounded batches.

``roll_up`` turns the samples of every completed UTC hour not yet rolled up into one
``sample_rollups`` row per host and figure (count, min, mean, max), a bounded number of
hours at a time, so it never rescans history. ``prune`` deletes what is older than its
retention, table by table, in batches of ``batch`` rows, each batch its own short
transaction, so a pass that writes at the same time waits at most one batch. Each batch
is found by walking an index from the oldest row (the time column's, or for attempts
their run's id), so a pass that finds little to prune pays for that little, not for the
size of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import InstrumentedAttribute, Session

from fleetstat.core.metrics import COLUMNS
from fleetstat.core.model import Settings
from fleetstat.store.models import (
    CollectionAttempt,
    MailOutbox,
    Run,
    Sample,
    SampleDisk,
    SampleRollup,
    SecurityEvent,
)
from fleetstat.store.outbox import Status
from fleetstat.store.writes import insert_ignoring_duplicates

#: The sample columns rolled up per hour, besides each disk's percent used: every
#: figure of the metrics table.
ROLLED_UP = tuple(column.name for column in COLUMNS)
#: Outbox rows that are done with, and so may be pruned (pending ones never are).
FINISHED_MAIL = (Status.SENT, Status.FAILED, Status.EXPIRED)
ROLLUPS: Table = SampleRollup.__table__  # type: ignore[assignment]
#: What makes a rollup row unique.
ROLLUP_KEY = ("host_id", "metric", "hour")
#: Rows one pruning batch deletes.
BATCH = 5000
#: Hours one call of ``roll_up`` handles at the most (a backlog is caught up pass by pass).
HOURS_PER_CALL = 48

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Retention:
    """How long each kind of row is kept, in seconds; 0 keeps it for ever."""

    samples: float
    rollups: float
    attempts: float
    events: float
    mail: float

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        """The retention the ``retain-*`` settings ask for."""
        return cls(
            samples=settings.retain_samples,
            rollups=settings.retain_rollups,
            attempts=settings.retain_attempts,
            events=settings.retain_events,
            mail=settings.retain_mail,
        )


@dataclass(frozen=True)
class Target:
    """One kind of row that ages out: its table's id and time columns and its retention."""

    table: str
    id: InstrumentedAttribute[int]
    time: InstrumentedAttribute[datetime]
    keep: float
    only: Any = None  # an extra condition rows must meet to be pruned
    rolled_up_first: bool = False  # only rows whose hour is already in the rollups go
    run: InstrumentedAttribute[int] | None = None  # found by their run's id (see _older)


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour that holds ``moment``."""
    return moment.replace(minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- rollups


def roll_up_all(engine: Engine, now: datetime) -> int:
    """Roll up every completed hour not rolled up yet, however many; rows written."""
    written = total = roll_up(engine, now)
    while written:
        written = roll_up(engine, now)
        total += written
    return total


def roll_up(engine: Engine, now: datetime, *, hours: int = HOURS_PER_CALL) -> int:
    """Roll up at most ``hours`` completed hours after the last one rolled up; rows written.

    An hour counts as completed once ``now`` is past it. Hours without samples are
    skipped in one step, so a collector that was off for a week does not crawl.
    """
    written = 0
    with Session(engine) as session, session.begin():
        start = _next_hour(session)
        end = hour_of(now)
        for _ in range(hours):
            start = _first_sampled_hour(session, start, end)
            if start is None:
                break
            written += _roll_up_hour(session, start)
            start += HOUR
    return written


def _next_hour(session: Session) -> datetime | None:
    """The hour after the newest rollup; None when there is none yet."""
    newest = session.scalar(select(func.max(SampleRollup.hour)))
    return None if newest is None else newest + HOUR


def _first_sampled_hour(session: Session, start: datetime | None, end: datetime) -> datetime | None:
    """The first hour from ``start`` (or ever) and before ``end`` that holds a sample."""
    query = select(func.min(Sample.collected_at)).where(Sample.collected_at < end)
    if start is not None:
        query = query.where(Sample.collected_at >= start)
    first = session.scalar(query)
    return None if first is None else hour_of(first)


def _roll_up_hour(session: Session, hour: datetime) -> int:
    """Write the rollups of the samples of ``hour``, aggregated by the database; how many.

    One scan of the hour's samples aggregates every column at once, and their disks are
    found by the range of the hour's sample ids (an index range on any database, whatever
    its statistics say), so the cost follows the hour, not the history.
    """
    inside = (Sample.collected_at >= hour) & (Sample.collected_at < hour + HOUR)
    figures = [figure for name in ROLLED_UP for figure in _figures(getattr(Sample, name))]
    ids = (func.min(Sample.id), func.max(Sample.id))
    columns = select(Sample.host_id, *ids, *figures).where(inside).group_by(Sample.host_id)
    rows: list[dict[str, Any]] = []
    spans: list[tuple[int, int]] = []
    for host, first, last, *values in session.execute(columns):
        spans.append((first, last))
        for n, name in enumerate(ROLLED_UP):
            count, *rest = values[4 * n : 4 * n + 4]
            if count:  # a column null all the hour long has no rollup
                rows.append(_rollup_row(host, name, hour, count, *rest))
    if spans:
        low, high = min(first for first, _ in spans), max(last for _, last in spans)
        disks = (
            select(Sample.host_id, SampleDisk.mount, *_figures(SampleDisk.percent))
            .join(Sample, SampleDisk.sample_id == Sample.id)
            .where(SampleDisk.sample_id.between(low, high), inside)
            .group_by(Sample.host_id, SampleDisk.mount)
        )
        for host, mount, *values in session.execute(disks):
            rows.append(_rollup_row(host, f"disk:{mount}", hour, *values))
    if rows:
        session.execute(insert_ignoring_duplicates(session, ROLLUPS, ROLLUP_KEY), rows)
    return len(rows)


def _figures(column: Any) -> tuple[Any, ...]:
    """count, min, avg, max of ``column`` (its nulls left out)."""
    return (func.count(column), func.min(column), func.avg(column), func.max(column))


def _rollup_row(host_id: int, metric: str, hour: datetime, *figures: Any) -> dict[str, Any]:
    """A ``sample_rollups`` row from the (count, min, avg, max) the database computed."""
    count, low, mean, high = figures
    return {"host_id": host_id, "metric": metric, "hour": hour, "count": count,
            "min": float(low), "avg": float(mean), "max": float(high)}  # fmt: skip


# ---------------------------------------------------------------- pruning


def targets(retention: Retention) -> tuple[Target, ...]:
    """What ages out, oldest-first by its own time column (samples take their disks along)."""
    return (
        Target("samples", Sample.id, Sample.collected_at, retention.samples, rolled_up_first=True),
        Target("sample_rollups", SampleRollup.id, SampleRollup.hour, retention.rollups),
        Target(
            "collection_attempts",
            CollectionAttempt.id,
            CollectionAttempt.started_at,
            retention.attempts,
            run=CollectionAttempt.run_id,
        ),
        Target("security_events", SecurityEvent.id, SecurityEvent.time, retention.events),
        Target(
            "mail_outbox",
            MailOutbox.id,
            MailOutbox.created_at,
            retention.mail,
            MailOutbox.status.in_(FINISHED_MAIL),
        ),
    )


def prune(
    engine: Engine,
    retention: Retention,
    now: datetime,
    *,
    dry_run: bool = False,
    max_batches: int | None = None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Delete what is older than its retention; rows per table (to delete, with ``dry_run``).

    ``max_batches`` bounds the batches per table of this call (a pass prunes a little
    each time; ``fleetstat db prune`` prunes everything). Samples of an hour not rolled
    up yet are kept whatever their age, so pruning never loses a figure's history.
    """
    counts: dict[str, int] = {}
    for target in targets(retention):
        if target.keep <= 0:
            continue
        with Session(engine) as session:
            old = _older(session, target, now)
        if dry_run:
            with Session(engine) as session:
                counts[target.table] = session.scalar(select(func.count()).where(old)) or 0
        else:
            counts[target.table] = _delete_in_batches(engine, target, old, max_batches, batch)
    return counts


def _older(session: Session, target: Target, now: datetime) -> Any:
    """The rows of ``target`` to prune: past their retention and, for samples, rolled up.

    Attempts have no index of their own time: they are bounded by the newest run started
    before the cutoff too (a run starts before its attempts), which the index of their
    (run, host) key walks from the oldest.
    """
    cutoff = now - timedelta(seconds=target.keep)
    if target.rolled_up_first:
        rolled_until = _next_hour(session)
        cutoff = min(cutoff, rolled_until or datetime.min.replace(tzinfo=cutoff.tzinfo))
    condition = target.time < cutoff
    if target.run is not None:
        newest = select(Run.id).where(Run.started_at < cutoff).order_by(Run.id.desc()).limit(1)
        condition = condition & (target.run <= (session.scalar(newest) or 0))
    return condition if target.only is None else condition & target.only


def _delete_in_batches(
    engine: Engine, target: Target, old: Any, max_batches: int | None, batch: int
) -> int:
    walk: Any = target.time if target.run is None else target.run
    deleted = 0
    done = 0
    while max_batches is None or done < max_batches:
        with Session(engine) as session, session.begin():
            ids = list(session.scalars(select(target.id).where(old).order_by(walk).limit(batch)))
            if not ids:
                break
            if target.table == "samples":
                session.execute(delete(SampleDisk).where(SampleDisk.sample_id.in_(ids)))
            session.execute(delete(target.id.class_).where(target.id.in_(ids)))
        deleted += len(ids)
        done += 1
    return deleted


__all__ = ["Retention", "hour_of", "prune", "roll_up", "roll_up_all", "targets"]
