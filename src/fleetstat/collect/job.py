"""One pass of the main job: collect every client, store each answer, alert, mail.

``fleetstat run``, ``fleetstat watch`` and ``fleetstat demo`` all go through
``run_pass``; nothing else strings the parts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from fleetstat import config as configs
from fleetstat import ssh
from fleetstat.alerting import mail, notify
from fleetstat.collect import collector, writer
from fleetstat.collect.engine import Display, Engine
from fleetstat.collect.local import Collect, LocalEngine, Progress
from fleetstat.core.clock import Clock, utcnow
from fleetstat.core.errors import FleetstatError, StoreError, StoreUnavailable
from fleetstat.core.model import Config, HostResult, Outcome
from fleetstat.store import Store
from fleetstat.store.retention import Retention
from fleetstat.store.spool import Spool

log = logging.getLogger(__name__)

#: Seconds between two tries for the pass lock while another pass holds it.
LOCK_POLL = 0.2


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
    display: Display | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
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
    recipient) and flushed. The clients are collected by ``engine``, by default the one
    the ``engine`` setting names (``engine_for``: ``progress``, ``concurrency``,
    ``collect`` and ``connections`` are the local engine's).

    Cancelled (SIGINT, SIGTERM), the pass stores the ``interrupted`` results, closes
    its run row and raises ``CancelledError`` again.
    """
    config = configs.with_passwords(config)  # the clients' secrets: read now, not at load
    if engine is None:
        engine = engine_for(config, progress, concurrency, collect, connections)
    on_wait = display.waiting_for_lock if display is not None else None
    async with pass_lock(store, on_wait=on_wait):
        return await _run_pass(config, store, engine, clock=clock, display=display)


def engine_for(
    config: Config,
    progress: Progress | None = None,
    concurrency: int | None = None,
    collect: Collect = collector.collect,
    connections: ssh.Connections | None = None,
) -> Engine:
    """The engine the ``engine`` setting names: Celery's shards, else this process."""
    if config.settings.engine == "celery":
        from fleetstat.collect import shards  # Celery is imported only when used

        return shards.CeleryEngine()
    return LocalEngine(progress, concurrency, collect, connections)


async def _run_pass(
    config: Config, store: Store, engine: Engine, *, clock: Clock, display: Display | None
) -> PassReport:
    started = clock()
    write = writer.host_write(config, store, clock)
    spool = Spool(writer.spool_folder(config, store))
    clients = {c.address: c for c in config.clients}
    replayed = await asyncio.to_thread(writer.replay, store, spool, clients, write)
    await asyncio.to_thread(close_dead_runs, store, config)
    run_id = await asyncio.to_thread(store.start_run, started)
    results_writer = writer.Writer(run_id, write, spool)
    try:
        results = await engine.collect(config, store, run_id, results_writer, display)
    except asyncio.CancelledError:
        await results_writer.drain()
        seen = results_writer.received
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


#: The error of a host that a collector which died had not finished.
STOPPED = (
    "the collector stopped before this host was done (it was killed, or its machine went down)"
)


def close_dead_runs(store: Store, config: Config) -> list[tuple[int, int, int]]:
    """Close the runs that a collector left open when it died; (run id, hosts, of them ok).

    Call it holding the pass lock: then no live pass holds an open run. Each client of
    ``config`` that such a run had not stored gets an ``interrupted`` attempt (which
    fires no alert), then the run its counts, so every client ends every run in one
    outcome. A run whose end waits in the spool is closed by the spool, written back
    first.
    """
    closed = []
    for run_id, started in store.open_runs():
        stored = store.outcomes_of_run(run_id)
        for client in config.clients:
            if client.address not in stored:
                result = HostResult(client, Outcome.INTERRUPTED, started, started, error=STOPPED)
                store.record(run_id, result, started)
        total, ok = store.close_run_as_found(run_id)
        log.warning("closed run %s, which a stopped collector left open: %s hosts", run_id, total)
        closed.append((run_id, total, ok))
    return closed


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
