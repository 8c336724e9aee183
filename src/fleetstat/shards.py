"""A pass sharded over Celery workers: ``--engine celery`` and ``fleetstat worker``.

The dispatcher (``run``/``watch`` with ``engine="celery"``) opens the run, sends one task
per ``shard-size`` clients and waits; each worker collects its shard with the same code
path as a local pass (``job.collect_and_store``), storing every host itself. Then the
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
import enum
import hashlib
import logging
import math
import os
import time
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import Celery

from fleetstat import job, model
from fleetstat.errors import FleetstatError
from fleetstat.store import Store

log = logging.getLogger("fleetstat.shards")

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
class _Worker:
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
    state = _Worker(config, config_digest(config.path), Store.open(config.settings.db))
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
    state: _Worker, run_id: int, digest: str, addresses: list[str]
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
    results, unstored = asyncio.run(job.collect_shard(state.config, state.store, run_id, todo))
    return {"results": [to_wire(result) for result in results], "unstored": unstored}


# ---------------------------------------------------------------- the dispatcher side


async def dispatch(
    config: model.Config, store: Store, run_id: int, *, display: job.Display | None = None
) -> tuple[list[model.HostResult], dict[str, str]]:
    """Run the pass ``run_id`` as shards on the workers; one result per client, in order."""
    return await asyncio.to_thread(_dispatch, config, store, run_id, display)


def _dispatch(
    config: model.Config, store: Store, run_id: int, progress: job.Display | None
) -> tuple[list[model.HostResult], dict[str, str]]:
    settings = config.settings
    app = make_app(settings)
    digest = config_digest(config.path)
    size = settings.shard_size
    shards = [config.clients[n : n + size] for n in range(0, len(config.clients), size)]
    pending = {
        app.send_task(TASK, args=(run_id, digest, [c.address for c in shard])).id: shard
        for shard in shards
    }
    handles = {task_id: app.AsyncResult(task_id) for task_id in pending}
    deadline = time.monotonic() + sum(shard_seconds(shard, settings) for shard in shards)
    results: dict[str, model.HostResult] = {}
    unstored: dict[str, str] = {}
    failures: dict[str, str] = {}
    stored_before: set[str] = set()  # shards all stored at the last look, answer not come
    next_look = time.monotonic() + STORE_LOOK
    while pending and time.monotonic() < deadline:
        time.sleep(POLL)
        for task_id in list(pending):
            answer = _poll(handles[task_id])
            if answer is None:
                continue
            shard = pending.pop(task_id)
            if isinstance(answer, BaseException):
                failures.update(dict.fromkeys((c.address for c in shard), str(answer)))
                continue
            by_address = {client.address: client for client in shard}
            for wire in answer["results"]:
                result = from_wire(wire, by_address[wire["address"]])
                results[result.client.address] = result
                if progress is not None:
                    progress.finished(result)
            unstored.update(answer["unstored"])
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + STORE_LOOK
            stored_before = _answers_lost(
                store, run_id, pending, stored_before, results=results, progress=progress
            )
    for task_id in pending:
        handles[task_id].revoke()
    missing = [c for c in config.clients if c.address not in results]
    results.update(_settle(store, run_id, missing, failures, settings))
    return [results[client.address] for client in config.clients], unstored


def _answers_lost(
    store: Store,
    run_id: int,
    pending: dict[str, tuple[model.Client, ...]],
    stored_before: set[str],
    *,
    results: dict[str, model.HostResult],
    progress: job.Display | None,
) -> set[str]:
    """Take from the database the shards all stored at this look and the last one too (their
    answer is lost, not late); the shards all stored now, whose answer may still come."""
    stored = store.outcomes_of_run(run_id)
    complete = {
        task_id
        for task_id, shard in pending.items()
        if all(client.address in stored for client in shard)
    }
    now = dt.datetime.now(dt.UTC)
    for task_id in complete & stored_before:
        for client in pending.pop(task_id):
            results[client.address] = _stored_result(client, stored[client.address], now)
            if progress is not None:
                progress.finished(results[client.address])
    return complete - stored_before


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


# ---------------------------------------------------------------- results on the wire


def to_wire(result: model.HostResult) -> dict[str, Any]:
    """A result as JSON values, its client named by address only (no secret)."""
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    del fields["client"]
    return {"address": result.client.address, **_encode(fields)}


def from_wire(wire: dict[str, Any], client: model.Client) -> model.HostResult:
    """The result ``to_wire`` made, with the dispatcher's own ``client``."""
    values = {k: v for k, v in wire.items() if k != "address"}
    result: model.HostResult = _decode(model.HostResult, {**values, "client": None}, client=client)
    return result


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _decode(hint: Any, value: Any, *, client: model.Client | None = None) -> Any:
    """``value`` as the type ``hint`` (dataclasses, tuples, optionals, times, enums)."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        made = {
            f.name: client if f.name == "client" else _decode(hints[f.name], value[f.name])
            for f in dataclasses.fields(hint)
            if f.name in value
        }
        return hint(**made)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _decode(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in value)
        return tuple(_decode(a, item) for a, item in zip(args, value, strict=True))
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


__all__ = ["ConfigMismatch", "config_digest", "dispatch", "from_wire", "make_app", "serve"]
