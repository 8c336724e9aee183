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


@common.command(
    db,
    "close-runs",
    "close the runs a collector left open when it was killed",
    "A collector killed mid-pass (SIGKILL, a crash, its machine down) leaves its run open. "
    "Every pass closes such runs first; this does it now. It waits for the pass lock, so it "
    "never touches a live pass. Each client of the config that the run had not stored gets "
    "an `interrupted` attempt, then the run its counts.",
    ["fleetstat db close-runs --config /etc/fleetstat/clients.xml"],
)
@common.target_options()
def close_runs(target: Target) -> int:
    import asyncio

    from fleetstat.collect import job
    from fleetstat.store import Store

    loaded = target.config()
    store = Store.open(loaded.settings.db, create=False, timeout=loaded.settings.db_timeout)

    async def close() -> list[tuple[int, int, int]]:
        async with job.pass_lock(store):
            return await asyncio.to_thread(job.close_dead_runs, store, loaded)

    try:
        closed = asyncio.run(close())
    finally:
        store.close()
    for run_id, total, ok in closed:
        print(f"closed run {run_id}: {total} hosts, {ok} ok, the rest interrupted")
    if not closed:
        print("no run was left open")
    return 0
