"""Alembic, run from code: the schema's revision history lives in ``versions/``.

``upgrade(connection)`` brings a database to the newest revision this code knows;
a database stamped with a revision this code does not know is refused.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from fleetstat.errors import StoreError

HERE = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at these migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(HERE).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The database's revision; None for a database fleetstat never created."""
    return MigrationContext.configure(connection).get_current_revision()


def check_known(connection: Connection) -> str | None:
    """The database's revision, or StoreError when it is newer than this code."""
    revision = current(connection)
    if revision is None:
        return None
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        scripts.get_revision(revision)
    except CommandError as err:
        raise StoreError(
            f"the database is at schema revision {revision!r}, newer than this fleetstat "
            f"(which knows up to {head()!r}): upgrade fleetstat, or point it at another database"
        ) from err
    return revision


def upgrade(connection: Connection) -> None:
    """Bring the database to the newest revision; a no-op when it is already there."""
    check_known(connection)
    command.upgrade(alembic_config(connection), "head")
