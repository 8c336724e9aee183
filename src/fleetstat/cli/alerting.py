"""``fleetstat alerts``, ``alerts ack`` and ``silence …``: what fires, and what an admin says.

The logic is in ``fleetstat.alerting.silences``; here only the arguments and the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Group, Target
from fleetstat.core.clock import utcnow

if TYPE_CHECKING:
    from fleetstat.store import Store


def writable(target: Target) -> Store:
    """The database of ``target`` to write to: it must already be fleetstat's (NoDatabase)."""
    from fleetstat.store import Store

    url = target.settings().db
    Store.open_existing(url).close()
    return Store.open(url, create=False)


@cli.group(
    "alerts",
    cls=Group,
    invoke_without_command=True,
    no_args_is_help=False,
    help=common.help_text(
        "show what is firing and pending now",
        "One row per alert that is not ok: host, rule, state, since when, value, limit, and "
        "whether a silence covers it or someone acknowledged it.",
        ["fleetstat alerts --config clients.xml", "fleetstat alerts --json | jq ."],
    ),
    short_help="show what is firing and pending now",
)
@common.target_options()
@common.json_option()
@click.pass_context
def alerts(ctx: click.Context, target: Target, as_json: bool) -> int:
    if ctx.invoked_subcommand is not None:
        return 0
    from fleetstat.alerting import silences
    from fleetstat.cli import report
    from fleetstat.store import Store

    store = Store.open_existing(target.settings().db)
    try:
        rows = silences.current(store, utcnow())
    finally:
        store.close()
    if as_json:
        report.dump_json([row.as_json() for row in rows])
    elif rows:
        print(report.alerts_table(rows))
    else:
        print("nothing is firing or pending")
    return 0


@common.command(
    alerts,
    "ack",
    "acknowledge a firing alert: no more reminders until it resolves",
    "The alert keeps firing and shows as acknowledged in `fleetstat alerts`; its RESOLVED "
    "mail still goes out, and a new firing after that mails again.",
    ["fleetstat alerts ack db01 disk:/var --reason 'new disk on order'"],
)
@click.argument("host", metavar="HOST")
@click.argument("rule", metavar="RULE")
@click.option("--reason", metavar="TEXT", help="why, for the next admin")
@common.target_options()
def ack(target: Target, host: str, rule: str, reason: str | None) -> int:
    from fleetstat.alerting import silences

    store = writable(target)
    try:
        silences.acknowledge(store, host, rule, reason, utcnow())
    finally:
        store.close()
    print(f"acknowledged {rule} on {host}: no reminders until it resolves")
    return 0


silence = common.group(
    cli,
    "silence",
    "silence alerts of some hosts for a while (maintenance)",
    "A silenced alert still changes state and is recorded, but mails nothing; the digest "
    "counts it. When the silence ends and the alert still fires, it is mailed then.",
    ["fleetstat silence add --host 'db*' --for 2h --reason 'kernel update'"],
)


@common.command(
    silence,
    "add",
    "silence the alerts of matching hosts from now on",
    "--host is a shell pattern matched against the name, IP and ip:port; without --rule "
    "every rule of those hosts is silenced, unreachable included. Give --for or --until.",
    [
        "fleetstat silence add --host web01 --rule cpu --for 2h --reason batch",
        "fleetstat silence add --host '10.0.1.*' --until '2026-12-24 08:00' --reason move",
    ],
)
@click.option("--host", required=True, metavar="PATTERN", help="hosts: web01, 'db*', 10.0.1.*")
@click.option("--rule", metavar="TYPE", help="one rule type (disk) or rule (disk:/var)")
@click.option("--for", "for_", metavar="DURATION", help="how long: 90m, 2h, 1d")
@click.option("--until", metavar="TIME", help="until when: 2026-12-24 08:00 (UTC)")
@click.option("--reason", required=True, metavar="TEXT", help="why, for the next admin")
@common.target_options()
def add(  # noqa: PLR0917 (the options of one command)
    target: Target, host: str, rule: str | None, for_: str | None, until: str | None, reason: str
) -> int:
    from fleetstat import config
    from fleetstat.alerting import silences
    from fleetstat.cli import report
    from fleetstat.store import Store

    now = utcnow()
    for_seconds = config.parse_duration(for_, what="--for") if for_ else None
    ends = silences.end_time(now, for_seconds=for_seconds, until=until)
    store = Store.open(target.settings().db)
    try:
        row = silences.add(store, host, rule, ends, reason, now)
    finally:
        store.close()
    print(
        f"silence {row.id}: {row.host_pattern} {row.rule or 'all rules'} until {report.when(ends)}"
    )
    return 0


@common.command(
    silence,
    "list",
    "show the silences in force and to come",
    "Each with its id, host pattern, rule, start, end and reason.",
    ["fleetstat silence list --config clients.xml"],
)
@common.target_options()
@common.json_option()
def listing(target: Target, as_json: bool) -> int:
    from fleetstat.alerting import silences
    from fleetstat.cli import report
    from fleetstat.store import Store

    store = Store.open_existing(target.settings().db)
    try:
        rows = silences.listed(store, utcnow())
    finally:
        store.close()
    if as_json:
        report.dump_json(rows)
    elif rows:
        print(report.silences_table(rows))
    else:
        print("no silence in force")
    return 0


@common.command(
    silence,
    "expire",
    "end a silence now",
    "Its alerts mail again from the next pass; one that still fires is mailed then.",
    ["fleetstat silence expire 3 --config clients.xml"],
)
@click.argument("silence_id", metavar="ID", type=click.IntRange(min=1))
@common.target_options()
def expire(target: Target, silence_id: int) -> int:
    from fleetstat.alerting import silences

    store = writable(target)
    try:
        silences.expire(store, silence_id, utcnow())
    finally:
        store.close()
    print(f"silence {silence_id} ended: its alerts mail again from the next pass")
    return 0
