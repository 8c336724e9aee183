"""``fleetstat agent …``: the client script that fleetstat uploads."""

from __future__ import annotations

from pathlib import Path

import click

from fleetstat.cli import cli, common

agent = common.group(
    cli,
    "agent",
    "the client script that fleetstat uploads",
    "The agent is stdlib-only Python 3.6+; this writes the very file a pass uploads.",
    ["fleetstat agent build --output agent.pyz && python3 agent.pyz < request.json"],
)


@common.command(
    agent,
    "build",
    "write the exact agent.pyz that is uploaded to clients",
    "Two builds of the same version are byte-identical, so the file can be reviewed and its "
    "sha256 compared.",
    ["fleetstat agent build --output agent.pyz && sha256sum agent.pyz"],
)
@click.option(
    "--output",
    required=True,
    metavar="PATH",
    type=click.Path(path_type=Path, dir_okay=False),
    help="where to write agent.pyz",
)
def build(output: Path) -> int:
    from fleetstat.collect import payload

    payload.write_agent(output)
    size = output.stat().st_size
    print(f"wrote {output} ({size} bytes, sha256 {payload.agent_digest()})")
    return 0
