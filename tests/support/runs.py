"""``fleetstat run`` as an admin starts it: a config over a test server, in its own process.

``write_config`` writes the XML of every address of a server (key login), ``start_run``
starts ``fleetstat run --json`` on it, and ``wait_for_dirs`` waits until that many agents
run on the clients (each has its temp dir) — the moment to interrupt or kill it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.sshd import SshdServer, SshUser, leftover_temp_dirs


def write_config(
    folder: Path,
    user: SshUser,
    server: SshdServer,
    cpu_interval: str,
    *,
    db: str | None = None,
    name: str | None = None,
) -> Path:
    """A config over every address of ``server`` into ``db`` (default: SQLite in
    ``folder``); the agents measure CPU for ``cpu_interval``, which makes them last."""
    clients = "\n".join(
        f'  <client ip="{ip}" port="{server.port}" username="{user.name}" '
        f'keyfile="{user.key_path}" />'
        for ip in server.addresses
    )
    path = folder / (name or f"clients-{cpu_interval}.xml")
    path.write_text(
        "<clients>\n"
        f'  <settings db="{db or f"sqlite:///{folder}/fleetstat.db"}"'
        f' known-hosts="{folder}/known_hosts"'
        f' cpu-interval="{cpu_interval}" connect-timeout="10" timeout="60" concurrency="50">\n'
        '    <smtp host="127.0.0.1" port="9" />\n'
        "  </settings>\n" + clients + "\n</clients>\n"
    )
    path.chmod(0o600)
    return path


def start_run(config: Path) -> subprocess.Popen[str]:
    """``fleetstat run`` on ``config`` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", "run", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_dirs(user: SshUser, count: int, proc: subprocess.Popen[str]) -> None:
    """Wait until ``count`` agents run (each has its temp dir)."""
    deadline = time.monotonic() + 60
    while len(leftover_temp_dirs(user)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"only {len(leftover_temp_dirs(user))} agents started"
        time.sleep(0.1)
