"""``fleetstat demo`` in this process's environment (the newcomer test runs it from a clone)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_keep_leaves_servers_that_fleetstat_run_can_use(tmp_path):
    folder = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", "demo", "--dir", str(folder), "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if "servers kept up" in line:
                break
        assert any("3/3 hosts ok" in line for line in lines), "".join(lines)

        again = subprocess.run(
            [sys.executable, "-m", "fleetstat.cli", "run", "--config", str(folder / "clients.xml")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "3/3 hosts ok" in again.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=30)
    with sqlite3.connect(folder / "fleetstat.db") as db:
        runs = db.execute("SELECT count(*) FROM runs WHERE hosts_ok = 3").fetchone()[0]
        ips = {row[0] for row in db.execute("SELECT DISTINCT ip FROM samples")}
    assert runs == 2
    assert ips == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}


def test_a_second_demo_lists_each_host_once(tmp_path):
    folder = tmp_path / "demo"
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "fleetstat.cli", "demo", "--dir", str(folder)],
            capture_output=True,
            timeout=120,
            check=True,
        )
    with sqlite3.connect(folder / "fleetstat.db") as db:
        hosts = db.execute("SELECT count(*) FROM hosts").fetchone()[0]
    assert hosts == 3
