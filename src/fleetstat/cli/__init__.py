"""The ``fleetstat`` command (click). Thin: it parses arguments, calls the library, prints.

How to add a command
--------------------
1. Put it in the module of its group (``cli/db.py`` for ``db …``, ``cli/mail.py`` for
   ``mail …``) or in a new module ``cli/<name>.py`` listed in ``COMMAND_MODULES`` below.
2. Declare it with ``common.command(parent, name, summary, details, examples)``; a new
   group with ``common.group(cli, name, summary, details, examples)``. Every command
   has a summary, a paragraph and at least one example (the docs test checks it).
3. Take the config and database with ``@common.target_options()``: it adds the shared
   ``-c/--config`` and ``--db`` (with ``FLEETSTAT_CONFIG`` and ``FLEETSTAT_DB``) and
   passes ``target``; ``target.config()`` / ``target.settings()`` apply them.
4. Import the library (SQLAlchemy, asyncssh, rich …) inside the function, when it runs:
   ``fleetstat --help`` must not load them (``tests/test_cli_startup.py``).
5. Return the exit status (0 ok, 1 some host or mail failed, 2 usage or config, 3
   database); raise a ``FleetstatError`` for anything the user must fix. ``main`` is
   the one place that turns errors into a message and a status.
6. Document the command in ``README.md`` or ``docs/`` (``tests/test_docs.py``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from fleetstat import __version__
from fleetstat.cli.common import CONTEXT, EXIT_CODES, Group
from fleetstat.core.errors import ConfigError, FleetstatError

#: The modules that add commands to ``cli``, in the order of ``fleetstat --help``.
COMMAND_MODULES = (
    "collect",
    "worker",
    "check",
    "doctor",
    "read",
    "alerting",
    "db",
    "agent",
    "mail",
    "imports",
    "serve",
    "demo",
)


@click.group(
    "fleetstat",
    cls=Group,
    context_settings=CONTEXT,
    help=(
        "Agentless machine statistics over SSH. fleetstat uploads a small agent into a temp "
        "directory on each client of the config, runs it with the client's stock Python, reads "
        "back its encrypted answer (memory, CPU, uptime, disks, security events), stores it in "
        "a SQL database with the client's IP and mails the admins when a limit is passed."
    ),
    epilog="start with `fleetstat demo`, then `fleetstat check-config clients.xml` and "
    "`fleetstat run --config clients.xml`.\n\n" + EXIT_CODES,
)
@click.version_option(
    __version__, "--version", prog_name="fleetstat", message="%(prog)s %(version)s"
)
def cli() -> None:
    """The root group; its commands come from ``COMMAND_MODULES``."""


for _module in COMMAND_MODULES:
    importlib.import_module(f"fleetstat.cli.{_module}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; return the exit status."""
    try:
        status = cli.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="fleetstat",
            standalone_mode=False,
        )
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except ConfigError as err:
        for each in err.each():
            print(f"fleetstat: {each}", file=sys.stderr)
        if len(err.each()) > 1:
            print(f"fleetstat: {len(err.each())} problems in {err.path}", file=sys.stderr)
        return err.exit_code
    except FleetstatError as err:
        print(f"fleetstat: {explained(err)}", file=sys.stderr)
        return err.exit_code
    except click.Abort:
        print("fleetstat: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def explained(err: FleetstatError) -> str:
    """The message of ``err``, with the fix for a database failure that has a known one."""
    from fleetstat.core.errors import StoreError

    text = str(err)
    if isinstance(err, StoreError) and "fix:" not in text:
        from fleetstat.core import dburl

        fix = dburl.fix_for(err)
        if fix:
            text += f"\n  fix: {fix}"
    return text
