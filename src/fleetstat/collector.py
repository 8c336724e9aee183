"""One collection run over every client: bounded concurrency, one outcome per host.

``collect`` builds the agent once, then runs ``ssh.run_agent`` for up to
``concurrency`` clients at a time, each with a fresh key and its own event cursor,
and opens each answer. A host's failure becomes its ``HostResult``; it never stops
or delays the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fleetstat import cpurate, envelope, model, payload, ssh
from fleetstat.errors import EnvelopeError, HostError

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def _request(
    client: model.Client,
    settings: model.Settings,
    cursor: dict[str, Any],
    cpu_since: dict[str, Any] | None,
) -> tuple[bytes, bytes]:
    """A fresh key and the request bytes that carry it."""
    key = envelope.new_key()
    body = envelope.request_bytes(
        key,
        cpu_interval=settings.cpu_interval,
        since=cursor,
        max_events=settings.max_events,
        cpu_since=cpu_since,
        events_window=settings.events_window or None,
        events_budget=events_budget(client, settings),
    )
    return key, body


def events_budget(client: model.Client, settings: model.Settings) -> float:
    """Seconds the agent may spend reading logs: a third of the host's timeout, at most 20."""
    return round(min(20.0, (client.timeout or settings.timeout) / 3), 3)


async def collect_one(
    client: model.Client,
    settings: model.Settings,
    agent: bytes,
    cursor: dict[str, Any],
    clock: Clock = utcnow,
    *,
    counters: cpurate.Counters | None = None,
) -> model.HostResult:
    """Run the agent on one client and open its answer; every failure becomes the result.

    ``counters`` are the CPU counters of the host's previous sample: when recent, the
    agent does not sleep and the CPU percent is computed from them (``cpurate``).
    """
    started = clock()
    since = cpurate.request_since(counters, started, settings.cpu_max_gap)
    key, request = _request(client, settings, cursor, since)
    try:
        token = await ssh.run_agent(client, settings, agent, request)
        answer = envelope.open_answer(token, key)
        if answer.cpu is not None:
            cpu = cpurate.apply(answer.cpu, answer.clock, counters if since else None)
            answer = dataclasses.replace(answer, cpu=cpu)
    except HostError as err:
        return _failed(client, model.Outcome(err.outcome), str(err), started, clock)
    except EnvelopeError as err:
        return _failed(client, model.Outcome.BAD_PAYLOAD, str(err), started, clock)
    except Exception as err:  # noqa: BLE001 - one host's surprise must not end the run
        message = f"{type(err).__name__}: {err}"
        return _failed(client, model.Outcome.AGENT_FAILED, message, started, clock)
    return model.HostResult(client, model.Outcome.OK, started, clock(), answer=answer)


def _failed(
    client: model.Client, outcome: model.Outcome, message: str, started: datetime, clock: Clock
) -> model.HostResult:
    return model.HostResult(client, outcome, started, clock(), error=message)


async def collect(
    clients: Sequence[model.Client],
    settings: model.Settings,
    *,
    cursors: Mapping[str, dict[str, Any]],
    cpu_counters: Mapping[str, cpurate.Counters] | None = None,
    on_result: Callable[[model.HostResult], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    clock: Clock = utcnow,
) -> list[model.HostResult]:
    """Collect from every client; return one ``HostResult`` per client, in config order.

    ``cursors`` maps ``client.address`` to the event cursor of its last answer,
    ``cpu_counters`` to the CPU counters of its last sample.
    ``on_result`` is called as each host finishes (so the caller can store it at once);
    ``progress(done, total)`` after each. At most ``concurrency`` (default
    ``settings.concurrency``) hosts run at a time.
    """
    agent = payload.build_agent()
    gate = asyncio.Semaphore(max(1, concurrency or settings.concurrency))
    done = 0

    async def one(client: model.Client) -> model.HostResult:
        nonlocal done
        async with gate:
            cursor = dict(cursors.get(client.address) or {})
            counters = (cpu_counters or {}).get(client.address)
            result = await collect_one(client, settings, agent, cursor, clock, counters=counters)
        done += 1
        if on_result is not None:
            on_result(result)
        if progress is not None:
            progress(done, len(clients))
        return result

    return list(await asyncio.gather(*(one(client) for client in clients)))
