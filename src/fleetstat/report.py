"""How a pass and the database's contents are shown to a person or a script."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.engine import make_url

from fleetstat.job import PassReport
from fleetstat.mail import FlushReport
from fleetstat.model import Event, HostResult
from fleetstat.silences import CurrentAlert
from fleetstat.store.queries import AttemptRow, HostRow
from fleetstat.store.silences import SilenceRow


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left-aligned text table, columns as wide as their widest cell."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


def percent(value: float | None) -> str:
    """``12.3%``, or ``-`` when there is no figure."""
    return "-" if value is None else f"{value:.1f}%"


def duration(seconds: float | None) -> str:
    """A short human duration: ``3d 4h``, ``5h 12m``, ``42s``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def when(moment: datetime | None) -> str:
    """A UTC timestamp to the second, or ``never``."""
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def pass_table(report: PassReport) -> str:
    """The table printed after ``fleetstat run``: one row per host, then a summary line."""
    rows = [_result_row(r, report.unstored.get(r.client.address)) for r in report.results]
    text = table(["HOST", "IP", "OUTCOME", "CPU", "MEMORY", "UPTIME", "DETAIL"], rows)
    return f"{text}\n\n{summary(report)}"


def _result_row(result: HostResult, unstored: str | None) -> list[str]:
    answer = result.answer
    detail = result.error or ""
    if unstored:
        detail = f"NOT STORED: {unstored}"
    return [
        result.client.label,
        result.client.ip,
        result.outcome.value,
        percent(answer.cpu.percent if answer and answer.cpu else None),
        percent(answer.memory.percent if answer and answer.memory else None),
        duration(answer.uptime if answer else None),
        _one_line(detail),
    ]


def _one_line(text: str, limit: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def summary(report: PassReport) -> str:
    """One line: how many hosts, how long, how much mail."""
    parts = [f"run {report.run_id}: {report.ok}/{len(report.results)} hosts ok"]
    if report.failed:
        parts.append(f"{report.failed} failed")
    if report.unstored:
        parts.append(f"{len(report.unstored)} NOT STORED")
    parts.append(f"{report.duration:.1f} s")
    if report.mail is not None:
        parts.append(f"{report.mail.sent} mails sent")
        if report.mail.retried:
            parts.append(f"{report.mail.retried} kept in the outbox for later")
        if report.mail.failed:
            parts.append(f"{report.mail.failed} rejected")
    if report.mail_error:
        parts.append(f"mail not sent ({report.mail_error}); kept in the outbox")
    if report.run_error:
        parts.append(f"the run could not be closed in the database: {report.run_error}")
    return ", ".join(parts)


def pass_json(report: PassReport) -> dict[str, Any]:
    """The pass as a JSON-ready dict (``fleetstat run --json``)."""
    return {
        "run_id": report.run_id,
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat(),
        "duration_seconds": round(report.duration, 3),
        "ok": report.ok,
        "failed": report.failed,
        "hosts": [_result_json(r, report.unstored.get(r.client.address)) for r in report.results],
        "mail": None
        if report.mail is None
        else {
            "sent": report.mail.sent,
            "retried": report.mail.retried,
            "failed": report.mail.failed,
        },
        "mail_error": report.mail_error,
        "run_error": report.run_error,
    }


def _result_json(result: HostResult, unstored: str | None) -> dict[str, Any]:
    answer = result.answer
    return {
        "name": result.client.label,
        "ip": result.client.ip,
        "port": result.client.port,
        "outcome": result.outcome.value,
        "error": result.error,
        "stored": unstored is None,
        "store_error": unstored,
        "duration_seconds": round(result.duration, 3),
        "cpu_percent": answer.cpu.percent if answer and answer.cpu else None,
        "memory_percent": answer.memory.percent if answer and answer.memory else None,
        "uptime_seconds": answer.uptime if answer else None,
        "events": len(answer.events) if answer else None,
    }


def dump_json(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    print(json.dumps(obj, indent=2, default=str))


class ProgressBar:
    """A one-line progress bar on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, out: TextIO | None = None, *, width: int = 30) -> None:
        self._out = out or sys.stderr
        self._width = width
        self._enabled = self._out.isatty()
        self._start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Redraw for ``done`` of ``total`` hosts."""
        if not self._enabled or total == 0:
            return
        filled = self._width * done // total
        bar = "#" * filled + "." * (self._width - filled)
        elapsed = time.monotonic() - self._start
        self._out.write(f"\r[{bar}] {done}/{total} hosts  {elapsed:.0f} s")
        if done == total:
            self._out.write("\r" + " " * (self._width + 40) + "\r")
        self._out.flush()


def hosts_table(rows: Sequence[HostRow]) -> str:
    """``fleetstat hosts``: one row per host, its latest outcome and figures."""
    return table(
        ["HOST", "IP", "OUTCOME", "CPU", "MEMORY", "UPTIME", "LAST OK", "OS"],
        [
            [
                row.name,
                row.ip,
                "retired" if row.retired_at else (row.last_outcome or "-"),
                percent(row.cpu_percent),
                percent(row.mem_percent),
                duration(row.uptime_seconds),
                when(row.last_ok_at),
                row.os_name or "-",
            ]
            for row in rows
        ],
    )


def alerts_table(rows: Sequence[CurrentAlert]) -> str:
    """``fleetstat alerts``: what fires and is pending, since when, value, limit, and notes."""
    return table(
        ["HOST", "RULE", "STATE", "SINCE", "VALUE", "LIMIT", "NOTE"],
        [
            [
                row.host,
                row.rule,
                row.state,
                when(row.since),
                row.value,
                row.limit,
                _alert_note(row),
            ]
            for row in rows
        ],
    )


def _alert_note(row: CurrentAlert) -> str:
    notes = []
    if row.silenced_by is not None:
        notes.append(f"silenced (silence {row.silenced_by})")
    if row.acked_at is not None:
        notes.append(f"acknowledged {when(row.acked_at)}: {row.ack_reason or '-'}")
    return _one_line("; ".join(notes))


def silences_table(rows: Sequence[SilenceRow]) -> str:
    """``fleetstat silence list``: each silence in force or to come."""
    return table(
        ["ID", "HOSTS", "RULE", "FROM", "UNTIL", "REASON"],
        [
            [
                str(row.id),
                row.host_pattern,
                row.rule or "all",
                when(row.starts_at),
                when(row.ends_at),
                _one_line(row.reason),
            ]
            for row in rows
        ],
    )


def history_table(rows: Sequence[AttemptRow]) -> str:
    """``fleetstat history HOST``: one row per attempt, newest first."""
    return table(
        ["RUN", "STARTED", "OUTCOME", "CPU", "MEMORY", "TOOK", "ERROR"],
        [
            [
                str(row.run_id),
                when(row.started_at),
                row.outcome,
                percent(row.cpu_percent),
                percent(row.mem_percent),
                f"{row.duration_seconds:.1f} s",
                _one_line(row.error or ""),
            ]
            for row in rows
        ],
    )


def events_table(events: Sequence[Event]) -> str:
    """``fleetstat history HOST --events``: one row per security event, newest first."""
    return table(
        ["TIME", "SOURCE", "EVENT", "LEVEL", "USER", "FROM", "SUMMARY"],
        [
            [
                when(event.time),
                event.source,
                event.event_id,
                event.level,
                event.user or "-",
                event.source_ip or "-",
                _one_line(event.message, 60),
            ]
            for event in events
        ],
    )


def flush_line(flushed: FlushReport) -> str:
    """One line for ``fleetstat mail flush``."""
    text = f"{flushed.sent} sent, {flushed.retried} kept for a later try, {flushed.failed} rejected"
    if flushed.taken_over:
        text += f", {flushed.taken_over} taken over by another sender"
    if flushed.expired:
        text += f", {flushed.expired} expired unsent"
    return "\n".join([text, *(f"  {error}" for error in flushed.errors)])


def safe_url(url: str) -> str:
    """A database URL with its password hidden, fit to print."""
    return make_url(url).render_as_string(hide_password=True)
