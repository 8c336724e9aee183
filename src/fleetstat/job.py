"""One pass of the main job: collect every client, store each answer, alert, mail.

``fleetstat run``, ``fleetstat watch`` and ``fleetstat demo`` all go through
``run_pass``; nothing else strings the parts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TextIO

from fleetstat import collector, mail, notify
from fleetstat import config as configs
from fleetstat.errors import FleetstatError, StoreError
from fleetstat.model import Client, Config, HostResult, Outcome
from fleetstat.store import Store

Clock = Callable[[], datetime]


class Progress(Protocol):
    """What a pass tells its display (``report.Progress``) as it goes."""

    def waiting_for_lock(self, holder: str) -> None:
        """Another pass holds the pass lock; ``holder`` says who (pid, machine, since)."""

    def started(self, client: Client) -> None:
        """``client`` is now in flight."""

    def finished(self, result: HostResult) -> None:
        """A host is done, with ``result``."""


#: Collects one pass: ``collector.collect``'s signature (tests feed stored results through it).
Collect = Callable[..., Awaitable[list[HostResult]]]

log = logging.getLogger("fleetstat.job")

#: Seconds between two tries for the pass lock while another pass holds it.
LOCK_POLL = 0.2


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class PassReport:
    """What one pass did.

    ``unstored`` maps a client address to why its result was not stored; ``run_error``
    says why the run itself could not be closed in the database (its results may still
    have been stored host by host).
    """

    run_id: int
    started_at: datetime
    finished_at: datetime
    results: tuple[HostResult, ...]
    unstored: dict[str, str]
    mail: mail.FlushReport | None
    mail_error: str | None = None
    run_error: str | None = None

    @property
    def ok(self) -> int:
        """How many hosts answered."""
        return sum(r.outcome is Outcome.OK for r in self.results)

    @property
    def failed(self) -> int:
        """How many hosts did not answer."""
        return len(self.results) - self.ok

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
    concurrency: int | None = None,
    collect: Collect = collector.collect,
) -> PassReport:
    """Collect from every client of ``config`` and store, alert and mail as each host finishes.

    Only one pass runs at a time on one database (a lock file that holds across
    processes; a second pass waits). Database writes run in one worker thread, in the
    order results arrive, so the SSH event loop never waits on the database; each host
    result, its alert states and what it gives to mail are one transaction, and a
    write that fails is reported for that host and the pass goes on. At the end the
    pass's mails are composed (at most an alert mail and a digest per recipient) and
    flushed.
    """
    config = configs.with_passwords(config)  # the clients' secrets: read now, not at load
    on_wait = progress.waiting_for_lock if progress is not None else None
    async with pass_lock(lock_path(config), on_wait=on_wait):
        return await _run_pass(config, store, clock, progress, concurrency, collect)


async def _run_pass(  # noqa: PLR0917 (run_pass's arguments, passed on)
    config: Config,
    store: Store,
    clock: Clock,
    progress: Progress | None,
    concurrency: int | None,
    collect: Collect,
) -> PassReport:
    started = clock()
    run_id = await asyncio.to_thread(store.start_run, started)
    cursors = await asyncio.to_thread(store.cursors)
    writer = _Writer(config, store, run_id, clock)

    def on_result(result: HostResult) -> None:
        writer.put(result)
        if progress is not None:
            progress.finished(result)

    results = await collect(
        config.clients,
        config.settings,
        cursors=cursors,
        on_result=on_result,
        on_start=progress.started if progress is not None else None,
        concurrency=concurrency,
    )
    await writer.drain()
    ok = sum(r.outcome is Outcome.OK for r in results)
    run_error = None
    try:
        await asyncio.to_thread(store.finish_run, run_id, clock(), len(results), ok)
    except StoreError as err:
        run_error = str(err)
    flushed, mail_error = await _mail(store, config, run_id, clock)
    return PassReport(
        run_id=run_id,
        started_at=started,
        finished_at=clock(),
        results=tuple(results),
        unstored=writer.unstored,
        mail=flushed,
        mail_error=mail_error,
        run_error=run_error,
    )


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


class _Writer:
    """Stores results one after another in a worker thread, as the collector hands them over."""

    def __init__(self, config: Config, store: Store, run_id: int, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._run_id = run_id
        self._clock = clock
        self._queue: asyncio.Queue[HostResult | None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._consume())
        self.unstored: dict[str, str] = {}

    def put(self, result: HostResult) -> None:
        """Queue ``result`` behind the ones already queued."""
        self._queue.put_nowait(result)

    async def drain(self) -> None:
        """Wait until every queued result is written (or has failed to be)."""
        self._queue.put_nowait(None)
        await self._task

    async def _consume(self) -> None:
        while (result := await self._queue.get()) is not None:
            try:
                await asyncio.to_thread(self._write, result)
            except StoreError as err:
                self.unstored[result.client.address] = str(err)
            except Exception as err:  # one host's write must not stop the others'
                log.exception("storing the result of %s failed", result.client.address)
                self.unstored[result.client.address] = f"{type(err).__name__}: {err}"

    def _write(self, result: HostResult) -> None:
        now = self._clock()
        alerts_and_mail = partial(self._after_host, result=result, now=now)
        self._store.record(self._run_id, result, now, then=alerts_and_mail)

    def _after_host(self, session: Any, host_id: int, *, result: HostResult, now: datetime) -> None:
        notify.after_host(session, self._run_id, host_id, result, self._config.settings, now)


def lock_path(config: Config) -> Path:
    """The lock file for passes on this config's database, in fleetstat's state folder."""
    digest = hashlib.sha256(config.settings.db.encode()).hexdigest()[:16]
    return config.settings.known_hosts.expanduser().parent / f"pass-{digest}.lock"


@contextlib.asynccontextmanager
async def pass_lock(
    path: Path, on_wait: Callable[[str], None] | None = None
) -> AsyncIterator[None]:
    """Hold an exclusive lock on ``path`` across processes, waiting without blocking the loop.

    While it holds the lock, the file says who (pid, machine, command, since); when the
    lock is taken, ``on_wait`` gets that text once before the wait.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(_holder(path))
                    on_wait = None
                await asyncio.sleep(LOCK_POLL)
        _claim(handle)
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _claim(handle: TextIO) -> None:
    """Write who holds the lock into its file (read by a pass that waits)."""
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:2])
    handle.truncate(0)
    handle.write(
        f"pid {os.getpid()} on {socket.gethostname()} ({command}) since {utcnow():%H:%M:%SZ}\n"
    )
    handle.flush()


def _holder(path: Path) -> str:
    """Who holds the pass lock at ``path``, as its holder wrote it."""
    try:
        return path.read_text().strip() or "another fleetstat process"
    except OSError:
        return "another fleetstat process"
