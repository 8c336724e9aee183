"""``fleetstat import …``: a config from another tool's inventory."""

from __future__ import annotations

import os
from pathlib import Path

import click

from fleetstat.cli import cli, common

imports = common.group(
    cli,
    "import",
    "write a fleetstat config from another tool's inventory",
    "The config is written to stdout, or to --output; check it with `fleetstat check-config`.",
    ["fleetstat import ansible inventory.ini --output clients.xml"],
)


@common.command(
    imports,
    "ansible",
    "a config from an Ansible inventory (INI or YAML)",
    "Carries over ansible_host, ansible_port, ansible_user, ansible_password, "
    "ansible_ssh_private_key_file and ansible_python_interpreter, each Ansible group with "
    "hosts as a <group> (its [group:vars] and its parents' merged as Ansible merges them) "
    "and each host as a <client> with what differs. What cannot be carried over (vaulted or "
    "templated values, other connection types, key files that do not exist here) is said "
    "in an XML comment. The result passes check-config as written; it is written mode 0600 "
    "when it holds passwords. Relative key files start at the current directory, as for "
    "ansible.",
    [
        "fleetstat import ansible hosts.ini",
        "fleetstat import ansible inventory.yml --output clients.xml",
    ],
)
@click.argument("inventory", metavar="INVENTORY", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--output",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write the config here instead of stdout (mode 0600)",
)
def ansible(inventory: Path, output: Path | None) -> int:
    from fleetstat import config
    from fleetstat.config import importer

    imported = importer.import_ansible(inventory)
    config.parse(imported.text.encode(), output or Path.cwd() / "clients.xml", {})
    if output is None:
        click.echo(imported.text, nl=False)
    else:
        _write_private(output, imported.text)
    summary = f"{_count(imported.clients, 'client')} in {_count(imported.groups, 'group')}"
    notes = f"; {_count(len(imported.notes), 'note')} in XML comments" if imported.notes else ""
    common.warn(
        f"{summary} from {inventory}{notes}" + (f" (written to {output})" if output else "")
    )
    if imported.passwords:
        common.warn(
            f"warning: {_count(imported.passwords, 'client')} with a password from the "
            "inventory: keep the config mode 0600, or move the passwords to password-env"
        )
    return 0


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"
