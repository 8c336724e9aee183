"""One collection run over every client: bounded concurrency, one outcome per host.

``collect`` builds the agent once, then runs the agent through an
``ssh.Connections`` for up to ``concurrency`` clients at a time, each with a fresh key
and its own event cursor, and opens each answer. A host's failure becomes its
``HostResult``; it never stops or delays the others.

When the pass is cancelled (SIGINT, SIGTERM), no new host starts, the hosts in flight
are cancelled and run their cleanup (bounded by ``ssh.CLEANUP_GRACE``), every host
without a result gets ``Outcome.INTERRUPTED``, and the cancellation goes on upwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fleetstat import ssh
from fleetstat.collect import envelope, payload
from fleetstat.collect.limits import clean
from fleetstat.core import cpurate, model
from fleetstat.core.bounds import ERROR
from fleetstat.core.clock import Clock, utcnow
from fleetstat.core.errors import EnvelopeError, HostError
from fleetstat.ssh import hostkeys

_log = logging.getLogger(__name__)


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
        events_become=client.become,
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
    connections: ssh.Connections | None = None,
) -> model.HostResult:
    """Run the agent on one client and open its answer; every failure becomes the result.

    ``counters`` are the CPU counters of the host's previous sample: when recent, the
    agent does not sleep and the CPU percent is computed from them (``cpurate``).
    A client whose secret could not be read ends as ``config_error`` without a login.
    A cancelled run (the pass was interrupted) cleans up, then becomes ``interrupted``.
    An exception that is neither a ``HostError`` nor an ``EnvelopeError`` is fleetstat's
    own bug: logged with its traceback and recorded as ``internal_error``. A host key
    learned on this first contact is the result's ``learned_key``.
    """
    started = clock()
    if client.secret_error:
        return _failed(client, model.Outcome.CONFIG_ERROR, client.secret_error, started, clock)
    learned: list[str] = []
    since = cpurate.request_since(counters, started, settings.cpu_max_gap)
    try:
        answer, noise = await _answer(
            client, settings, agent, (cursor, since), learned, connections
        )
        if answer.cpu is not None:
            cpu = cpurate.apply(answer.cpu, answer.clock, counters if since else None)
            answer = dataclasses.replace(answer, cpu=cpu)
        result = model.HostResult(
            client, model.Outcome.OK, started, clock(), answer=answer, login_noise=noise
        )
    except asyncio.CancelledError:
        why = "the run was interrupted while this host was in flight"
        result = _failed(client, model.Outcome.INTERRUPTED, why, started, clock)
    except HostError as err:
        result = _failed(client, model.Outcome(err.outcome), str(err), started, clock)
    except EnvelopeError as err:
        result = _failed(client, model.Outcome.BAD_PAYLOAD, str(err), started, clock)
    except Exception as err:  # noqa: BLE001 - one host's surprise must not end the run
        _log.exception("%s: fleetstat's own error while collecting", client.address)
        message = f"fleetstat's own error (see its log): {type(err).__name__}: {err}"
        result = _failed(client, model.Outcome.INTERNAL_ERROR, message, started, clock)
    return dataclasses.replace(result, learned_key=", ".join(learned)) if learned else result


async def _answer(  # noqa: PLR0917 (one call site, in this order)
    client: model.Client,
    settings: model.Settings,
    agent: bytes,
    since: tuple[dict[str, Any], dict[str, Any] | None],
    learned: list[str],
    connections: ssh.Connections | None,
) -> tuple[model.Answer, str | None]:
    """The client's opened answer and the login's noise; adds to ``learned`` the host
    keys recorded meanwhile.

    ``since`` is (the event cursor, the CPU counters to send or None).
    """
    key, request = _request(client, settings, *since)
    known = hostkeys.recorded_keys(client, settings)
    try:
        if connections is None:
            output = await ssh.run_agent(client, settings, agent, request)
        else:
            output = await connections.run_agent(client, settings, agent, request)
    finally:
        learned.extend(sorted(hostkeys.recorded_keys(client, settings) - known))
    answer = envelope.open_answer(output.answer, key, max_events=settings.max_events)
    return answer, output.noise


def _failed(
    client: model.Client, outcome: model.Outcome, message: str, started: datetime, clock: Clock
) -> model.HostResult:
    """A failed result; its error text (partly the client's words) made safe and cut."""
    error = clean(message, ERROR.limit)
    return model.HostResult(client, outcome, started, clock(), error=error)


async def collect(
    clients: Sequence[model.Client],
    settings: model.Settings,
    *,
    cursors: Mapping[str, dict[str, Any]],
    cpu_counters: Mapping[str, cpurate.Counters] | None = None,
    on_result: Callable[[model.HostResult], None] | None = None,
    on_start: Callable[[model.Client], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    clock: Clock = utcnow,
    connections: ssh.Connections | None = None,
) -> list[model.HostResult]:
    """Collect from every client; return one ``HostResult`` per client, in config order.

    ``cursors`` maps ``client.address`` to the event cursor of its last answer,
    ``cpu_counters`` to the CPU counters of its last sample.
    ``on_result`` is called as each host finishes (so the caller can store it at once),
    ``on_start`` as each one starts;
    ``progress(done, total)`` after each. At most ``concurrency`` (default
    ``settings.concurrency``) hosts run at a time. ``connections`` are the collector's
    SSH connections (kept between passes by ``watch``); without them each host's
    connection is closed after its run.

    Cancelled, it hands every host that has no result yet to ``on_result`` as
    ``interrupted`` (after the cleanup of those in flight), then raises
    ``CancelledError``.
    """
    if connections is None:
        budget, per_bastion = settings.answers_in_flight, settings.jump_concurrency
        async with ssh.Connections(
            keep=False, max_kept=0, budget=budget, per_bastion=per_bastion
        ) as own:
            return await collect(
                clients,
                settings,
                cursors=cursors,
                cpu_counters=cpu_counters,
                on_result=on_result,
                on_start=on_start,
                progress=progress,
                concurrency=concurrency,
                clock=clock,
                connections=own,
            )
    agent = payload.build_agent()
    pass_ = _Pass(clients, on_result, progress, clock)
    gate = asyncio.Semaphore(max(1, concurrency or settings.concurrency))

    async def one(index: int, client: model.Client) -> None:
        async with gate:
            if on_start is not None:
                on_start(client)
            cursor = dict(cursors.get(client.address) or {})
            counters = (cpu_counters or {}).get(client.address)
            result = await collect_one(
                client, settings, agent, cursor, clock, counters=counters, connections=connections
            )
        pass_.finish(index, result)

    tasks = [asyncio.ensure_future(one(n, client)) for n, client in enumerate(clients)]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        await pass_.interrupt(tasks)
        raise
    return pass_.results()


class _Pass:
    """The results of one pass as they come in, in config order."""

    def __init__(
        self,
        clients: Sequence[model.Client],
        on_result: Callable[[model.HostResult], None] | None,
        progress: Callable[[int, int], None] | None,
        clock: Clock,
    ) -> None:
        self._clients = clients
        self._on_result = on_result
        self._progress = progress
        self._clock = clock
        self._results: list[model.HostResult | None] = [None] * len(clients)
        self._done = 0

    def finish(self, index: int, result: model.HostResult) -> None:
        """Record the result of client ``index`` and tell the caller."""
        self._results[index] = result
        self._done += 1
        if self._on_result is not None:
            self._on_result(result)
        if self._progress is not None:
            self._progress(self._done, len(self._clients))

    async def interrupt(self, tasks: Sequence[asyncio.Future[None]]) -> None:
        """Wait for the cancelled hosts' cleanup; hosts never started are interrupted too.

        (``gather`` has cancelled every task already; cancelling again would cut a
        cleanup short.)
        """
        await asyncio.gather(*tasks, return_exceptions=True)
        now = self._clock()
        for index, result in enumerate(self._results):
            if result is None:
                why = "the run was interrupted before this host was started"
                client = self._clients[index]
                stopped = model.HostResult(client, model.Outcome.INTERRUPTED, now, now, error=why)
                self.finish(index, stopped)

    def results(self) -> list[model.HostResult]:
        """Every client's result (all are in once the pass has ended)."""
        return [result for result in self._results if result is not None]
