"""The database: one ``Store`` per process, one transaction per host result.

``Store.open(url)`` connects (SQLite by default, PostgreSQL, MariaDB/MySQL) and brings
the schema to the newest revision; every database failure comes out as ``StoreError``
with the original exception as its cause. The tables are in ``models`` and documented
in ``docs/schema.md``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from fleetstat.core import cpurate, model
from fleetstat.core.errors import NoDatabase, StoreError, StoreUnavailable, UsageError
from fleetstat.store import engine as engines
from fleetstat.store import (
    locks,
    migrations,
    queries,
    refusal,
    retention,
    retired,
    series,
    writes,
)
from fleetstat.store.deadline import Deadline
from fleetstat.store.engine import DEFAULT_TIMEOUT
from fleetstat.store.queries import AttemptRow, HostRow
from fleetstat.store.writes import Recorded

__all__ = [
    "DEFAULT_TIMEOUT",
    "AttemptRow",
    "HostRow",
    "NoDatabase",
    "Recorded",
    "Store",
    "StoreUnavailable",
    "Then",
]

#: What ``Store.record`` runs last inside a host's transaction: (session, what was recorded).
Then = Callable[[Session, Recorded], object]

log = logging.getLogger(__name__)

#: Failures that say the database is away (down, frozen, unreachable), not that it refused.
AWAY = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
#: Tries of a host result's transaction that keeps losing deadlocks.
DEADLOCK_TRIES = 3


class Store:
    """The fleetstat database. Make one with ``Store.open(url)``; ``close()`` it at the end."""

    def __init__(self, engine: Engine, deadline: Deadline | None = None) -> None:
        self._engine = engine
        self._deadline = deadline
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # ------------------------------------------------------------ connecting

    @classmethod
    def open(cls, url: str, *, create: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Store:
        """Connect to ``url`` and, with ``create``, bring the schema to the newest revision.

        Every database call is bounded by ``timeout`` seconds (``db-timeout``); one that
        takes longer is a ``StoreUnavailable`` naming the database. SQLite: the file is
        made readable by its owner only, in a folder made as needed; WAL mode, foreign
        keys on. Without ``create`` the schema is left as it is (for ``fleetstat db
        upgrade``). A database newer than this code is always refused.
        """
        parsed = engines.parse(url)
        engines.prepare_sqlite_file(parsed)
        store = cls(*engines.make_engine(parsed, timeout))
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
    def open_existing(
        cls, url: str, *, timeout: float = DEFAULT_TIMEOUT, readonly: bool = True
    ) -> Store:
        """Open a database that already holds fleetstat's newest schema.

        Nothing is created or migrated: a missing SQLite file, a database without
        fleetstat's tables, or one at an older revision raise ``NoDatabase`` with a hint.
        With ``readonly`` every transaction is read-only (SQLite ``query_only``,
        PostgreSQL and MariaDB read-only sessions); the web page opens one store so for
        its reads and one without, for its logins (``store.logins``) alone.
        """
        parsed = engines.parse(url)
        path = engines.sqlite_path(parsed)
        if path is not None and not path.is_file():
            raise NoDatabase(_no_database(url, "the file does not exist"))
        store = cls(*engines.make_engine(parsed, timeout, readonly=readonly))
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

    @property
    def identity(self) -> str:
        """The database as one name however its URL is spelled: the resolved SQLite file, or
        ``backend://host:port/database`` (no user, no password)."""
        return engines.identity(self._engine.url)

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (``fleetstat db upgrade``).

        Under the database's migration lock: of two collectors opening one fresh database
        at once, one migrates and the other then finds it at the newest revision.
        """
        with (
            self._translating("upgrading the schema of"),
            locks.migrating(self._engine) as connection,
        ):
            migrations.upgrade(connection)

    def pass_lock(self) -> locks.PassLock:
        """The lock that lets one pass at a time write this database (tried, not waited for)."""
        path = engines.sqlite_path(self._engine.url)
        if path is not None:
            return locks.FileLock(path)
        if self._engine.dialect.name == "sqlite":
            return locks.NoLock()
        timeout = self._deadline.seconds if self._deadline else DEFAULT_TIMEOUT
        engine = engines.lock_engine(self._engine.url, timeout)
        return locks.ServerLock(engine, self._deadline)

    def revision(self) -> str | None:
        """The schema revision of the database (None when empty); StoreError when newer."""
        with self._translating("reading the schema revision of"), self._engine.connect() as conn:
            return migrations.check_known(conn)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end, rolled back on any error."""
        with self._translating("using"), self._sessions.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for many small reads (the web page's). On PostgreSQL without JIT: the
        reads are index probes, and compiling them (tens of ms a query) costs more than
        it saves."""
        with self.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SET LOCAL jit = off"))
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

    def open_runs(self) -> list[tuple[int, datetime]]:
        """(id, started_at) of every run not yet finished, oldest first."""
        with self._reading() as session:
            return writes.open_runs(session)

    def close_run_as_found(self, run_id: int) -> tuple[int, int]:
        """Finish run ``run_id`` with the counts of its stored attempts; (total, ok)."""
        with self.session() as session:
            return writes.close_as_found(session, run_id)

    def record(
        self, run_id: int, result: model.HostResult, now: datetime, then: Then | None = None
    ) -> Recorded:
        """Store one host's result of run ``run_id`` in one transaction; what was stored.

        Writes the host, the attempt and, when ok, the sample with its disks, the new
        security events (a record already stored is skipped) and the new event cursor. A
        host this run already stored is skipped (``Recorded.new`` False). When the
        database refuses a value of the answer (a NUL byte, an overlong text, a huge
        number), that transaction is rolled back and the attempt alone is written in a
        transaction of its own, as ``store_refused`` with an error naming the value.

        ``then(session, recorded)``, when given, runs last in the same transaction (the
        alert states and mail of the result; not for a skipped duplicate): all of it
        commits, or none. ``recorded.applied_to(result)`` is the result as stored.
        """
        try:
            return self._record_retrying_deadlocks(run_id, result, now, then)
        except (SQLAlchemyError, ValueError, OverflowError) as err:
            reason = self._refusal(err, run_id, result)
            if reason is None:
                raise self._error("storing a result in", err) from err
        log.warning("%s: %s", result.client.address, reason)
        with self.session() as session:
            done = writes.record_refused(session, run_id, result, reason)
            return self._record(session, done, then)

    def _record_retrying_deadlocks(
        self, run_id: int, result: model.HostResult, now: datetime, then: Then | None
    ) -> Recorded:
        """``record``'s transaction, tried again when the database chose it as the victim
        of a deadlock (MariaDB's gap locks, when collectors store one new host at once)."""
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                with self._sessions.begin() as session:
                    return self._record(session, writes.record(session, run_id, result, now), then)
            except SQLAlchemyError as err:
                if attempt == DEADLOCK_TRIES or not engines.is_deadlock(err):
                    raise
        raise AssertionError("unreachable: the last try returns or raises")

    @staticmethod
    def _record(session: Session, done: Recorded, then: Then | None) -> Recorded:
        if then is not None and done.new:
            then(session, done)
        return done

    def _refusal(self, err: BaseException, run_id: int, result: model.HostResult) -> str | None:
        """Why the database refused ``result`` (naming the value), or None when it did not."""
        rows = writes.answer_rows(run_id, 0, result)
        found = refusal.find(self._engine.dialect.name, rows)
        if found is None and not refusal.is_refusal(err):
            return None
        cause = engines.reason(err)
        what = found or "a value of the answer"
        return f"the database refused to store {what}: {cause}"

    def roll_up(self, now: datetime, *, everything: bool = False) -> int:
        """Roll up completed hours not rolled up yet; rows written.

        A bounded number of hours (``retention.HOURS_PER_CALL``), or all with ``everything``.
        """
        with self._translating("rolling up samples in"):
            if everything:
                return retention.roll_up_all(self._engine, now)
            return retention.roll_up(self._engine, now)

    def prune(
        self,
        keep: retention.Retention,
        now: datetime,
        *,
        dry_run: bool = False,
        max_batches: int | None = None,
    ) -> dict[str, int]:
        """Delete rows older than ``keep`` in short batches; rows per table (see ``retention``)."""
        with self._translating("pruning"):
            return retention.prune(
                self._engine, keep, now, dry_run=dry_run, max_batches=max_batches
            )

    # ------------------------------------------------------------ reads

    def outcomes_of_run(self, run_id: int) -> dict[str, tuple[model.Outcome, str | None]]:
        """Address → (outcome, error) of each host run ``run_id`` has stored so far."""
        with self._reading() as session:
            return queries.outcomes_of_run(session, run_id)

    def cursors(self) -> dict[str, dict[str, Any]]:
        """Address (``ip:port``) → the event cursor of the host's last stored answer."""
        with self._reading() as session:
            return queries.cursors(session)

    def cpu_counters(self) -> dict[str, cpurate.Counters]:
        """Address (``ip:port``) → the CPU counters of the host's newest sample."""
        with self._reading() as session:
            return queries.cpu_counters(session)

    def latest_hosts(self) -> list[HostRow]:
        """Every host with its last outcome and the figures of its last sample, by name."""
        with self._reading() as session:
            return queries.latest_hosts(session)

    def history(self, host: str, limit: int = 20) -> list[AttemptRow]:
        """The last ``limit`` attempts of ``host`` (name, IP or ``ip:port``), newest first."""
        with self._reading() as session:
            return queries.history(session, host, limit)

    def hourly(self, host: str, start: datetime, end: datetime) -> list[series.HourFigures]:
        """The hourly figures of ``host`` (name, IP or ``ip:port``) over [start, end),
        newest first, from the rollups and the newest raw samples (``series.hourly_series``);
        empty for an unknown host, UsageError when ``host`` names several."""
        with self._reading() as session:
            found = queries.host_ids(session, host)
            if len(found) > 1:
                raise UsageError(
                    f"{host!r} names {len(found)} hosts (they share the IP): give its ip:port"
                )
            if not found:
                return []
            charts = series.hourly_series(session, found[0], start, end, series.HOUR)
        return series.by_hour(charts)

    def events_of_run(self, run_id: int, host_id: int) -> list[model.Event]:
        """The security events run ``run_id`` stored for host ``host_id``, oldest first."""
        with self._reading() as session:
            return queries.events_of_runs(session, [(run_id, host_id)])[(run_id, host_id)]

    def events_of_host(self, host: str, limit: int = 50) -> list[model.Event]:
        """The newest ``limit`` security events of ``host`` (name, IP or ``ip:port``)."""
        with self._reading() as session:
            return queries.events_of_host(session, host, limit)

    def previous_ok_at(self, host_id: int, before_run_id: int) -> datetime | None:
        """When host ``host_id`` last answered in a run before ``before_run_id`` (UTC)."""
        with self._reading() as session:
            return queries.previous_ok_at(session, host_id, before_run_id)

    def forget(self, host: str) -> int:
        """Delete every row of the retired host ``host`` (name, IP or ip:port); how many rows.

        UsageError when no such host is known, or when it is still in the config (not
        retired): a pass retires the hosts its config no longer lists.
        """
        with self.session() as session:
            ids = queries.host_ids(session, host)
            if not ids:
                raise UsageError(f"no host {host!r} in the database: `fleetstat hosts` lists them")
            if not retired.all_retired(session, ids):
                raise UsageError(
                    f"{host!r} is still in the config (not retired): remove its <client> and "
                    "run a pass first, so that fleetstat retires it"
                )
            return sum(retired.forget(session, host_id) for host_id in ids)

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
            raise self._error(action, err) from err

    def _error(self, action: str, err: BaseException) -> StoreError:
        """The StoreError of ``err``: StoreUnavailable when the database is away or too slow."""
        if self._deadline is not None and self._deadline.overran():
            return StoreUnavailable(
                f"{action} the database {self.url} failed: it did not answer within "
                f"{self._deadline.seconds:g} s (db-timeout)"
            )
        text = f"{action} the database {self.url} failed: {engines.reason(err)}"
        return StoreUnavailable(text) if isinstance(err, AWAY) else StoreError(text)


def _no_database(url: str, why: str) -> str:
    shown = engines.parse(url).render_as_string(hide_password=True)
    return (
        f"no fleetstat database at {shown}: {why}\n"
        "  fix: name the database the collector writes with --config CLIENTS.XML or --db URL "
        "(or FLEETSTAT_DB); to create or update it, run: fleetstat db upgrade --db URL"
    )
