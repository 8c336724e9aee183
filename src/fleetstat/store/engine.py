"""Connecting: the SQLAlchemy engine of a database URL, every call on it bounded.

``make_engine(url, timeout)`` applies one bound, in seconds, to every database: the
SQLite busy timeout; PostgreSQL's connect, statement and lock timeouts, plus a client-
side ``Deadline`` (a frozen server enforces nothing); MariaDB's connect, read and write
timeouts, ``max_statement_time`` and ``innodb_lock_wait_timeout``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, StatementError
from sqlalchemy.pool import NullPool, StaticPool

from fleetstat.core.errors import StoreError
from fleetstat.store.deadline import Deadline

#: Seconds one database call may take by default (the ``db-timeout`` setting).
DEFAULT_TIMEOUT = 30.0


def parse(url: str) -> URL:
    """The parsed ``url``; StoreError when it is not a database URL."""
    try:
        return make_url(url)
    except ArgumentError as err:
        raise StoreError(f"not a database URL: {url!r} ({err})") from err


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database).expanduser()


def prepare_sqlite_file(url: URL) -> None:
    """Make the folder of a SQLite file, and the file itself readable by its owner only."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # SQLite gives its -wal and -shm files the mode of the database
            os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o600))
    except OSError as err:
        raise StoreError(f"cannot create the database {path}: {err}") from err


def identity(url: URL) -> str:
    """One name for the database of ``url``, however the URL is spelled (see Store.identity)."""
    path = sqlite_path(url)
    if path is not None:
        return f"sqlite://{path.resolve()}"
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite://{url.database or ':memory:'}"
    default_port = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(backend)
    host = (url.host or "localhost").lower()
    return f"{backend}://{host}:{url.port or default_port}/{url.database or ''}"


def lock_engine(url: URL, timeout: float) -> Engine:
    """An engine for the pass lock's own connection: the same bounds, no pool.

    Its connection is held for a whole pass, so no Deadline watches it from the pool;
    the lock bounds each of its calls itself.
    """
    if url.get_backend_name() == "postgresql":
        return create_engine(url, poolclass=NullPool, connect_args=_postgresql_args(timeout))
    return create_engine(url, poolclass=NullPool, connect_args=_mysql_args(timeout))


def make_engine(
    url: URL, timeout: float, *, readonly: bool = False
) -> tuple[Engine, Deadline | None]:
    """The engine of ``url``, each call bounded by ``timeout`` s; its Deadline, if it has one."""
    if sqlite_path(url) is not None:
        url = url.set(database=str(sqlite_path(url)))
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            engine = create_engine(url, **_sqlite_pool(url))
            event.listen(engine, "connect", _sqlite_pragmas(timeout, readonly=readonly))
            return engine, None
        if backend == "postgresql":
            engine = create_engine(url, connect_args=_postgresql_args(timeout))
            deadline = Deadline(timeout)
            deadline.install(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args=_mysql_args(timeout))
            deadline = None
        if readonly:
            event.listen(engine, "connect", _read_only_session(backend))
        return engine, deadline
    except (ArgumentError, ImportError) as err:
        raise StoreError(f"cannot use the database {url!r}: {err}") from err


def _postgresql_args(timeout: float) -> dict[str, Any]:
    """libpq's connect timeout (whole seconds, at least 2) and the server-side bounds."""
    ms = int(timeout * 1000)
    return {
        "connect_timeout": max(2, math.ceil(timeout)),
        "options": f"-c statement_timeout={ms} -c lock_timeout={ms}",
    }


def _mysql_args(timeout: float) -> dict[str, Any]:
    """PyMySQL's socket timeouts and the server-side bounds of each statement."""
    seconds = max(1, math.ceil(timeout))
    return {
        "connect_timeout": seconds,
        "read_timeout": seconds,
        "write_timeout": seconds,
        "init_command": (
            f"SET SESSION max_statement_time = {timeout:g}, innodb_lock_wait_timeout = {seconds}"
        ),
    }


def _read_only_session(backend: str) -> Any:
    """A connect hook that makes every transaction of the connection read-only."""
    statement = (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
        if backend == "postgresql"
        else "SET SESSION TRANSACTION READ ONLY"
    )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()

    return on_connect


def _sqlite_pool(url: URL) -> dict[str, Any]:
    """In-memory SQLite: one connection shared by every thread, or each sees its own database."""
    if url.database in (None, "", ":memory:"):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    return {}


def _sqlite_pragmas(busy_timeout: float, *, readonly: bool = False) -> Any:
    """A connect hook: WAL journal, foreign keys on, wait ``busy_timeout`` s for locks.

    ``synchronous = NORMAL`` is safe in WAL mode (never a corrupt file); a power cut may
    lose the last commits, not a crash of fleetstat. It saves an fsync per host result.
    A ``readonly`` connection leaves the journal mode alone and refuses every write.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if readonly:
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return on_connect


#: SQLSTATE of PostgreSQL's deadlock victim; MariaDB/MySQL's error number of one.
DEADLOCK_SQLSTATE, DEADLOCK_MYSQL = "40P01", 1213


def is_deadlock(err: BaseException) -> bool:
    """True when the database rolled back ``err``'s transaction to break a deadlock: the
    transaction did nothing and is to be tried again ("try restarting transaction")."""
    cause = getattr(err, "orig", None)
    if getattr(cause, "sqlstate", None) == DEADLOCK_SQLSTATE:
        return True
    args: tuple[object, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] == DEADLOCK_MYSQL


def reason(err: BaseException) -> str:
    """The driver's own words, first line only (no SQL, no parameters)."""
    cause: BaseException = err.orig if isinstance(err, StatementError) and err.orig else err
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__
