"""``fleetstat run`` stopped by SIGINT or killed by SIGKILL mid-pass: nothing stays on a client."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.runs import start_run, wait_for_dirs, write_config
from tests.support.sshd import SshdFactory, SshUser, leftover_temp_dirs, processes_of

pytestmark = pytest.mark.slow


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
