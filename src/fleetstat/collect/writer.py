"""Storing a pass's results as they arrive, and keeping what the database cannot take.

``Writer`` stores results one after another in a worker thread, in the order they
arrive, so the SSH event loop never waits on the database. A write that fails because
the database is away (``StoreUnavailable``: down, unreachable, frozen past
``db-timeout``) is tried again with back-off while the pass lasts, later results
queued behind it; what still cannot be written when the pass ends goes to the spool,
and ``replay`` writes it back at the start of the next pass. ``host_write`` is the
write of one result (the host's row, its alerts and what it gives to mail, in one
transaction); ``spool_folder`` is where the spool of a database lives.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from fleetstat.alerting import notify
from fleetstat.core.clock import Clock
from fleetstat.core.errors import StoreError, StoreUnavailable
from fleetstat.core.model import Client, Config, HostResult, Outcome
from fleetstat.store import Recorded, Store
from fleetstat.store.spool import Spool

log = logging.getLogger(__name__)

#: Write one result of a run: ``(run_id, result) -> what was stored``.
Write = Callable[[int, HostResult], Recorded]

#: Seconds before the first retry while the database is away; doubled up to the max.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0


class Writer:
    """Writes the results of run ``run_id`` with ``write``; keeps them in ``spool`` if it must.

    After ``drain``: ``stored`` maps an address to its result as stored (a refused one
    is ``store_refused``), ``unstored`` to why it is not in the database (spooled, or
    not written at all), ``spooled`` counts the results kept, and ``away`` is the last
    error of a database that stayed away, None when it answered in the end.
    """

    def __init__(self, run_id: int, write: Write, spool: Spool) -> None:
        self._run_id = run_id
        self._write = write
        self._spool = spool
        self._queue: asyncio.Queue[HostResult | None] = asyncio.Queue()
        self._pending: list[HostResult] = []
        self._backoff = BACKOFF_FIRST
        self._retry_at = 0.0
        self._task = asyncio.ensure_future(self._consume())
        self.received: list[HostResult] = []
        self.stored: dict[str, HostResult] = {}
        self.unstored: dict[str, str] = {}
        self.spooled = 0
        self.away: str | None = None

    def put(self, result: HostResult) -> None:
        """Queue ``result`` behind the ones already queued."""
        self.received.append(result)
        self._queue.put_nowait(result)

    async def drain(self) -> None:
        """Write what is queued (one last try if the database is away); spool the rest."""
        self._queue.put_nowait(None)
        await self._task

    async def _consume(self) -> None:
        while (result := await self._next()) is not None:
            if isinstance(result, HostResult):
                self._pending.append(result)
            await self._write_pending(final=False)
        if self._pending:
            await self._write_pending(final=True)
        for result in self._pending:
            self._keep(result)

    async def _next(self) -> HostResult | bool | None:
        """The next queued result; True when it is time to try the waiting ones again."""
        if not self._pending:
            return await self._queue.get()
        try:
            wait = max(0.0, self._retry_at - time.monotonic())
            return await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return True

    async def _write_pending(self, *, final: bool) -> None:
        """Write the waiting results in order; stop at the first while the database is away."""
        if self.away and not final and time.monotonic() < self._retry_at:
            return
        while self._pending:
            result = self._pending[0]
            try:
                await asyncio.to_thread(self._store, result)
            except StoreUnavailable as err:
                self._wait(str(err))
                return
            self._pending.pop(0)

    def _store(self, result: HostResult) -> None:
        """Write one result; a failure other than the database being away is reported."""
        address = result.client.address
        try:
            done = self._write(self._run_id, result)
        except StoreUnavailable:
            raise
        except StoreError as err:
            self.unstored[address] = str(err)
            return
        except Exception as err:  # one host's write must not stop the others'
            log.exception("storing the result of %s failed", address)
            self.unstored[address] = f"{type(err).__name__}: {err}"
            return
        self.stored[address] = done.applied_to(result)
        if self.away:
            log.info("the database answers again; writing the waiting results")
        self.away, self._backoff = None, BACKOFF_FIRST

    def _wait(self, error: str) -> None:
        if not self.away:
            log.warning("%s; trying again while the pass lasts", error)
        self.away = error
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _keep(self, result: HostResult) -> None:
        address = result.client.address
        try:
            path = self._spool.keep(self._run_id, result)
        except StoreError as err:
            self.unstored[address] = f"{self.away}; and {err}"
            return
        self.spooled += 1
        self.unstored[address] = f"{self.away}; kept in {path} for the next pass"


def replay(store: Store, spool: Spool, clients: Mapping[str, Client], write: Write) -> int:
    """Write back what earlier passes spooled, each exactly once; how many results.

    A result is written into the run it was collected in, with the client of the
    current config when it is still there (for its mail and alert rules). A file is
    deleted only once its result is in the database; a result the database refuses for
    good (its run is gone) is set aside as ``*.json.failed``. StoreUnavailable, when the
    database is away, leaves the spool as it is.
    """
    for end in spool.run_ends():
        store.finish_run(end.run_id, end.finished_at, end.total, end.ok)
        end.path.unlink()
    count = 0
    for spooled in spool.results():
        result = spooled.result
        result = replace(result, client=clients.get(result.client.address, result.client))
        try:
            write(spooled.run_id, result)
        except StoreUnavailable:
            raise
        except StoreError as err:
            log.error("%s: cannot be written back, set aside: %s", spooled.path, err)
            spooled.path.rename(spooled.path.with_name(spooled.path.name + ".failed"))
            continue
        spooled.path.unlink()
        count += 1
    return count


def host_write(config: Config, store: Store, clock: Clock) -> Write:
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


def spool_folder(config: Config, store: Store) -> Path:
    """The spool of this config's database, in fleetstat's state folder."""
    digest = hashlib.sha256(store.identity.encode()).hexdigest()[:16]
    return config.settings.known_hosts.expanduser().parent / f"spool-{digest}"
