"""``fleetstat check-config``: validate a config without connecting to anything."""

from __future__ import annotations

from pathlib import Path

import click

from fleetstat.cli import cli, common


@common.command(
    cli,
    "check-config",
    "validate a config without connecting to anything",
    "Reads the XML with a hardened parser and checks every element and attribute. Every "
    "problem of the file is reported in one run, each with the file, the line and the fix. "
    "--show prints what one client ends up with (its group's values folded in) and where "
    "each value came from.",
    [
        "fleetstat check-config clients.xml",
        "fleetstat check-config clients.xml --show web1 --show 10.0.0.12",
    ],
    tail="\b\nexit status: 0 valid, 2 not valid",
)
@click.argument("file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--show",
    "shown",
    multiple=True,
    metavar="CLIENT",
    help="show one client's values and where each came from (its name, ip or ip:port); "
    "may be given again",
)
def check_config(file: Path, shown: tuple[str, ...]) -> int:
    from fleetstat import config
    from fleetstat.core import dburl

    built = config.load_built(file)
    dburl.check(built.config.settings.db, str(file))
    from fleetstat.ssh import certificates

    expiring = certificates.expiring(list(built.config.clients))
    for warning in (*built.config.warnings, *config.unreadable(built.config), *expiring):
        common.warn(f"warning: {warning}")
    for which in shown:
        print(config.show(built, which))
    if not shown:
        print(config.describe(built.config))
    return 0
