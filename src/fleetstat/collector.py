"""One collection run over every client: bounded concurrency, one outcome per host.

``collect`` builds the agent once, then runs ``ssh.run_agent`` for up to
``concurrency`` clients at a time, each with a fresh key and its own event cursor,
and opens each answer. A host's failure becomes its ``HostResult``; it never stops
or delays the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fleetstat import envelope, model, payload, ssh
from fleetstat.errors import EnvelopeError, HostError

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def _request(
    client: model.Client, settings: model.Settings, cursor: dict[str, Any]
) -> tuple[bytes, bytes]:
    """A fresh key and the request bytes that carry it."""
    key = envelope.new_key()
    body = envelope.request_bytes(
        key, cpu_interval=settings.cpu_interval, since=cursor, max_events=settings.max_events
    )
    return key, body


async def collect_one(
    client: model.Client,
    settings: model.Settings,
    agent: bytes,
    cursor: dict[str, Any],
    clock: Clock = utcnow,
) -> model.HostResult:
    """Run the agent on one client and open its answer; every failure becomes the result."""
    started = clock()
    key, request = _request(client, settings, cursor)
    try:
        token = await ssh.run_agent(client, settings, agent, request)
        answer = envelope.open_answer(token, key)
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
    on_result: Callable[[model.HostResult], None] | None = None,
    on_start: Callable[[model.Client], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    clock: Clock = utcnow,
) -> list[model.HostResult]:
    """Collect from every client; return one ``HostResult`` per client, in config order.

    ``cursors`` maps ``client.address`` to the event cursor of its last answer.
    ``on_result`` is called as each host finishes (so the caller can store it at once),
    ``on_start`` as each one starts;
    ``progress(done, total)`` after each. At most ``concurrency`` (default
    ``settings.concurrency``) hosts run at a time.
    """
    agent = payload.build_agent()
    gate = asyncio.Semaphore(max(1, concurrency or settings.concurrency))
    done = 0

    async def one(client: model.Client) -> model.HostResult:
        nonlocal done
        async with gate:
            if on_start is not None:
                on_start(client)
            cursor = dict(cursors.get(client.address) or {})
            result = await collect_one(client, settings, agent, cursor, clock)
        done += 1
        if on_result is not None:
            on_result(result)
        if progress is not None:
            progress(done, len(clients))
        return result

    return list(await asyncio.gather(*(one(client) for client in clients)))
