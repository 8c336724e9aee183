"""Real databases for the tests: SQLite, and the PostgreSQL and MariaDB servers of this machine.

Fixtures (registered for every test by ``tests/conftest.py``):

- ``db_url``: parametrized over ``sqlite``, ``postgresql`` and ``mariadb``; a URL of a
  FRESH, EMPTY database for this test alone (SQLite: a file in ``tmp_path``; the servers:
  a database with a unique name, made through the admin connection and dropped after the
  test). Pass it to ``Store.open(db_url)``. ``request.node.callspec.id`` says which one.
- ``store``: ``Store.open(db_url)`` (schema created), closed after the test.
- ``sqlite_url``: the SQLite case alone, for tests about SQLite itself; ``sqlite_store``
  a Store on it.

A server that cannot be reached skips its tests with the reason, except when ``CI`` is
set: then the test fails, because CI must run all three. The servers' admin URLs can be
moved with ``FLEETSTAT_TEST_POSTGRESQL`` and ``FLEETSTAT_TEST_MARIADB``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from fleetstat.store import Store

BACKENDS = ("sqlite", "postgresql", "mariadb")

ADMIN_URLS = {
    "postgresql": os.environ.get(
        "FLEETSTAT_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("FLEETSTAT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/"),
}

CREATE = {
    "postgresql": "CREATE DATABASE {name} ENCODING 'UTF8'",
    "mariadb": "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
}
DROP = {
    "postgresql": "DROP DATABASE IF EXISTS {name} WITH (FORCE)",
    "mariadb": "DROP DATABASE IF EXISTS {name}",
}


def admin_engine(backend: str) -> Engine:
    """An autocommit engine on the server's admin database (no pool kept)."""
    return create_engine(ADMIN_URLS[backend], isolation_level="AUTOCOMMIT", poolclass=NullPool)


@cache
def unreachable(backend: str) -> str | None:
    """Why the server of ``backend`` cannot be used, or None when it can."""
    engine = admin_engine(backend)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        return f"{backend} at {ADMIN_URLS[backend]} is not reachable: {err.__class__.__name__}"
    finally:
        engine.dispose()
    return None


def require(backend: str) -> None:
    """Skip (or, under CI, fail) the current test when the server cannot be reached."""
    reason = unreachable(backend)
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs every database)")
    pytest.skip(reason)


@contextmanager
def server_database(backend: str) -> Iterator[str]:
    """A fresh database on the ``backend`` server, dropped on exit; yields its URL."""
    require(backend)
    name = f"fleetstat_test_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(backend)
    try:
        with engine.connect() as connection:
            connection.execute(text(CREATE[backend].format(name=name)))
        yield make_url(ADMIN_URLS[backend]).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(DROP[backend].format(name=name)))
        engine.dispose()


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of ``backend`` for one test; yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'fleetstat.db'}"
        return
    with server_database(backend) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: SQLite, PostgreSQL, MariaDB in turn."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh SQLite database file (its folder not made yet)."""
    return f"sqlite:///{tmp_path / 'db' / 'fleetstat.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A Store on a fresh SQLite database, schema created; closed after the test."""
    opened = Store.open(sqlite_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A Store on a fresh database of each kind, schema created; closed after the test."""
    opened = Store.open(db_url)
    try:
        yield opened
    finally:
        opened.close()
