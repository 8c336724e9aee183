"""``fleetstat db …``: the database schema."""

from __future__ import annotations

import click

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
    from fleetstat.cli import report
    from fleetstat.store import Store

    settings = target.settings()
    store = Store.open(settings.db, create=False, timeout=settings.db_timeout)
    try:
        store.upgrade()
    finally:
        store.close()
    print(f"database {report.safe_url(settings.db)} is at the newest schema")
    return 0


@common.command(
    db,
    "prune",
    "delete what is older than its retention (the retain-* settings)",
    "Rolls up every completed hour first, so no figure's history is lost; then deletes old "
    "samples, rollups, attempts, security events and sent mail in short batches. Every pass "
    "already does a little of this; this does all of it now.",
    ["fleetstat db prune --config /etc/fleetstat/clients.xml --dry-run"],
)
@common.target_options()
@click.option("--dry-run", is_flag=True, help="only count what would be deleted")
def prune(target: Target, dry_run: bool) -> int:
    from datetime import UTC, datetime

    from fleetstat.cli import report
    from fleetstat.store import Store
    from fleetstat.store.retention import Retention

    settings = target.settings()
    Store.open_existing(settings.db).close()  # a typo in --db must not make a new database
    store = Store.open(settings.db, create=False)
    try:
        now = datetime.now(UTC)
        rolled = 0 if dry_run else store.roll_up(now, everything=True)
        counts = store.prune(Retention.of(settings), now, dry_run=dry_run)
    finally:
        store.close()
    print(report.prune_table(counts, dry_run=dry_run, rolled_up=rolled))
    return 0
