"""The Alembic migrations on real SQLite, PostgreSQL and MariaDB: they make what the models say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from fleetstat.core.errors import StoreError
from fleetstat.store import Store, migrations
from fleetstat.store.models import Base


def test_upgrade_of_an_empty_database_makes_exactly_the_models(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
            tables = set(inspect(connection).get_table_names())
    finally:
        store.close()

    assert differences == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_indexes_and_constraints_have_the_names_of_the_convention(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        with store.engine.connect() as connection:
            found = inspect(connection)
            indexes = {i["name"] for i in found.get_indexes("samples")}
            uniques = {u["name"] for u in found.get_unique_constraints("security_events")}
            keys = {f["name"] for f in found.get_foreign_keys("sample_disks")}
    finally:
        store.close()

    assert "ix_samples_host_id_collected_at" in indexes
    assert uniques == {"uq_security_events_host_id_source_record_id"}
    assert keys == {"fk_sample_disks_sample_id_samples"}


def test_opening_twice_leaves_the_database_at_head(db_url: str) -> None:
    Store.open(db_url).close()
    store = Store.open(db_url)
    try:
        assert store.revision() == migrations.head()
    finally:
        store.close()


def test_open_without_create_leaves_an_empty_database_empty_until_upgrade(db_url: str) -> None:
    store = Store.open(db_url, create=False)
    try:
        assert store.revision() is None
        with store.engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
        store.upgrade()
        assert store.revision() == migrations.head()
    finally:
        store.close()


def test_a_database_at_a_newer_revision_is_refused(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe9999'"))
    finally:
        store.close()

    with pytest.raises(StoreError, match="'f00dcafe9999', newer than this fleetstat"):
        Store.open(db_url)
    with pytest.raises(StoreError, match="newer"):
        Store.open(db_url, create=False)


def test_the_migrations_form_one_line_from_the_initial_schema() -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    history = list(scripts.walk_revisions())

    assert len(scripts.get_heads()) == 1
    assert history[-1].revision == "0001"
    assert history[-1].down_revision is None
    assert Path(history[-1].path).name == "0001_initial.py"


def test_each_migration_is_named_for_its_revision_and_the_newest_file_is_the_head() -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    by_file = {Path(script.path).name: script.revision for script in scripts.walk_revisions()}

    assert all(name.startswith(f"{revision}_") for name, revision in by_file.items())
    assert migrations.revisions() == tuple(sorted(by_file.values()))
    assert migrations.head() == scripts.get_current_head()


def test_opening_a_database_at_the_newest_revision_does_not_import_alembic(
    sqlite_url: str,
) -> None:
    Store.open(sqlite_url).close()
    code = (
        "import sys\n"
        "from fleetstat.store import Store\n"
        f"Store.open({sqlite_url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('alembic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
