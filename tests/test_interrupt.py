"""``fleetstat run`` stopped by SIGINT or killed by SIGKILL mid-pass: nothing stays on a client."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.sshd import (
    SshdFactory,
    SshdServer,
    SshUser,
    leftover_temp_dirs,
    processes_of,
)

pytestmark = pytest.mark.slow


def write_config(folder: Path, user: SshUser, server: SshdServer, cpu_interval: str) -> Path:
    """A config over every address of ``server``; the agents measure CPU for ``cpu_interval``."""
    clients = "\n".join(
        f'  <client ip="{ip}" port="{server.port}" username="{user.name}" '
        f'keyfile="{user.key_path}" />'
        for ip in server.addresses
    )
    path = folder / f"clients-{cpu_interval}.xml"
    path.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/fleetstat.db" known-hosts="{folder}/known_hosts"'
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


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_interrupts_the_hosts_in_flight_cleans_up_and_closes_the_run(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path, signum: int, status: int
) -> None:
    server = sshd_factory([f"127.0.0.{n}" for n in range(100, 106)])
    proc = start_run(write_config(tmp_path, ssh_user, server, "30s"))
    wait_for_dirs(ssh_user, 6, proc)
    started = time.monotonic()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "interrupted" in err
    assert time.monotonic() - started < 10
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []
    with sqlite3.connect(tmp_path / "fleetstat.db") as db:
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM collection_attempts")]
        runs = list(db.execute("SELECT finished_at, hosts_total, hosts_ok FROM runs"))
        transitions = list(db.execute("SELECT * FROM alert_transitions"))
    assert outcomes == ["interrupted"] * 6
    assert transitions == []  # an interruption is not the hosts' fault: no alert fires
    assert len(runs) == 1
    assert runs[0][0] is not None
    assert runs[0][1:] == (6, 0)


def test_after_sigkill_mid_pass_the_next_run_leaves_no_temp_dir(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory([f"127.0.{n // 200 + 1}.{n % 200 + 10}" for n in range(50)])
    proc = start_run(write_config(tmp_path, ssh_user, server, "30s"))
    wait_for_dirs(ssh_user, 50, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    again = start_run(write_config(tmp_path, ssh_user, server, "0.1"))
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []
