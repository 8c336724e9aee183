"""One pass of the main job: collect every client, store each answer, alert, mail.

``fleetstat run``, ``fleetstat watch`` and ``fleetstat demo`` all go through
``run_pass``; nothing else strings the parts together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetstat import collector, mail, notify
from fleetstat.errors import FleetstatError, StoreError
from fleetstat.model import Config, HostResult, Outcome
from fleetstat.store import Store

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class PassReport:
    """What one pass did. ``unstored`` maps a client address to why its result was not stored."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    results: tuple[HostResult, ...]
    unstored: dict[str, str]
    mail: mail.FlushReport | None
    mail_error: str | None = None

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
        """0 every host ok and stored; 1 some host not ok; 3 some result could not be stored."""
        if self.unstored:
            return 3
        return 0 if self.failed == 0 else 1


async def run_pass(
    config: Config,
    store: Store,
    *,
    clock: Clock = utcnow,
    progress: Progress | None = None,
    concurrency: int | None = None,
) -> PassReport:
    """Collect from every client of ``config`` and store, alert and mail as each host finishes.

    Database writes run in one worker thread, in the order results arrive, so the SSH
    event loop never waits on the database; a write that fails is reported for that
    host and the pass goes on. Mail is flushed once at the end.
    """
    started = clock()
    run_id = await asyncio.to_thread(store.start_run, started)
    cursors = await asyncio.to_thread(store.cursors)
    writer = _Writer(config, store, run_id, clock)
    results = await collector.collect(
        config.clients,
        config.settings,
        cursors=cursors,
        on_result=writer.put,
        progress=progress,
        concurrency=concurrency,
    )
    await writer.drain()
    ok = sum(r.outcome is Outcome.OK for r in results)
    await asyncio.to_thread(store.finish_run, run_id, clock(), len(results), ok)
    flushed, mail_error = await _flush(store, config, clock)
    return PassReport(
        run_id=run_id,
        started_at=started,
        finished_at=clock(),
        results=tuple(results),
        unstored=writer.unstored,
        mail=flushed,
        mail_error=mail_error,
    )


async def _flush(
    store: Store, config: Config, clock: Clock
) -> tuple[mail.FlushReport | None, str | None]:
    """Send what the outbox holds; a mail server that is down leaves it there for the next pass."""
    try:
        return await asyncio.to_thread(mail.flush, store, config.settings.smtp, clock()), None
    except FleetstatError as err:
        return None, str(err)


class _Writer:
    """Stores results one after another in a worker thread, as the collector hands them over."""

    def __init__(self, config: Config, store: Store, run_id: int, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._run_id = run_id
        self._clock = clock
        self._tail: asyncio.Future[None] | None = None
        self.unstored: dict[str, str] = {}

    def put(self, result: HostResult) -> None:
        """Queue ``result`` behind the ones already queued."""
        previous = self._tail
        self._tail = asyncio.ensure_future(self._write_after(previous, result))

    async def drain(self) -> None:
        """Wait until every queued result is written (or has failed to be)."""
        if self._tail is not None:
            await self._tail

    async def _write_after(self, previous: asyncio.Future[None] | None, result: HostResult) -> None:
        if previous is not None:
            await previous
        try:
            await asyncio.to_thread(self._write, result)
        except StoreError as err:
            self.unstored[result.client.address] = str(err)

    def _write(self, result: HostResult) -> None:
        now = self._clock()
        host_id = self._store.record(self._run_id, result, now)
        notify.after_host(self._store, self._run_id, host_id, result, self._config.settings, now)
