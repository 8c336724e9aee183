"""A bound on every database call, kept by the client: a frozen server never answers.

PostgreSQL's ``statement_timeout`` and MariaDB's ``max_statement_time`` are enforced by
the server, and a server stopped with SIGSTOP enforces nothing, while its kernel still
accepts and acknowledges every packet. So a ``Deadline`` watches each connection from
the moment the pool hands it out until it is given back; one that is out longer than
the bound has its socket shut down, which ends the blocked call with a disconnect error
(the pool then drops that connection). ``overran()`` tells the thread whose call it was.

The check before each use of a connection that sat idle (the pool's pre-ping) runs
under the same watch.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

#: A connection back from the pool after this many idle seconds is pinged before use
#: (one that was given back a moment ago, as between two hosts of a pass, is not).
PING_AFTER = 2.0
_IDLE_SINCE = "fleetstat_idle_since"


class Deadline:
    """Shuts down the socket of a connection held longer than ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._watched: dict[int, tuple[float, Any, int]] = {}
        self._overran: set[int] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wake_at: float | None = None

    def install(self, engine: Engine) -> None:
        """Watch every connection ``engine``'s pool hands out, and ping reused ones first."""
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    @contextlib.contextmanager
    def watching(self, dbapi_connection: Any) -> Iterator[None]:
        """Bound the calls made on ``dbapi_connection`` inside the block."""
        self.watch(dbapi_connection)
        try:
            yield
        finally:
            self.release(dbapi_connection)

    def watch(self, dbapi_connection: Any) -> None:
        """Start the clock for ``dbapi_connection``, on behalf of the calling thread."""
        due = time.monotonic() + self.seconds
        with self._changed:
            self._watched[id(dbapi_connection)] = (due, dbapi_connection, threading.get_ident())
            self._start()
            if self._wake_at is None or due < self._wake_at:  # else it wakes in time anyway
                self._changed.notify()

    def release(self, dbapi_connection: Any) -> None:
        """Stop the clock for ``dbapi_connection``."""
        with self._changed:
            self._watched.pop(id(dbapi_connection), None)

    def overran(self) -> bool:
        """True (once) when a call of this thread was cut for taking longer than the bound."""
        with self._changed:
            ident = threading.get_ident()
            if ident in self._overran:
                self._overran.discard(ident)
                return True
            return False

    # ------------------------------------------------------------ pool events

    def _on_connect(self, _dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def _on_checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        self.watch(dbapi_connection)
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_AFTER:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as err:  # any failure of the ping: the pool makes a new connection
            self.release(dbapi_connection)
            raise DisconnectionError(f"the pooled connection is gone: {err}") from err

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()
        if dbapi_connection is not None:
            self.release(dbapi_connection)

    # ------------------------------------------------------------ the clock

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="db-deadline", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for key, (due, connection, ident) in list(self._watched.items()):
                    if due <= now:
                        del self._watched[key]
                        self._overran.add(ident)
                        _cut(connection)
                due_times = [due for due, _c, _i in self._watched.values()]
                self._wake_at = min(due_times) if due_times else None
                self._changed.wait(self._wake_at - now if self._wake_at else None)


def _cut(dbapi_connection: Any) -> None:
    """Shut the connection's socket down both ways: its blocked read returns at once."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 (closed, or a driver without a socket: nothing to cut)
        return
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()
