"""``fleetstat watch``: one pass every period, never two at once, a clean stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import replace
from typing import TextIO

from fleetstat import config as configs
from fleetstat import ssh
from fleetstat.alerting import mail
from fleetstat.cli.progress import Progress
from fleetstat.cli.report import json_text
from fleetstat.collect import interrupt, job
from fleetstat.core.clock import utcnow
from fleetstat.core.errors import FleetstatError, UsageError
from fleetstat.core.model import Config
from fleetstat.store import Store

#: The shortest period ``watch --every`` accepts, in seconds: a pass over SSH takes
#: seconds itself, and every pass mails each recipient its digest.
MIN_PERIOD = 10.0


def check_period(period: float) -> float:
    """``period`` (seconds) when it is at least ``MIN_PERIOD``; UsageError otherwise."""
    if period < MIN_PERIOD:
        raise UsageError(
            f"--every {period:g}s is too short: every pass mails each recipient a digest; "
            f"give {MIN_PERIOD:g}s or more, like --every 5m"
        )
    return period


def watch(
    config: Config,
    *,
    period: float,
    as_json: bool = False,
    concurrency: int | None = None,
    out: TextIO | None = None,
    max_passes: int | None = None,
) -> int:
    """Run a pass every ``period`` seconds until SIGTERM/SIGINT or ``max_passes``; return 0.

    A pass longer than the period delays the next one; passes never overlap. The first
    signal stops after the pass in flight; a second cancels that pass (``Interrupted``).
    """
    for problem in configs.unreadable(config):  # each such client fails alone, every pass
        print(f"fleetstat: warning: {problem}", file=sys.stderr)
    stop = asyncio.Event()

    def stop_after_this_pass(signum: int) -> None:
        print(
            f"fleetstat: stopping after this pass — {interrupt.again(signum)}",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    return interrupt.run(
        _watch(
            config,
            period,
            out or sys.stdout,
            stop,
            as_json=as_json,
            concurrency=concurrency,
            max_passes=max_passes,
        ),
        graceful=stop_after_this_pass,
    )


async def _watch(
    config: Config,
    period: float,
    out: TextIO,
    stop: asyncio.Event,
    *,
    as_json: bool,
    concurrency: int | None,
    max_passes: int | None,
) -> int:
    store = Store.open(config.settings.db, timeout=config.settings.db_timeout)
    connections = ssh.Connections.from_settings(config.settings)
    passes = 0
    try:
        while not stop.is_set() and (max_passes is None or passes < max_passes):
            started = time.monotonic()
            config = current_clients(config)
            line = await _one_pass(config, store, concurrency, as_json, connections)
            print(line, file=out, flush=True)
            passes += 1
            wait = period - (time.monotonic() - started)
            if max_passes is None or passes < max_passes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(wait, 0))
        await asyncio.to_thread(
            mail.flush,
            store,
            config.settings.smtp,
            utcnow(),
            expire_after=config.settings.mail_expire,
        )
    finally:
        await connections.aclose()
        store.close()
    return 0


def current_clients(config: Config) -> Config:
    """``config`` with the clients its file lists now (the web page adds and removes
    clients between passes); its settings stay. When the file no longer loads, the
    clients of the last good load stay, and the error is printed."""
    from fleetstat import config as configs

    try:
        fresh = configs.load(config.path)
    except FleetstatError as err:
        print(f"fleetstat: the config did not reload, keeping its last clients: {err}",
              file=sys.stderr)  # fmt: skip
        return config
    return replace(config, clients=fresh.clients)


async def _one_pass(
    config: Config,
    store: Store,
    concurrency: int | None,
    as_json: bool,
    connections: ssh.Connections,
) -> str:
    """Run one pass and return its log line; an error of the pass is logged, not fatal."""
    try:
        quiet = Progress(len(config.clients), live=False)  # says a wait for the lock only
        report = await job.run_pass(
            config, store, display=quiet, concurrency=concurrency, connections=connections
        )
    except FleetstatError as err:
        if as_json:
            return json_text({"time": utcnow(), "error": str(err)})
        return f"{utcnow():%Y-%m-%dT%H:%M:%SZ} pass failed: {err}"
    return log_line(report, as_json=as_json)


def log_line(report: job.PassReport, *, as_json: bool) -> str:
    """One line that says how a pass went: hosts ok/failed, duration, mails sent."""
    failed = [f"{r.client.label} {r.outcome.value}" for r in report.results if r.answer is None]
    sent = report.mail.sent if report.mail else 0
    if as_json:
        return json_text(
            {
                "time": report.finished_at,
                "run_id": report.run_id,
                "hosts": len(report.results),
                "ok": report.ok,
                "failed": report.failed,
                "failed_hosts": failed,
                "unstored": len(report.unstored),
                "duration_seconds": round(report.duration, 3),
                "mails_sent": sent,
                "mail_error": report.mail_error,
            }
        )
    text = (
        f"{report.finished_at:%Y-%m-%dT%H:%M:%SZ} run {report.run_id}: "
        f"{report.ok}/{len(report.results)} ok, {report.duration:.1f} s, {sent} mails sent"
    )
    if failed:
        text += f"; failed: {', '.join(failed)}"
    if report.unstored:
        text += f"; {len(report.unstored)} NOT STORED"
    if report.mail_error:
        text += f"; mail: {report.mail_error}"
    return text
