"""A pass sharded over Celery workers: ``--engine celery`` and ``fleetstat worker``.

The dispatcher (``run``/``watch`` with ``engine="celery"``) opens the run, sends one task
per ``shard-size`` clients and waits; each worker collects its shard with the same code
path as a local pass (``local.collect_shard``), storing every host itself. Then the
dispatcher closes the run and flushes the mail once.

No secret is on the wire: a task carries the run id, the digest of the config file and
the clients' addresses; each worker reads the config and its secrets from its own disk
and refuses a task whose digest differs. Results carry what the hosts answered, never a
``Client``. Tasks are acknowledged late and given back when a worker dies, and a host
already stored for the run is not collected again, so a redelivered shard doubles
nothing; what no worker finished in time is recorded as ``shard_lost``. A shard whose
hosts are all stored but whose answer has not come two looks in a row (the broker
restarted and dropped it with its reply queue) is taken from the database, so the pass
does not wait for the shards' deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
import math
import os
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Celery

from fleetstat.collect import local
from fleetstat.collect.engine import Display
from fleetstat.collect.writer import Writer
from fleetstat.core import model, wire
from fleetstat.core.errors import FleetstatError
from fleetstat.store import Store

log = logging.getLogger(__name__)

TASK = "fleetstat.collect_shard"
#: Seconds between two looks at the shards in flight.
POLL = 0.25
#: Seconds a shard may take beyond its hosts' timeouts (worker start, database, cleanup).
SHARD_GRACE = 15.0
#: Seconds between two looks in the database for shards whose every host is stored.
STORE_LOOK = 5.0


class ConfigMismatch(FleetstatError):
    """A worker's config file is not the dispatcher's: it refuses the shard."""


# ---------------------------------------------------------------- the Celery app


def config_digest(path: Path) -> str:
    """The SHA-256 of the config file's bytes: dispatcher and workers must agree on it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shard_seconds(clients: Sequence[model.Client], settings: model.Settings) -> float:
    """The longest one shard of ``clients`` may take on one worker."""
    longest = max((c.timeout or settings.timeout for c in clients), default=settings.timeout)
    rounds = math.ceil(len(clients) / max(1, settings.concurrency))
    return longest * rounds + SHARD_GRACE


def make_app(settings: model.Settings) -> Celery:
    """The Celery app of ``settings.broker``: late acks, one task at a time per slot.

    A RabbitMQ broker answers through its own reply queues (``rpc://``); a Redis broker
    keeps results in Redis, and gives a dead worker's task back after a shard's time.
    """
    broker = settings.broker
    backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    app = Celery("fleetstat", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": shard_seconds([], settings) * 2},
        worker_hijack_root_logger=False,
    )
    return app


# ---------------------------------------------------------------- the worker side


@dataclasses.dataclass
class Worker:
    """What one worker process holds: its config, that config's digest, its store."""

    config: model.Config
    digest: str
    store: Store

    def clients(self, addresses: Sequence[str]) -> list[model.Client]:
        by_address = {client.address: client for client in self.config.clients}
        unknown = [a for a in addresses if a not in by_address]
        if unknown:
            raise ConfigMismatch(f"this worker's config has no client {', '.join(unknown)}")
        return [by_address[address] for address in addresses]


def serve(config: model.Config, concurrency: int) -> None:
    """Run a worker for ``config`` until stopped: ``concurrency`` shards at a time."""
    state = Worker(config, config_digest(config.path), Store.open(config.settings.db))
    app = make_app(config.settings)

    @app.task(name=TASK)  # type: ignore[untyped-decorator]
    def collect_shard(run_id: int, digest: str, addresses: list[str]) -> dict[str, Any]:
        return collect_shard_here(state, run_id, digest, addresses)

    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={config.settings.queue}",
                f"--hostname=fleetstat-{os.getpid()}@%h",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        state.store.close()


def collect_shard_here(
    state: Worker, run_id: int, digest: str, addresses: list[str]
) -> dict[str, Any]:
    """Collect and store one shard; what the hosts answered, for the dispatcher."""
    if digest != state.digest:
        raise ConfigMismatch(
            f"the worker's config {state.config.path} (digest {state.digest[:12]}) is not the "
            f"dispatcher's (digest {digest[:12]}): give every worker the same clients XML"
        )
    clients = state.clients(addresses)
    stored = state.store.outcomes_of_run(run_id)
    todo = [client for client in clients if client.address not in stored]
    results, unstored = asyncio.run(local.collect_shard(state.config, state.store, run_id, todo))
    sent = [{"address": r.client.address, **wire.encode_result(r)} for r in results]
    return {"results": sent, "unstored": unstored}


# ---------------------------------------------------------------- the dispatcher side


class CeleryEngine:
    """The pass as shards on Celery workers, which store each host themselves."""

    async def collect(
        self, config: model.Config, store: Store, run_id: int, sink: Writer, display: Display | None
    ) -> list[model.HostResult]:
        """One result per client, in order; why one is not stored goes to ``sink.unstored``."""
        results, unstored = await dispatch(config, store, run_id, display=display)
        sink.unstored.update(unstored)
        return results


async def dispatch(
    config: model.Config, store: Store, run_id: int, *, display: Display | None = None
) -> tuple[list[model.HostResult], dict[str, str]]:
    """Run the pass ``run_id`` as shards on the workers; one result per client, in order."""
    return await asyncio.to_thread(_dispatch, config, store, run_id, display)


def _dispatch(
    config: model.Config, store: Store, run_id: int, progress: Display | None
) -> tuple[list[model.HostResult], dict[str, str]]:
    settings = config.settings
    app = make_app(settings)
    digest = config_digest(config.path)
    size = settings.shard_size
    shards = [config.clients[n : n + size] for n in range(0, len(config.clients), size)]
    flight = _Flight(progress)
    for shard in shards:
        handle = app.send_task(TASK, args=(run_id, digest, [c.address for c in shard]))
        flight.sent(app.AsyncResult(handle.id), shard)
    deadline = time.monotonic() + sum(shard_seconds(shard, settings) for shard in shards)
    next_look = time.monotonic() + STORE_LOOK
    while flight.pending and time.monotonic() < deadline:
        time.sleep(POLL)
        flight.poll()
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + STORE_LOOK
            flight.take_stored(store.outcomes_of_run(run_id))
    flight.revoke()
    results = flight.results
    missing = [c for c in config.clients if c.address not in results]
    results.update(_settle(store, run_id, missing, flight.failures, settings))
    return [results[client.address] for client in config.clients], flight.unstored


class _Flight:
    """The shards of one pass in flight, and what has come back of them."""

    def __init__(self, progress: Display | None) -> None:
        self.progress = progress
        self.pending: dict[str, tuple[Any, Sequence[model.Client]]] = {}
        self.results: dict[str, model.HostResult] = {}
        self.unstored: dict[str, str] = {}
        self.failures: dict[str, str] = {}
        self.stored_before: set[str] = set()  # all stored at the last look, answer not come

    def sent(self, handle: Any, shard: Sequence[model.Client]) -> None:
        """A shard was sent; ``handle`` is its Celery ``AsyncResult``."""
        self.pending[handle.id] = (handle, shard)

    def poll(self) -> None:
        """Take the answers of the shards that finished since the last poll."""
        for task_id, (handle, shard) in list(self.pending.items()):
            answer = _poll(handle)
            if answer is None:
                continue
            del self.pending[task_id]
            if isinstance(answer, BaseException):
                self.failures.update(dict.fromkeys((c.address for c in shard), str(answer)))
            else:
                self._answered(shard, answer)

    def _answered(self, shard: Sequence[model.Client], answer: dict[str, Any]) -> None:
        by_address = {client.address: client for client in shard}
        for data in answer["results"]:
            self._done(wire.decode_result(data, by_address[data["address"]]))
        self.unstored.update(answer["unstored"])

    def _done(self, result: model.HostResult) -> None:
        self.results[result.client.address] = result
        if self.progress is not None:
            self.progress.finished(result)

    def take_stored(self, stored: dict[str, tuple[model.Outcome, str | None]]) -> None:
        """Take from the database (``stored``: the run's outcomes by address) the shards
        all stored at this look and the last one too: their answer is lost, not late."""
        complete = {
            task_id
            for task_id, (_, shard) in self.pending.items()
            if all(client.address in stored for client in shard)
        }
        now = dt.datetime.now(dt.UTC)
        for task_id in complete & self.stored_before:
            _, shard = self.pending.pop(task_id)
            for client in shard:
                self._done(_stored_result(client, stored[client.address], now))
        self.stored_before = complete - self.stored_before

    def revoke(self) -> None:
        """Give up the shards still in flight."""
        for handle, _ in self.pending.values():
            handle.revoke()


def _poll(handle: Any) -> dict[str, Any] | BaseException | None:
    """A finished shard's answer, its failure, or None while it runs (or the broker is away)."""
    try:
        if not handle.ready():
            return None
        if handle.successful():
            return typing.cast(dict[str, Any], handle.result)
        failure = handle.result
        return failure if isinstance(failure, BaseException) else RuntimeError(str(failure))
    except Exception as err:  # noqa: BLE001 - a broker restarting is waited out, not fatal
        log.warning("cannot reach the broker for a shard's state: %s", err)
        return None


def _settle(
    store: Store,
    run_id: int,
    missing: Sequence[model.Client],
    failures: dict[str, str],
    settings: model.Settings,
) -> dict[str, model.HostResult]:
    """Results for the clients no shard answered: stored by a worker, or lost for good."""
    stored = store.outcomes_of_run(run_id)
    now = dt.datetime.now(dt.UTC)
    settled: dict[str, model.HostResult] = {}
    for client in missing:
        if client.address in stored:
            settled[client.address] = _stored_result(client, stored[client.address], now)
            continue
        why = failures.get(client.address) or (
            f"no worker finished its shard in time (is `fleetstat worker` running for the "
            f"queue {settings.queue!r} of {_broker_name(settings.broker)}?)"
        )
        lost = model.HostResult(client, model.Outcome.SHARD_LOST, now, now, error=why)
        store.record(run_id, lost, now)
        settled[client.address] = lost
    return settled


def _stored_result(
    client: model.Client, stored: tuple[model.Outcome, str | None], now: dt.datetime
) -> model.HostResult:
    """The result of a host a worker stored, as the database has it (no answer's figures)."""
    outcome, error = stored
    return model.HostResult(client, outcome, now, now, error=error)


def _broker_name(url: str) -> str:
    """The broker URL without its password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


__all__ = ["CeleryEngine", "ConfigMismatch", "config_digest", "dispatch", "make_app", "serve"]
