"""Locks of one database: one pass at a time, and one migration at a time.

The pass lock is the database's own on PostgreSQL (a session advisory lock) and MariaDB
(``GET_LOCK``), so it holds across machines and however the URL is spelled; the holder
writes who it is (host, pid, since) into ``pass_holder`` for those who wait. SQLite keeps
a file lock (``flock``) on ``<database file>.pass-lock`` beside the resolved database
file, holding the same three facts. Each lock is tried without waiting: the caller polls.

Migrations run under ``pg_advisory_xact_lock`` / ``GET_LOCK`` too, so two collectors that
open one fresh database at once do not both create the tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from fleetstat.core.errors import StoreError
from fleetstat.store.deadline import Deadline
from fleetstat.store.models import PassHolder

PASS = "pass"
#: Seconds a collector waits for another's migration of the same MariaDB database, and
#: between two tries (each try returns at once, within any read timeout).
MIGRATION_WAIT = 300
MIGRATION_POLL = 0.2


@dataclass(frozen=True)
class Holder:
    """Who holds a pass lock: the machine, its process id, and since when (UTC)."""

    host: str
    pid: int
    since: datetime

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since:%Y-%m-%d %H:%M:%S} UTC"

    @classmethod
    def me(cls) -> Holder:
        """This process, now."""
        return cls(socket.gethostname(), os.getpid(), datetime.now(UTC))


class PassLock(Protocol):
    """A lock tried without waiting."""

    def try_acquire(self) -> Holder | None:
        """Take the lock: None when taken, else who holds it (``Holder``, maybe unknown)."""

    def release(self) -> None:
        """Give the lock back (never blocks past the database bound)."""


UNKNOWN = Holder("an unknown host", 0, datetime.fromtimestamp(0, UTC))


def _key(dialect: str, database: str) -> Any:
    """The lock's key: a 64-bit number (PostgreSQL, per database already) or a name."""
    digest = hashlib.sha256(f"fleetstat.pass/{database}".encode()).digest()
    if dialect == "postgresql":
        return int.from_bytes(digest[:8], "big", signed=True)
    return f"fleetstat.pass.{digest.hex()[:32]}"  # MariaDB's lock names are server-wide


class ServerLock:
    """The pass lock of a PostgreSQL or MariaDB database, on a connection of its own."""

    def __init__(self, engine: Engine, deadline: Deadline | None) -> None:
        """``engine`` keeps no pool and watches nothing: ``deadline`` bounds each call here."""
        self._engine = engine
        self._deadline = deadline
        self._dialect = engine.dialect.name
        self._key = _key(self._dialect, engine.url.database or "")
        self._connection: Connection | None = None

    def try_acquire(self) -> Holder | None:
        """Take the database lock and write who holds it; or read who does."""
        with self._bounded() as connection:
            if self._dialect == "postgresql":
                taken = connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            else:
                taken = connection.scalar(text("SELECT GET_LOCK(:k, 0)"), {"k": self._key})
            if taken:
                _write_holder(connection, Holder.me())
                return None
            return _read_holder(connection)

    def release(self) -> None:
        """Clear the holder and unlock; a connection that is gone took its lock with it."""
        if self._connection is None:
            return
        with contextlib.suppress(SQLAlchemyError, StoreError), self._bounded() as connection:
            connection.execute(delete(PassHolder).where(PassHolder.name == PASS))
            connection.commit()
            unlock = "pg_advisory_unlock" if self._dialect == "postgresql" else "RELEASE_LOCK"
            connection.scalar(text(f"SELECT {unlock}(:k)"), {"k": self._key})
        self._close()

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[Connection]:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            connection = self._connection
            raw = connection.connection.dbapi_connection
            watch = self._deadline.watching(raw) if self._deadline else contextlib.nullcontext()
            with watch:
                yield connection
                connection.commit()
        except SQLAlchemyError as err:
            self._close()
            url = self._engine.url.render_as_string(hide_password=True)
            raise StoreError(f"taking the pass lock of the database {url} failed: {err}") from err

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None


def _write_holder(connection: Connection, holder: Holder) -> None:
    connection.execute(delete(PassHolder).where(PassHolder.name == PASS))
    connection.execute(
        insert(PassHolder).values(name=PASS, host=holder.host, pid=holder.pid, since=holder.since)
    )


def _read_holder(connection: Connection) -> Holder:
    row = connection.execute(
        select(PassHolder.host, PassHolder.pid, PassHolder.since).where(PassHolder.name == PASS)
    ).one_or_none()
    return Holder(row.host, row.pid, row.since) if row else UNKNOWN


class FileLock:
    """The pass lock of a SQLite database: ``flock`` on a file beside it, holding who."""

    def __init__(self, database: Path) -> None:
        self.path = database.resolve().with_name(database.resolve().name + ".pass-lock")
        self._handle: IO[str] | None = None

    def try_acquire(self) -> Holder | None:
        """Take the file lock and write who holds it; or read who does."""
        handle = self._open()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return self._holder()
        me = Holder.me()
        handle.seek(0)
        handle.truncate()
        handle.write(f"{me.host} {me.pid} {me.since.isoformat()}\n")
        handle.flush()
        self._handle = handle
        return None

    def release(self) -> None:
        """Clear the holder and unlock."""
        if self._handle is None:
            return
        self._handle.truncate(0)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def _open(self) -> IO[str]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise StoreError(f"cannot open the pass lock {self.path}: {err}") from err
        return os.fdopen(fd, "r+", encoding="utf-8")

    def _holder(self) -> Holder:
        try:
            host, pid, since = self.path.read_text(encoding="utf-8").split()
            return Holder(host, int(pid), datetime.fromisoformat(since))
        except (OSError, ValueError):
            return UNKNOWN


class NoLock:
    """In-memory SQLite: only this process sees the database, so there is nothing to lock."""

    def try_acquire(self) -> Holder | None:
        """Always taken."""
        return None

    def release(self) -> None:
        """Nothing to give back."""


@contextlib.contextmanager
def migrating(engine: Engine) -> Iterator[Connection]:
    """A transaction on ``engine`` under the database's migration lock, held past its commit.

    PostgreSQL: ``pg_advisory_xact_lock``, released by the commit itself. MariaDB:
    ``GET_LOCK`` on the same connection, released after the commit. SQLite: ``flock`` on
    ``<database file>.migrate-lock``. So a second collector reads the revision only once
    the first one's migration is committed.
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with engine.begin() as connection:
            key = {"k": _key(dialect, "migrate")}
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)
            yield connection
        return
    if dialect == "sqlite":
        with _sqlite_migration_lock(engine.url.database), engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection, _mariadb_lock(connection), connection.begin():
        yield connection


@contextlib.contextmanager
def _mariadb_lock(connection: Connection) -> Iterator[None]:
    """``GET_LOCK`` of this database's migrations, tried until it is free (each try at once)."""
    name = {"k": _key(connection.dialect.name, f"migrate/{connection.engine.url.database}")}
    give_up = time.monotonic() + MIGRATION_WAIT
    while connection.scalar(text("SELECT GET_LOCK(:k, 0)"), name) != 1:
        connection.commit()
        if time.monotonic() > give_up:
            raise StoreError(f"another collector has been migrating for {MIGRATION_WAIT} s")
        time.sleep(MIGRATION_POLL)
    connection.commit()
    try:
        yield
    finally:
        connection.scalar(text("SELECT RELEASE_LOCK(:k)"), name)
        connection.commit()


@contextlib.contextmanager
def _sqlite_migration_lock(database: str | None) -> Iterator[None]:
    """``flock`` on ``<database file>.migrate-lock``; in-memory SQLite needs none."""
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = Path(database).resolve()
    fd = os.open(path.with_name(path.name + ".migrate-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
