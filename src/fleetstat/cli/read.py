"""``fleetstat hosts`` and ``fleetstat history``: the commands that read the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Group, Target
from fleetstat.core.clock import utcnow


@cli.group(
    "hosts",
    cls=Group,
    invoke_without_command=True,
    no_args_is_help=False,
    help=common.help_text(
        "show the latest state of every host in the database",
        "One row per host: its last outcome, CPU %, memory %, uptime and when it last "
        "answered; a client removed from the config shows as retired.",
        ["fleetstat hosts --db sqlite:///fleetstat.db", "fleetstat hosts -c clients.xml --json"],
    ),
    short_help="show the latest state of every host in the database",
)
@common.target_options()
@common.json_option()
@click.pass_context
def hosts(ctx: click.Context, target: Target, as_json: bool) -> int:
    if ctx.invoked_subcommand is not None:
        return 0
    from fleetstat.cli import report
    from fleetstat.store import Store

    settings = target.settings()
    store = Store.open_existing(settings.db, timeout=settings.db_timeout)
    try:
        rows = store.latest_hosts()
    finally:
        store.close()
    if as_json:
        report.dump_json(rows)
        return 0
    if not rows:
        print("no hosts yet: run `fleetstat run --config FILE` first")
        return 0
    print(report.hosts_table(rows))
    return 0


@common.command(
    hosts,
    "forget",
    "delete the whole history of a retired host",
    "A client removed from the config is retired by the next pass; this deletes its samples, "
    "events, attempts and alert states. A host still in the config is refused.",
    ["fleetstat hosts forget old-web03 --config clients.xml"],
)
@click.argument("host", metavar="HOST")
@common.target_options()
def forget(target: Target, host: str) -> int:
    from fleetstat.cli.alerting import writable

    store = writable(target)
    try:
        removed = store.forget(host)
    finally:
        store.close()
    print(f"forgot {host}: {removed} rows deleted")
    return 0


@common.command(
    cli,
    "history",
    "show the recent runs of one host, its events, or its figures hour by hour",
    "Each attempt with its outcome, error, CPU % and memory %, newest first; with "
    "--events, the host's stored security events instead; with --hourly, one row per "
    "hour of the last --since (7d): the mean CPU %, memory % and load of its samples and "
    "its fullest disk, from the hourly rollups (kept for retain-rollups, a year) and the "
    "newest samples.",
    [
        "fleetstat history web01 --config clients.xml",
        "fleetstat history 10.0.0.5 --limit 100",
        "fleetstat history web01 --events",
        "fleetstat history web01 --hourly --since 30d --json",
    ],
)
@click.argument("host", metavar="HOST")
@common.target_options()
@click.option("--limit", type=click.IntRange(min=1), default=20, metavar="N", help="how many rows")
@click.option("--events", is_flag=True, help="the security events, newest first")
@click.option("--hourly", is_flag=True, help="the figures hour by hour, newest first")
@click.option("--since", metavar="DURATION", help="with --hourly: how far back (7d, 36h, 30d)")
@common.json_option()
def history(  # noqa: PLR0917 (the command's options)
    target: Target,
    host: str,
    limit: int,
    events: bool,
    hourly: bool,
    since: str | None,
    as_json: bool,
) -> int:
    from fleetstat.cli import report
    from fleetstat.store import Store

    if since is not None and not hourly:
        raise click.UsageError("--since goes with --hourly")
    if events and hourly:
        raise click.UsageError("give --events or --hourly, not both")
    settings = target.settings()
    store = Store.open_existing(settings.db, timeout=settings.db_timeout)
    try:
        if hourly:
            hours = store.hourly(host, *_window(since or "7d"))
            return _show(host, as_json, "samples", hours, report.hourly_table)
        if events:
            found = store.events_of_host(host, limit=limit)
            return _show(host, as_json, "security events", found, report.events_table)
        attempts = store.history(host, limit=limit)
        return _show(host, as_json, "runs", attempts, report.history_table)
    finally:
        store.close()


def _window(since: str) -> tuple[datetime, datetime]:
    """[now - since, now) in UTC."""
    from fleetstat import config

    now = utcnow()
    return now - timedelta(seconds=config.parse_duration(since, what="--since")), now


def _show(
    host: str, as_json: bool, what: str, rows: Sequence[object], text: Callable[..., str]
) -> int:
    """Print ``rows`` as JSON or as ``text(rows)``; 1 when there are none."""
    from fleetstat.cli import report

    if as_json:
        report.dump_json(rows)
        return 0
    if not rows:
        print(f"no {what} recorded for {host!r} (give its name, IP or ip:port)")
        return 1
    print(text(rows))
    return 0
