"""``fleetstat check-config``: validate a config without connecting to anything."""

from __future__ import annotations

from pathlib import Path

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target


@common.command(
    cli,
    "check-config",
    "validate a config without connecting to anything",
    "Reads the XML with a hardened parser and checks every element and attribute. An error "
    "names the file, the line and the fix.",
    ["fleetstat check-config clients.xml"],
    tail="\b\nexit status: 0 valid, 2 not valid",
)
@click.argument("file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False))
def check_config(file: Path) -> int:
    from fleetstat import config

    print(config.describe(Target(file, None).config()))
    return 0
