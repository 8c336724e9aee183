"""How a pass and the database's contents are shown to a person or a script."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from fleetstat.core import dburl

if TYPE_CHECKING:
    from fleetstat.alerting.mail import FlushReport
    from fleetstat.alerting.silences import CurrentAlert
    from fleetstat.collect.job import PassReport
    from fleetstat.core.model import Event, HostResult
    from fleetstat.store.queries import AttemptRow, HostRow
    from fleetstat.store.series import HourFigures
    from fleetstat.store.silences import SilenceRow


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None) -> str:
    """A table for ``out`` (stdout): fitted to its terminal, colour only on a terminal.

    Every column but the last is as wide as its widest cell; the last (a detail or an
    error) is cut with ``…`` when the terminal is narrower. Not on a terminal, nothing is
    cut and there is no colour. An ``OUTCOME`` column shows ``ok`` green, others red.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = out or sys.stdout
    widths = [max([len(h), *(len(str(row[n])) for row in rows)]) for n, h in enumerate(headers)]
    # Columns are 3 apart (padding and rule); only the last one gives way on a terminal.
    room = terminal_width(out) - sum(widths[:-1]) - 3 * (len(widths) - 1)
    shown = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for n, header in enumerate(headers):
        last = n == len(headers) - 1
        shown.add_column(
            header, no_wrap=True, overflow="ellipsis", max_width=max(room, 4) if last else None
        )
    outcome = list(headers).index("OUTCOME") if "OUTCOME" in headers else None
    for row in rows:
        cells = [Text(str(cell)) for cell in row]  # Text: a "[" in an error is no markup
        if outcome is not None:
            cells[outcome].stylize("green" if row[outcome] == "ok" else "red")
        shown.add_row(*cells)
    return render(shown, out)


def terminal_width(out: TextIO) -> int:
    """Columns of the terminal ``out`` writes to (``COLUMNS`` wins); unbounded for a pipe."""
    import shutil

    return shutil.get_terminal_size().columns if out.isatty() else 100_000


def render(renderable: Any, out: TextIO) -> str:
    """``renderable`` (rich) as text for ``out``: its terminal's width and colour, or plain."""
    import io

    from rich.console import Console

    tty = out.isatty()
    console = Console(
        file=io.StringIO(),
        width=terminal_width(out),
        force_terminal=tty,
        color_system="auto" if tty else None,
        highlight=False,
    )
    console.print(renderable)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines())


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
    clients = [r.client for r in report.results]
    shared = shared_ips(client.ip for client in clients)
    rows = [_result_row(r, report.unstored.get(r.client.address), shared) for r in report.results]
    headers = ["HOST", "IP", "OUTCOME", "CPU", "MEMORY", "UPTIME", "DETAIL"]
    text = table(*with_groups(headers, rows, clients))
    return f"{text}\n\n{summary(report)}"


def shared_ips(ips: Iterable[str]) -> set[str]:
    """The IPs that more than one host has (those are shown as ``ip:port``)."""
    seen = Counter(ips)
    return {ip for ip, count in seen.items() if count > 1}


def with_groups(
    headers: list[str], rows: list[list[str]], owners: Sequence[object]
) -> tuple[list[str], list[list[str]]]:
    """A GROUP column after HOST when any of ``owners`` (one per row) is in a group."""
    groups = [getattr(owner, "group", None) for owner in owners]
    if not any(groups):
        return headers, rows
    return (
        [headers[0], "GROUP", *headers[1:]],
        [[row[0], group or "-", *row[1:]] for row, group in zip(rows, groups, strict=True)],
    )


def _result_row(result: HostResult, unstored: str | None, shared: set[str]) -> list[str]:
    answer = result.answer
    detail = result.error or ""
    if unstored:
        detail = f"NOT STORED: {unstored}"
    client = result.client
    return [
        client.label,
        client.address if client.ip in shared else client.ip,
        result.outcome.value,
        percent(answer.cpu.percent if answer and answer.cpu else None),
        percent(answer.memory.percent if answer and answer.memory else None),
        duration(answer.uptime if answer else None),
        _one_line(detail),
    ]


def _one_line(text: str) -> str:
    """``text`` on one line; a table cuts it to the terminal, a pipe gets it whole."""
    return " ".join(text.split())


def summary(report: PassReport) -> str:
    """One line: how many hosts, how long, how much mail."""
    parts = [f"run {report.run_id}: {report.ok}/{len(report.results)} hosts ok"]
    if report.failed:
        parts.append(f"{report.failed} failed")
    if report.unstored:
        parts.append(f"{len(report.unstored)} NOT STORED")
    parts.append(f"{report.duration:.1f} s")
    if report.learned:
        parts.append(f"learned the host key of {len(report.learned)} hosts")
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
    from fleetstat.ssh import certificates

    expiring = certificates.expiring([r.client for r in report.results])
    if expiring:
        parts.append(f"user certificates to renew: {'; '.join(expiring)}")
    return ", ".join(parts)


def pass_json(report: PassReport) -> dict[str, Any]:
    """The pass as a JSON-ready dict (``fleetstat run --json``)."""
    return {
        "run_id": report.run_id,
        "started_at": iso(report.started_at),
        "finished_at": iso(report.finished_at),
        "duration_seconds": round(report.duration, 3),
        "ok": report.ok,
        "failed": report.failed,
        "learned_host_keys": {r.client.address: r.learned_key for r in report.learned},
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
    events_error = (
        "; ".join(text for part, text in answer.errors if part == "events") if answer else ""
    )
    return {
        "name": result.client.label,
        "group": result.client.group,
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
        # None when the event log was not read; ``events_error`` then says why.
        "events": len(answer.events) if answer and not events_error else None,
        "events_error": events_error or None,
        "learned_host_key": result.learned_key,
    }


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``: ``2026-11-27T12:00:02.5Z``; a naive time is taken as UTC."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def jsonable(obj: Any) -> Any:
    """``obj`` with dataclasses as dicts, times as ``iso``, enums as values, paths as text."""
    if isinstance(obj, datetime):
        return iso(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(key): jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(item) for item in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    return obj


def json_text(obj: Any) -> str:
    """``obj`` as compact JSON on one line (``jsonable`` first)."""
    return json.dumps(jsonable(obj), separators=(",", ":"), ensure_ascii=False)


def dump_json(obj: Any) -> None:
    """Print ``obj`` as one compact JSON document on one line of stdout."""
    print(json_text(obj))


def hosts_table(rows: Sequence[HostRow]) -> str:
    """``fleetstat hosts``: one row per host, its latest outcome and figures.

    The IP column shows ``ip:port`` for the hosts that share their IP with another.
    """
    shared = shared_ips(row.ip for row in rows)
    headers = ["HOST", "IP", "OUTCOME", "CPU", "MEMORY", "UPTIME", "LAST OK", "OS"]
    return table(
        *with_groups(
            headers,
            [
                [
                    row.name,
                    row.address if row.ip in shared else row.ip,
                    "retired" if row.retired_at else (row.last_outcome or "-"),
                    percent(row.cpu_percent),
                    percent(row.mem_percent),
                    duration(row.uptime_seconds),
                    when(row.last_ok_at),
                    row.os_name or "-",
                ]
                for row in rows
            ],
            rows,
        )
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


def _detail(row: AttemptRow) -> str:
    """An attempt's error; for one that went well, what its login printed, if anything."""
    if row.error:
        return row.error
    return f"login printed: {row.login_noise}" if row.login_noise else ""


def history_table(rows: Sequence[AttemptRow]) -> str:
    """``fleetstat history HOST``: one row per attempt, newest first."""
    return table(
        ["RUN", "STARTED", "OUTCOME", "CPU", "MEMORY", "TOOK", "DETAIL"],
        [
            [
                str(row.run_id),
                when(row.started_at),
                row.outcome,
                percent(row.cpu_percent),
                percent(row.mem_percent),
                f"{row.duration_seconds:.1f} s",
                _one_line(_detail(row)),
            ]
            for row in rows
        ],
    )


def hourly_table(rows: Sequence[HourFigures]) -> str:
    """``fleetstat history HOST --hourly``: one row per hour, newest first (means)."""
    return table(
        ["HOUR", "CPU", "MEMORY", "LOAD", "FULLEST DISK"],
        [
            [
                row.hour.strftime("%Y-%m-%d %H:00Z"),
                percent(row.cpu_percent),
                percent(row.mem_percent),
                "-" if row.load1 is None else f"{row.load1:.2f}",
                "-" if row.disk_mount is None else f"{percent(row.disk_percent)} {row.disk_mount}",
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
                _one_line(event.message),
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
    return dburl.shown(url)


def prune_table(counts: dict[str, int], *, dry_run: bool, rolled_up: int = 0) -> str:
    """What ``fleetstat db prune`` deleted (or, with ``dry_run``, would delete), per table."""
    verb = "would delete" if dry_run else "deleted"
    if not counts:
        return "nothing to prune: every retain-* setting is 0 (keep for ever)"
    width = max(len(table) for table in counts)
    lines = [f"{table:<{width}}  {verb} {n:,} rows" for table, n in counts.items()]
    if rolled_up:
        lines.insert(0, f"rolled up {rolled_up:,} hourly figures first")
    return "\n".join(lines)
