"""``fleetstat doctor``: what each client lacks, and the fix, from one quick look each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target

if TYPE_CHECKING:
    from fleetstat.collect.doctor import Diagnosis


@common.command(
    cli,
    "doctor",
    "what fleetstat can and cannot do on each client, and the fix",
    "Logs in to each client (or those named) once, as a pass would — through its bastion, "
    "with its key or certificate — and runs one probe in /bin/sh: no agent, nothing "
    "written. It reports the login and its certificate's end, the path, the login shell, "
    "Python and its version, whether the temp folder is writable, and how the security "
    "log can be read (the journal, through become, an auth file), each with the exact fix.",
    [
        "fleetstat doctor --config clients.xml",
        "fleetstat doctor --config clients.xml web1 10.0.0.12 --json",
    ],
    tail="\b\nexit status: 0 every check fine, 1 something to fix, 2 bad usage or config",
)
@common.target_options(config_required=True)
@click.argument("names", nargs=-1, metavar="[CLIENT]...")
@common.json_option("print the findings as JSON")
def doctor(target: Target, names: tuple[str, ...], as_json: bool) -> int:
    import asyncio

    from fleetstat import config
    from fleetstat.cli import report
    from fleetstat.collect import doctor as checks

    loaded = config.with_passwords(target.config(uses_db=False))
    built = config.load_built(loaded.path)
    clients = [config.find(built, name) for name in names] if names else list(loaded.clients)
    by_address = {client.address: client for client in loaded.clients}
    clients = [by_address[client.address] for client in clients]
    found = asyncio.run(checks.diagnose(clients, loaded.settings))
    if as_json:
        report.dump_json([diagnosis.as_json() for diagnosis in found])
    else:
        print(_table(found))
    return 0 if all(diagnosis.ok for diagnosis in found) else 1


def _table(found: list[Diagnosis]) -> str:
    """One block per client: a line per check, ``ok`` or ``FIX`` and what to do."""
    lines = []
    for diagnosis in found:
        lines.append(f"{diagnosis.client} ({diagnosis.address})")
        for check in diagnosis.checks:
            status = "ok " if check.ok else "FIX"
            lines.append(f"  {check.name:<8} {status}  {check.found}")
            if check.fix:
                lines.append(f"  {'':<8}      fix: {check.fix}")
    return "\n".join(lines)
