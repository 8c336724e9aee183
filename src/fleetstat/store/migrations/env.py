"""Alembic's entry point: always given a connection by ``fleetstat.store.migrations``."""

from __future__ import annotations

from alembic import context

from fleetstat.store.models import Base


def run_migrations_online() -> None:
    """Run the migrations on the connection handed over in ``config.attributes``."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("fleetstat migrations run online only: use `fleetstat db upgrade`")
run_migrations_online()
