"""The live display of ``fleetstat run`` on a real terminal, and a pass that waits for the lock."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

from fleetstat import config as configs
from fleetstat.store import Store
from tests.test_cli_signals import silent_host, wait_for_the_pass, write_config

__all__ = ["silent_host"]

FLEETSTAT = [sys.executable, "-m", "fleetstat.cli"]


def read_for(fd: int, seconds: float) -> str:
    """What the terminal ``fd`` shows for ``seconds``."""
    end = time.monotonic() + seconds
    chunks = []
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunks.append(os.read(fd, 65536))
            except OSError:
                break
    return b"".join(chunks).decode(errors="replace")


def test_the_display_redraws_by_itself_and_names_the_host_it_waits_for(tmp_path, silent_host):
    path = write_config(tmp_path, silent_host.getsockname()[1])
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTAT_")}
    run = subprocess.Popen(
        [*FLEETSTAT, "run", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    try:
        with wait_for_the_pass(silent_host):
            shown = read_for(leader, 4.5)
            run.send_signal(signal.SIGINT)
            run.communicate(timeout=30)
    finally:
        os.close(leader)
    seconds = {int(s) for s in re.findall(r"waiting for: blackhole (\d+) s", shown)}
    assert "0/1 hosts" in shown
    assert len(seconds) >= 2, shown  # redrawn while no host finished
    assert run.returncode == 130


def test_a_pass_waiting_for_the_lock_says_so_and_who_holds_it(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on: the host is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write_config(tmp_path, port)
    store = Store.open(configs.load(path).settings.db)
    lock = store.pass_lock()
    try:
        assert lock.try_acquire() is None
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTAT_")}
        run = subprocess.Popen(
            [*FLEETSTAT, "run", "--config", str(path), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert run.stderr is not None
        line = run.stderr.readline()
        held_by = f"pid {os.getpid()} on {socket.gethostname()} since "
        assert line.startswith(f"fleetstat: waiting for the pass lock, held by {held_by}"), line
        time.sleep(0.5)
        assert run.poll() is None
    finally:
        lock.release()
        store.close()
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 1
    assert '"outcome":"unreachable"' in out
