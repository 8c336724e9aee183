"""One pass of the main job: collect every client, store each answer, alert, mail.

``fleetstat run``, ``fleetstat watch`` and ``fleetstat demo`` all go through
``run_pass``; nothing else strings the parts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from fleetstat import collector, mail, notify, ssh, writer
from fleetstat import config as configs
from fleetstat.errors import FleetstatError, StoreError, StoreUnavailable
from fleetstat.model import Client, Config, HostResult, Outcome
from fleetstat.store import Recorded, Store
from fleetstat.store.retention import Retention
from fleetstat.store.spool import Spool

Clock = Callable[[], datetime]
#: Collects one pass: ``collector.collect``'s signature (tests feed stored results through it).
Collect = Callable[..., Awaitable[list[HostResult]]]


Progress = Callable[[int, int], None]


class Display(Protocol):
    """What a pass tells a person's display (``progress.Progress``) as it goes."""

    def waiting_for_lock(self, holder: str) -> None:
        """Another pass holds the pass lock; ``holder`` says who (pid, machine, since)."""

    def started(self, client: Client) -> None:
        """``client`` is now in flight."""

    def finished(self, result: HostResult) -> None:
        """A host is done, with ``result``."""


log = logging.getLogger("fleetstat.job")

#: Seconds between two tries for the pass lock while another pass holds it.
LOCK_POLL = 0.2


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class PassReport:
    """What one pass did.

    ``unstored`` maps a client address to why its result was not stored (``spooled`` of
    them are kept in the spool for the next pass); ``run_error`` says why the run itself
    could not be closed in the database (its results may still have been stored host by
    host). ``replayed`` counts the results of earlier passes written back first.
    """

    run_id: int
    started_at: datetime
    finished_at: datetime
    results: tuple[HostResult, ...]
    unstored: dict[str, str]
    mail: mail.FlushReport | None
    mail_error: str | None = None
    run_error: str | None = None
    spooled: int = 0
    replayed: int = 0
    tidy_error: str | None = None

    @property
    def ok(self) -> int:
        """How many hosts answered."""
        return sum(r.outcome is Outcome.OK for r in self.results)

    @property
    def failed(self) -> int:
        """How many hosts did not answer."""
        return len(self.results) - self.ok

    @property
    def learned(self) -> tuple[HostResult, ...]:
        """The hosts first met in this pass, whose host key was learned (``learned_key``)."""
        return tuple(r for r in self.results if r.learned_key)

    @property
    def duration(self) -> float:
        """Seconds the pass took, mail included."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def exit_code(self) -> int:
        """0 every host ok and stored; 1 some host not ok; 3 something could not be stored."""
        if self.unstored or self.run_error:
            return 3
        return 0 if self.failed == 0 else 1


async def run_pass(
    config: Config,
    store: Store,
    *,
    clock: Clock = utcnow,
    progress: Progress | None = None,
    display: Display | None = None,
    concurrency: int | None = None,
    collect: Collect = collector.collect,
    connections: ssh.Connections | None = None,
) -> PassReport:
    """Collect from every client of ``config`` and store, alert and mail as each host finishes.

    Only one pass runs at a time on one database (``pass_lock``; a second pass waits).
    First the results earlier passes spooled are written back. Database writes run in
    one worker thread, in the order results arrive, so the SSH event loop never waits
    on the database; a write that fails because the database is away is tried again
    while the pass lasts, and what is left is spooled for the next pass (``writer``).
    Each host result, its alert states and what it gives to mail are one transaction.
    At the end the pass's mails are composed (at most an alert mail and a digest per
    recipient) and flushed. ``connections`` are kept SSH connections
    (``watch``), else each host's is closed after its run.

    Cancelled (SIGINT, SIGTERM), the pass stores the ``interrupted`` results, closes
    its run row and raises ``CancelledError`` again.
    """
    config = configs.with_passwords(config)  # the clients' secrets: read now, not at load
    on_wait = display.waiting_for_lock if display is not None else None
    async with pass_lock(store, on_wait=on_wait):
        return await _run_pass(
            config,
            store,
            clock=clock,
            progress=progress,
            display=display,
            concurrency=concurrency,
            connections=connections,
            collect=collect,
        )


async def _run_pass(
    config: Config,
    store: Store,
    *,
    clock: Clock,
    progress: Progress | None,
    display: Display | None,
    concurrency: int | None,
    collect: Collect,
    connections: ssh.Connections | None,
) -> PassReport:
    started = clock()
    write = _write_with(config, store, clock)
    spool = Spool(spool_folder(config, store))
    clients = {c.address: c for c in config.clients}
    replayed = await asyncio.to_thread(writer.replay, store, spool, clients, write)
    run_id = await asyncio.to_thread(store.start_run, started)
    results_writer = writer.Writer(run_id, write, spool)
    seen: list[HostResult] = []
    try:
        if config.settings.engine == "celery":
            from fleetstat import shards

            results, unstored = await shards.dispatch(config, store, run_id, display=display)
            results_writer.unstored.update(unstored)
        else:
            results = await _collect(
                config, store, config.clients, results_writer, seen, display=display,
                progress=progress, concurrency=concurrency, collect=collect,
                connections=connections,
            )  # fmt: skip
    except asyncio.CancelledError:
        await results_writer.drain()
        ok = sum(r.outcome is Outcome.OK for r in seen)
        await _finish(store, spool, results_writer.away, run_id, clock(), len(seen), ok)
        raise
    ok = sum(r.outcome is Outcome.OK for r in results)
    run_error = await _finish(store, spool, results_writer.away, run_id, clock(), len(results), ok)
    flushed: mail.FlushReport | None = None
    mail_error: str | None = f"{results_writer.away}: mail is sent by the next pass"
    tidy_error = None
    if not results_writer.away:
        flushed, mail_error = await _mail(store, config, run_id, clock)
        tidy_error = await _tidy(store, config, clock)
    _log_learned(results)
    return PassReport(
        run_id=run_id,
        started_at=started,
        finished_at=clock(),
        results=tuple(results),
        unstored=results_writer.unstored,
        mail=flushed,
        mail_error=mail_error,
        run_error=run_error,
        spooled=results_writer.spooled,
        replayed=replayed,
        tidy_error=tidy_error,
    )


async def _collect(
    config: Config,
    store: Store,
    clients: Sequence[Client],
    sink: writer.Writer,
    seen: list[HostResult],
    *,
    display: Display | None,
    progress: Progress | None,
    concurrency: int | None,
    collect: Collect,
    connections: ssh.Connections | None,
) -> list[HostResult]:
    """Collect ``clients``, each result to ``sink`` (and ``seen``) as it arrives.

    The one path of a host, whether its pass runs here or its shard on a Celery worker.
    Returns the results in the order of ``clients``, as stored.
    """
    cursors = await asyncio.to_thread(store.cursors)
    counters = await asyncio.to_thread(store.cpu_counters)

    def put(result: HostResult) -> None:
        seen.append(result)
        sink.put(result)
        if display is not None:
            display.finished(result)

    results = await collect(
        clients,
        config.settings,
        cursors=cursors,
        cpu_counters=counters,
        on_result=put,
        on_start=display.started if display is not None else None,
        progress=progress,
        concurrency=concurrency,
        connections=connections,
    )
    await sink.drain()
    return [sink.stored.get(r.client.address, r) for r in results]


async def collect_shard(
    config: Config, store: Store, run_id: int, clients: Sequence[Client]
) -> tuple[list[HostResult], dict[str, str]]:
    """A Celery worker's part of run ``run_id``: collect and store ``clients``.

    What an earlier shard of this worker could not write (the database was away) is
    written first. Returns the results and, by address, why one was not stored.
    """
    config = configs.with_passwords(config)
    write = _write_with(config, store, utcnow)
    spool = Spool(spool_folder(config, store))
    await asyncio.to_thread(writer.replay, store, spool, {c.address: c for c in clients}, write)
    sink = writer.Writer(run_id, write, spool)
    results = await _collect(
        config, store, clients, sink, [], display=None, progress=None, concurrency=None,
        collect=collector.collect, connections=None,
    )  # fmt: skip
    return results, sink.unstored


def _log_learned(results: list[HostResult]) -> None:
    """Log the first contacts of the pass: one line, with each host and its key."""
    learned = [f"{r.client.address} {r.learned_key}" for r in results if r.learned_key]
    if learned:
        log.warning("learned the host key of %d hosts: %s", len(learned), "; ".join(learned))


async def _finish(  # noqa: PLR0917 (one call site, in this order)
    store: Store, spool: Spool, away: str | None, run_id: int, now: datetime, total: int, ok: int
) -> str | None:
    """Close the run; when the database is away, spool its end. The error, if any."""
    if not away:
        try:
            await asyncio.to_thread(store.finish_run, run_id, now, total, ok)
            return None
        except StoreUnavailable as err:
            away = str(err)
        except StoreError as err:
            return str(err)
    try:
        path = spool.keep_run_end(run_id, now, total, ok)
    except StoreError as err:
        return f"{away}; and {err}"
    return f"{away}; the end of the run is kept in {path} for the next pass"


def _write_with(config: Config, store: Store, clock: Clock) -> writer.Write:
    """The write of one host result: store it, judge its alerts and keep what it gives to
    mail, all in the host's one transaction."""

    def write(run_id: int, result: HostResult) -> Recorded:
        now = clock()

        def alerts_and_mail(session: Session, done: Recorded) -> None:
            stored = done.applied_to(result)
            notify.after_host(session, run_id, done.host_id, stored, config.settings, now)

        if result.outcome is Outcome.INTERRUPTED:  # says nothing about the host
            return store.record(run_id, result, now)
        return store.record(run_id, result, now, then=alerts_and_mail)

    return write


#: Pruning batches per table at the end of a pass: a little each time, never a long lock.
TIDY_BATCHES = 4


async def _tidy(store: Store, config: Config, clock: Clock) -> str | None:
    """Roll up completed hours and prune a few batches of old rows; why not, on failure."""
    try:
        await asyncio.to_thread(store.roll_up, clock())
        keep = Retention.of(config.settings)
        await asyncio.to_thread(store.prune, keep, clock(), max_batches=TIDY_BATCHES)
    except StoreError as err:
        log.warning("keeping the database tidy failed: %s", err)
        return str(err)
    return None


async def _mail(
    store: Store, config: Config, run_id: int, clock: Clock
) -> tuple[mail.FlushReport | None, str | None]:
    """Queue the pass's mails, then send what the outbox holds.

    A mail server that is down leaves the mails in the outbox for the next pass; mail
    that could not be composed stays in ``mail_items`` for the next pass to compose.
    """
    try:
        await asyncio.to_thread(_compose, store, config, run_id, clock())
    except FleetstatError as err:
        log.error("composing the mail of run %s failed: %s", run_id, err)
        composed_error: str | None = str(err)
    else:
        composed_error = None
    try:
        flushed = await asyncio.to_thread(
            mail.flush,
            store,
            config.settings.smtp,
            clock(),
            clock=clock,
            expire_after=config.settings.mail_expire,
        )
    except FleetstatError as err:
        return None, str(err)
    return flushed, composed_error


def _compose(store: Store, config: Config, run_id: int, now: datetime) -> None:
    with store.session() as session:
        notify.compose_pass(session, config, run_id, now)


def spool_folder(config: Config, store: Store) -> Path:
    """The spool of this config's database, in fleetstat's state folder."""
    digest = hashlib.sha256(store.identity.encode()).hexdigest()[:16]
    return config.settings.known_hosts.expanduser().parent / f"spool-{digest}"


@contextlib.asynccontextmanager
async def pass_lock(
    store: Store, on_wait: Callable[[str], None] | None = None
) -> AsyncIterator[None]:
    """Hold the pass lock of ``store``'s database, waiting without blocking the loop.

    PostgreSQL and MariaDB: a lock of the database itself (across machines and URL
    spellings); SQLite: a file lock beside the database file. While another pass holds
    it, this one says once who that is (host, pid, since) — to ``on_wait`` when given
    (the display), and to the log — and tries again every ``LOCK_POLL`` seconds.
    """
    lock = store.pass_lock()
    told = False
    while (holder := await asyncio.to_thread(lock.try_acquire)) is not None:
        if not told:
            if on_wait is not None:
                on_wait(str(holder))
            log.warning("waiting for the pass lock of %s: held by %s", store.url, holder)
            told = True
        await asyncio.sleep(LOCK_POLL)
    try:
        yield
    finally:
        await asyncio.to_thread(lock.release)
