"""The local engine: every client of a pass collected in this process, over asyncio.

``LocalEngine`` is the default engine of ``job.run_pass``; ``collect_shard`` is a Celery
worker's part of a pass, the same path over the worker's shard of clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fleetstat import config as configs
from fleetstat import ssh
from fleetstat.collect import collector, writer
from fleetstat.collect.engine import Display
from fleetstat.core.clock import utcnow
from fleetstat.core.model import Client, Config, HostResult
from fleetstat.store import Store
from fleetstat.store.spool import Spool

#: Collects one pass: ``collector.collect``'s signature (tests feed stored results through it).
Collect = Callable[..., Awaitable[list[HostResult]]]

#: Told (done, total) as hosts finish.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LocalEngine:
    """Collect in this process: ``concurrency`` hosts at once (None: the setting's),
    ``connections`` kept across passes (``watch``), else each closed after its run."""

    progress: Progress | None = None
    concurrency: int | None = None
    collect_with: Collect = collector.collect
    connections: ssh.Connections | None = None

    async def collect(
        self,
        config: Config,
        store: Store,
        run_id: int,
        sink: writer.Writer,
        display: Display | None,
    ) -> list[HostResult]:
        """Collect every client of ``config``, each result to ``sink`` as it arrives;
        the results in the order of the clients, as stored."""
        return await self.collect_clients(config, store, config.clients, sink, display)

    async def collect_clients(
        self,
        config: Config,
        store: Store,
        clients: Sequence[Client],
        sink: writer.Writer,
        display: Display | None,
    ) -> list[HostResult]:
        """``collect`` for ``clients`` only (a worker's shard)."""
        cursors = await asyncio.to_thread(store.cursors)
        counters = await asyncio.to_thread(store.cpu_counters)

        def put(result: HostResult) -> None:
            sink.put(result)
            if display is not None:
                display.finished(result)

        results = await self.collect_with(
            clients,
            config.settings,
            cursors=cursors,
            cpu_counters=counters,
            on_result=put,
            on_start=display.started if display is not None else None,
            progress=self.progress,
            concurrency=self.concurrency,
            connections=self.connections,
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
    write = writer.host_write(config, store, utcnow)
    spool = Spool(writer.spool_folder(config, store))
    await asyncio.to_thread(writer.replay, store, spool, {c.address: c for c in clients}, write)
    sink = writer.Writer(run_id, write, spool)
    results = await LocalEngine().collect_clients(config, store, clients, sink, None)
    return results, sink.unstored
