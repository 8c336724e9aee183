"""The database: one ``Store`` per process, one transaction per host result.

``Store.open(url)`` connects (SQLite by default, PostgreSQL, MariaDB/MySQL) and brings
the schema to the newest revision; every database failure comes out as ``StoreError``
with the original exception as its cause. The tables are in ``models`` and documented
in ``docs/schema.md``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from fleetstat import model
from fleetstat.errors import NoDatabase, StoreError
from fleetstat.store import migrations, queries, writes
from fleetstat.store.queries import AttemptRow, HostRow

__all__ = ["AttemptRow", "HostRow", "NoDatabase", "Store"]

#: Seconds a SQLite writer waits for another writer's lock before giving up.
DEFAULT_BUSY_TIMEOUT = 30.0


class Store:
    """The fleetstat database. Make one with ``Store.open(url)``; ``close()`` it at the end."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # ------------------------------------------------------------ connecting

    @classmethod
    def open(
        cls, url: str, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> Store:
        """Connect to ``url`` and, with ``create``, bring the schema to the newest revision.

        SQLite: the file's folder is made, WAL mode, foreign keys on, ``busy_timeout``
        seconds of waiting on a lock. Without ``create`` the schema is left as it is (for
        ``fleetstat db upgrade``). A database newer than this code is always refused.
        """
        parsed = _parse(url)
        _prepare_sqlite_folder(parsed)
        store = cls(_engine(parsed, busy_timeout))
        try:
            if create:
                store.upgrade()
            else:
                store.revision()
        except StoreError:
            store.close()
            raise
        return store

    @classmethod
    def open_existing(cls, url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Store:
        """Open, read-only, a database that already holds fleetstat's newest schema.

        Nothing is created or migrated: a missing SQLite file, a database without
        fleetstat's tables, or one at an older revision raise ``NoDatabase`` with a hint;
        every transaction is read-only (SQLite ``query_only``, PostgreSQL and MariaDB
        read-only sessions).
        """
        parsed = _parse(url)
        path = _sqlite_path(parsed)
        if path is not None and not path.is_file():
            raise NoDatabase(_no_database(url, "the file does not exist"))
        store = cls(_engine(parsed, busy_timeout, readonly=True))
        try:
            store._require_head(url)
        except StoreError:
            store.close()
            raise
        return store

    def _require_head(self, url: str) -> None:
        """NoDatabase unless the database is at the newest revision this code knows."""
        revision = self.revision()
        if revision is None:
            raise NoDatabase(_no_database(url, "it holds no fleetstat tables"))
        if revision != migrations.head():
            raise NoDatabase(
                _no_database(url, f"its schema is at revision {revision}, older than this code")
            )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for the queries of other parts and for tests)."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with any password hidden, for messages."""
        return self._engine.url.render_as_string(hide_password=True)

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (``fleetstat db upgrade``)."""
        with self._translating("upgrading the schema of"), self._engine.begin() as connection:
            migrations.upgrade(connection)

    def revision(self) -> str | None:
        """The schema revision of the database (None when empty); StoreError when newer."""
        with self._translating("reading the schema revision of"), self._engine.connect() as conn:
            return migrations.check_known(conn)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end, rolled back on any error."""
        with self._translating("using"), self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # ------------------------------------------------------------ writes

    def start_run(self, now: datetime, collector: str | None = None) -> int:
        """Record the start of a run at ``now`` (by ``collector``, this machine's name); its id."""
        with self.session() as session:
            return writes.start_run(session, now, collector or socket.gethostname())

    def finish_run(self, run_id: int, now: datetime, total: int, ok: int) -> None:
        """Record the end of run ``run_id``: ``total`` hosts tried, ``ok`` of them answered."""
        with self.session() as session:
            writes.finish_run(session, run_id, now, total, ok)

    def record(
        self,
        run_id: int,
        result: model.HostResult,
        now: datetime,
        then: Callable[[Session, int], object] | None = None,
    ) -> int:
        """Store one host's result of run ``run_id`` in one transaction; the host's id.

        Writes the host, the attempt and, when ok, the sample with its disks, the new
        security events (a record already stored is skipped) and the new event cursor.
        ``then(session, host_id)`` runs last in the same transaction (the alert states
        and mail items of the result): all of it commits, or none.
        """
        with self.session() as session:
            host_id = writes.record(session, run_id, result, now)
            if then is not None:
                then(session, host_id)
            return host_id

    # ------------------------------------------------------------ reads

    def cursors(self) -> dict[str, dict[str, Any]]:
        """Address (``ip:port``) → the event cursor of the host's last stored answer."""
        with self._reading() as session:
            return queries.cursors(session)

    def latest_hosts(self) -> list[HostRow]:
        """Every host with its last outcome and the figures of its last sample, by name."""
        with self._reading() as session:
            return queries.latest_hosts(session)

    def history(self, host: str, limit: int = 20) -> list[AttemptRow]:
        """The last ``limit`` attempts of ``host`` (name, IP or ``ip:port``), newest first."""
        with self._reading() as session:
            return queries.history(session, host, limit)

    def events_of_run(self, run_id: int, host_id: int) -> list[model.Event]:
        """The security events run ``run_id`` stored for host ``host_id``, oldest first."""
        with self._reading() as session:
            return queries.events_of_run(session, run_id, host_id)

    def events_of_host(self, host: str, limit: int = 50) -> list[model.Event]:
        """The newest ``limit`` security events of ``host`` (name, IP or ``ip:port``)."""
        with self._reading() as session:
            return queries.events_of_host(session, host, limit)

    def previous_ok_at(self, host_id: int, before_run_id: int) -> datetime | None:
        """When host ``host_id`` last answered in a run before ``before_run_id`` (UTC)."""
        with self._reading() as session:
            return queries.previous_ok_at(session, host_id, before_run_id)

    # ------------------------------------------------------------ errors

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._translating("reading from"), self._sessions() as session:
            yield session

    @contextmanager
    def _translating(self, action: str) -> Iterator[None]:
        """Turn any database failure into a StoreError that names the database."""
        try:
            yield
        except SQLAlchemyError as err:
            raise StoreError(f"{action} the database {self.url} failed: {_reason(err)}") from err


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as err:
        raise StoreError(f"not a database URL: {url!r} ({err})") from err


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database).expanduser()


def _prepare_sqlite_folder(url: URL) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the folder of the database {path}: {err}") from err


def _no_database(url: str, why: str) -> str:
    shown = _parse(url).render_as_string(hide_password=True)
    return (
        f"no fleetstat database at {shown}: {why}\n"
        "  fix: name the database the collector writes with --config CLIENTS.XML or --db URL "
        "(or FLEETSTAT_DB); to create or update it, run: fleetstat db upgrade --db URL"
    )


def _engine(url: URL, busy_timeout: float, *, readonly: bool = False) -> Engine:
    if _sqlite_path(url) is not None:
        url = url.set(database=str(_sqlite_path(url)))
    try:
        backend = url.get_backend_name()
        if backend == "sqlite":
            engine = create_engine(url, **_sqlite_pool(url))
            event.listen(engine, "connect", _sqlite_pragmas(busy_timeout, readonly=readonly))
            return engine
        engine = create_engine(url, pool_pre_ping=True)
        if readonly:
            event.listen(engine, "connect", _read_only_session(backend))
        return engine
    except (ArgumentError, ImportError) as err:
        raise StoreError(f"cannot use the database {url!r}: {err}") from err


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


def _reason(err: SQLAlchemyError) -> str:
    """The driver's own words, first line only (no SQL, no parameters)."""
    cause: BaseException = err.orig if isinstance(err, DBAPIError) and err.orig else err
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__
