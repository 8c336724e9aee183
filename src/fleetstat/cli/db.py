"""``fleetstat db …``: the database schema."""

from __future__ import annotations

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target

db = common.group(
    cli,
    "db",
    "manage the database schema",
    "Alembic migrations bring the schema to this version's; `fleetstat run` does it too.",
    ["fleetstat db upgrade --db postgresql+psycopg://fleetstat@dbhost/fleetstat"],
)


@common.command(
    db,
    "upgrade",
    "bring the database schema to this version's (Alembic migrations)",
    "A first `fleetstat run` does this too; run it by hand after upgrading fleetstat when "
    "another application reads the database, to choose the moment.",
    ["fleetstat db upgrade --config /etc/fleetstat/clients.xml"],
)
@common.target_options()
def upgrade(target: Target) -> int:
    from fleetstat import report
    from fleetstat.store import Store

    settings = target.settings()
    store = Store.open(settings.db, create=False, timeout=settings.db_timeout)
    try:
        store.upgrade()
    finally:
        store.close()
    print(f"database {report.safe_url(settings.db)} is at the newest schema")
    return 0
