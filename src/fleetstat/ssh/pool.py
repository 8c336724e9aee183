"""The collector's SSH connections: one per host, kept open between passes when asked.

``Connections`` is what a collector holds for its lifetime (one pass for ``run``, all
passes for ``watch``). With ``keep`` on, a host's connection stays open after its
run, with keepalives, so the next pass costs one channel: no TCP connect, no key
exchange, no password check. A kept connection found closed, or one that fails before
its command could start, is replaced by a new one, which counts in ``opened`` and has
its host key checked like every new connection. At most ``max_kept`` stay open; past
that the least recently used one is closed.

A closed asyncssh connection is a reference cycle (it holds bound methods of its own),
so only Python's cycle collector frees it, and that runs rarely: over 1,000 hosts at
200 at a time, 600 connections were in memory at once, 400 of them closed. So every
``COLLECT_EVERY`` closed connections, and once more when they are all closed,
``Connections`` runs the collector. What the process holds when its ``Connections`` are
made (modules, config, the database's engine) is frozen out of those runs
(``gc.freeze``), so each walks only what came since: in a pass over 1,000 hosts about
20 ms of CPU a run instead of 75 ms.
"""

from __future__ import annotations

import asyncio
import gc
from collections import OrderedDict
from dataclasses import dataclass

import asyncssh

from fleetstat.core import model
from fleetstat.core.errors import HostError
from fleetstat.ssh.bastions import Bastions
from fleetstat.ssh.connect import connect_by
from fleetstat.ssh.framing import Output
from fleetstat.ssh.probe import Shell
from fleetstat.ssh.session import Budget
from fleetstat.ssh.steps import Job, run_on

#: Outcomes after which the connection itself is still good to keep.
_CONNECTION_FINE = (
    model.Outcome.AGENT_FAILED,
    model.Outcome.BAD_PAYLOAD,
    model.Outcome.NO_PYTHON,
)
#: Closed connections between two runs of Python's cycle collector.
COLLECT_EVERY = 50


@dataclass
class _Kept:
    conn: asyncssh.SSHClientConnection
    shell: Shell | None


class Connections:
    """SSH connections by client address; ``async with`` closes them all at the end."""

    def __init__(
        self, *, keep: bool, max_kept: int, budget: int | None = None, per_bastion: int = 10
    ) -> None:
        self.keep = keep
        self.max_kept = max_kept
        #: The bastions the hosts behind them share (one login each).
        self.bastions = Bastions(per_bastion)
        #: What the answers in flight share beyond their own shares (``answers-in-flight``).
        self.budget = Budget(budget) if budget is not None else None
        self.opened = 0
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._closed = 0
        gc.freeze()

    @classmethod
    def from_settings(cls, settings: model.Settings) -> Connections:
        """Kept or not as the ``keep-connections`` and ``max-kept-connections`` settings say,
        the answers in flight sharing ``answers-in-flight``."""
        return cls(
            keep=settings.keep_connections,
            max_kept=settings.max_kept_connections,
            budget=settings.answers_in_flight,
            per_bastion=settings.jump_concurrency,
        )

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def kept(self) -> int:
        """How many connections are open and kept."""
        return len(self._kept)

    async def run_agent(
        self, client: model.Client, settings: model.Settings, payload: bytes, request: bytes
    ) -> Output:
        """Run the agent on ``client``; return its output: the encrypted answer, and what
        else the login printed.

        Connecting and the whole job are bounded by ``client.timeout or
        settings.timeout`` seconds (then ``timeout``); cleanup gets its own grace. A
        temp dir left behind is added to the ``HostError`` message, or logged as a
        warning after an answer. Raises ``HostError`` with the outcome otherwise.
        """
        limit = client.timeout or settings.timeout
        deadline = asyncio.get_running_loop().time() + limit
        job = Job(client, settings, payload, request, deadline, limit, self.budget)
        kept = self._take(client.address)
        if kept is not None:
            try:
                return await self._run(job, kept)
            except HostError as err:
                # A connection found dead is replaced while time is left, else its error holds.
                timed_out = err.outcome == model.Outcome.TIMEOUT
                if timed_out or not kept.conn.is_closed():
                    raise
        kept = _Kept(await self._connect(client, settings, deadline), None)
        self.opened += 1
        return await self._run(job, kept)

    async def open(
        self, client: model.Client, settings: model.Settings, deadline: float
    ) -> asyncssh.SSHClientConnection:
        """A connection of its own to ``client`` (through its bastion), never kept: the
        caller closes it."""
        return await self._connect(client, settings, deadline)

    async def _connect(
        self, client: model.Client, settings: model.Settings, deadline: float
    ) -> asyncssh.SSHClientConnection:
        """A new connection to ``client``: direct, or over its bastion's one connection
        (at most ``jump-concurrency`` logins through it at a time)."""
        if client.jump is None:
            return await connect_by(client, settings, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                bastion = await self.bastions.through(client, settings, deadline)
                await bastion.gate.acquire()
        except TimeoutError as err:
            why = f"waited for bastion {client.jump} until the deadline"
            raise HostError(why, outcome=model.Outcome.TIMEOUT, transient=True,
                            host=client.address) from err  # fmt: skip
        try:
            return await connect_by(client, settings, deadline, tunnel=bastion.conn)
        finally:
            bastion.gate.release()

    async def _run(self, job: Job, kept: _Kept) -> Output:
        try:
            output, kept.shell = await run_on(kept.conn, job, kept.shell)
        except HostError as err:
            self._give_back(job.client.address, kept, err.outcome in _CONNECTION_FINE)
            raise
        except BaseException:
            self._close(kept)
            raise
        self._give_back(job.client.address, kept, True)
        return output

    def _close(self, kept: _Kept) -> None:
        kept.conn.close()
        self._closed += 1
        if self._closed % COLLECT_EVERY == 0:
            gc.collect()

    def _take(self, address: str) -> _Kept | None:
        kept = self._kept.pop(address, None)
        if kept is not None and kept.conn.is_closed():
            return None
        return kept

    def _give_back(self, address: str, kept: _Kept, fine: bool) -> None:
        if not (self.keep and fine and self.max_kept > 0) or kept.conn.is_closed():
            self._close(kept)
            return
        self._kept[address] = kept
        while len(self._kept) > self.max_kept:
            _address, oldest = self._kept.popitem(last=False)
            self._close(oldest)

    async def aclose(self) -> None:
        """Close every kept connection and wait until they are closed."""
        kept = list(self._kept.values())
        self._kept.clear()
        for item in kept:
            item.conn.close()
        await asyncio.gather(*(item.conn.wait_closed() for item in kept), return_exceptions=True)
        await self.bastions.aclose()
        gc.collect()
