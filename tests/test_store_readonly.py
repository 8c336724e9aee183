"""Opening an existing database read-only, on real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from fleetstat.core.errors import NoDatabase, StoreError
from fleetstat.store import Store
from tests.support import answers

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_an_existing_database_is_read_and_never_written(db_url: str) -> None:
    writer = Store.open(db_url)
    run_id = writer.start_run(T0)
    writer.record(run_id, answers.ok_result(T0, answers.answer(T0)), T0)
    writer.close()
    reader = Store.open_existing(db_url)
    try:
        assert [row.name for row in reader.latest_hosts()] == [answers.client().name]
        with pytest.raises(StoreError), reader.session() as session:
            session.execute(text("DELETE FROM hosts"))
        assert len(reader.latest_hosts()) == 1
    finally:
        reader.close()


def test_an_empty_database_is_no_database_and_stays_empty(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
        Store.open(db_url, create=False).close()  # an empty SQLite file
    with pytest.raises(NoDatabase, match="holds no fleetstat tables") as caught:
        Store.open_existing(db_url)
    assert "fleetstat db upgrade" in str(caught.value)
    probe = Store.open(db_url, create=False)
    try:
        assert inspect(probe.engine).get_table_names() == []
    finally:
        probe.close()


def test_a_missing_sqlite_file_is_no_database_and_nothing_is_made(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "fleetstat.db"
    with pytest.raises(NoDatabase, match="the file does not exist") as caught:
        Store.open_existing(f"sqlite:///{path}")
    assert "--config" in str(caught.value)
    assert not path.parent.exists()
