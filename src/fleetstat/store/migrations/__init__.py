"""The schema's revision history: Alembic migrations in ``versions/``, run from code.

Each file of ``versions/`` is named for its revision (``0007_rollups.py`` is revision
``0007``), so the revisions this code knows, and the newest, come from the file names:
a collector that opens a database already at the newest revision reads one row and
never imports Alembic. ``upgrade(connection)`` brings a database to the newest revision;
a database stamped with a revision this code does not know is refused.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from fleetstat.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).resolve().parent
#: A migration's file name: its revision, then what it does.
MIGRATION_FILE = re.compile(r"^(?P<revision>[0-9]{4})_[a-z0-9_]+\.py$")
VERSION_TABLE = "alembic_version"


@cache
def revisions() -> tuple[str, ...]:
    """Every revision this code knows, oldest first."""
    names = (MIGRATION_FILE.match(path.name) for path in (HERE / "versions").glob("*.py"))
    return tuple(sorted(match["revision"] for match in names if match))


def head() -> str:
    """The newest revision this code knows."""
    return revisions()[-1]


def current(connection: Connection) -> str | None:
    """The database's revision; None for a database fleetstat never created."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    stamped = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    found = sorted(stamped)
    if len(found) > 1:
        raise StoreError(f"the database is stamped with several schema revisions: {found}")
    return found[0] if found else None


def check_known(connection: Connection) -> str | None:
    """The database's revision, or StoreError when it is newer than this code."""
    revision = current(connection)
    if revision is not None and revision not in revisions():
        raise StoreError(
            f"the database is at schema revision {revision!r}, newer than this fleetstat "
            f"(which knows up to {head()!r}): upgrade fleetstat, or point it at another database"
        )
    return revision


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at these migrations, optionally bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Bring the database to the newest revision; a no-op when it is already there."""
    if check_known(connection) == head():
        return
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
