"""A PostgreSQL server of one test's own, to stop, start and freeze without harming others.

``private_postgres`` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``
in a fresh folder, on a free loopback port, as the ``postgres`` user when the tests run
as root (initdb refuses root), with trust login for ``postgres``; the server is removed
after the test. Never freeze the shared server of the machine: freeze this one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.sshd import free_port

OWNER = "postgres"


def _bin_folder() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@dataclass
class PrivatePostgres:
    """One private server: its folder, port and URL; ``stop``/``start``/``freeze``/``thaw``."""

    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        """The URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OWNER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        """Make the cluster (no fsync: a test server)."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=40"
        )
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (connections cut), and wait until it is down."""
        self.thaw()
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def processes(self) -> list[psutil.Process]:
        """The postmaster and every backend of this server."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return []
        master = psutil.Process(int(pid_file.read_text().split()[0]))
        return [master, *master.children(recursive=True)]

    def freeze(self) -> None:
        """SIGSTOP the whole server: it accepts TCP connections but never answers."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT every process of the server."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):  # a backend that just ended
                process.send_signal(signum)


@contextlib.contextmanager
def private_postgres_server() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL of the caller's own, removed on exit."""
    binaries = _bin_folder()
    if binaries is None:
        reason = "no PostgreSQL server binaries under /usr/lib/postgresql"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI runs every database)")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="fleetstat-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OWNER)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    server = PrivatePostgres(folder, free_port(["127.0.0.1"]), binaries)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # it was not running
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL of this test's own, removed afterwards."""
    with private_postgres_server() as server:
        yield server
