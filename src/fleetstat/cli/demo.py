"""``fleetstat demo``: a whole run on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from fleetstat.cli import cli, common


@common.command(
    cli,
    "demo",
    "a whole run on this machine: local SSH and SMTP servers, three clients",
    "Starts an SSH server and an SMTP server inside this process, on loopback only, writes a "
    "config in the seed format with three clients on 127.0.0.2-127.0.0.4, and runs one real "
    "pass through the same code as `fleetstat run`: upload, agent, encryption, SQLite, "
    "alerts, outbox, SMTP. Needs no sshd and no root.",
    [
        "fleetstat demo",
        "fleetstat demo --keep   # leave the servers up",
        "fleetstat demo --serve  # then the web page on http://127.0.0.1:8470/",
    ],
)
@click.option(
    "--dir",
    "folder",
    default="fleetstat-demo",
    metavar="DIR",
    type=click.Path(path_type=Path, file_okay=False),
    help="where to put the config, database and mails",
)
@click.option("--keep", is_flag=True, help="keep the servers running until Ctrl-C")
@click.option(
    "--serve",
    "listen",
    is_flag=False,
    flag_value="127.0.0.1:8470",
    default=None,
    metavar="HOST:PORT",
    help="then serve the web page over the demo's database until Ctrl-C (default "
    "127.0.0.1:8470), with a password it prints",
)
def demo(folder: Path, keep: bool, listen: str | None) -> int:
    from fleetstat.cli import demofleet as demonstration

    return demonstration.main(folder, keep=keep, serve=listen)
