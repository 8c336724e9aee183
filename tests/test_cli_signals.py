"""Ctrl-C and SIGTERM through the real command: a real process, real signals, a host that hangs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FLEETSTAT = [sys.executable, "-m", "fleetstat.cli"]


@pytest.fixture
def silent_host() -> Iterator[socket.socket]:
    """A TCP server on loopback that accepts and never says a word (no SSH banner)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(30)
        yield server


def write_config(folder: Path, port: int) -> Path:
    path = folder / "clients.xml"
    path.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/fleetstat.db" known-hosts="{folder}/known_hosts"'
        ' connect-timeout="60" timeout="120" />\n'
        f'  <client ip="127.0.0.1" port="{port}" username="nobody" password="x"'
        ' mail="ops@example.org" name="blackhole" />\n'
        "</clients>\n"
    )
    path.chmod(0o600)
    return path


def start(argv: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTAT_")}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for_the_pass(server: socket.socket) -> socket.socket:
    """Block until fleetstat has connected to ``server``: the host is in flight."""
    conn, _ = server.accept()
    return conn


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_stops_the_pass_on_a_signal_and_exits_128_plus_its_number(
    tmp_path, silent_host, signum, status
):
    config = write_config(tmp_path, silent_host.getsockname()[1])
    run = start([*FLEETSTAT, "run", "--config", str(config)])
    with wait_for_the_pass(silent_host):
        started = time.monotonic()
        run.send_signal(signum)
        _, err = run.communicate(timeout=30)
    assert run.returncode == status, err
    assert time.monotonic() - started < 20  # not the 60 s connect timeout
    assert "stopping the hosts in flight and cleaning up" in err
    assert f"interrupted ({signal.Signals(signum).name})" in err
    assert "Traceback" not in err


SLOW_CLEANUP = textwrap.dedent(
    """
    import asyncio, sys
    from fleetstat.collect import interrupt

    async def main():
        try:
            print("in flight", flush=True)
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            print("cleaning up", flush=True)
            await asyncio.sleep(60)
            raise

    try:
        interrupt.run(main())
    except interrupt.Interrupted as err:
        sys.exit(err.exit_code)
    """
)


def test_a_second_signal_during_the_cleanup_aborts_at_once_and_says_what_is_left():
    proc = start([sys.executable, "-c", SLOW_CLEANUP])
    assert proc.stdout is not None
    assert proc.stdout.readline() == "in flight\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline() == "cleaning up\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "aborted at once" in err
    assert "temp dir" in err and "unfinished in the database" in err


@pytest.mark.slow
def test_watch_stops_after_the_pass_on_ctrl_c_and_aborts_the_pass_on_a_second(
    tmp_path, silent_host
):
    config = write_config(tmp_path, silent_host.getsockname()[1])
    watch = start([*FLEETSTAT, "watch", "--config", str(config), "--every", "10s"])
    assert watch.stderr is not None
    with wait_for_the_pass(silent_host):
        watch.send_signal(signal.SIGINT)
        line = watch.stderr.readline()
        assert "stopping after this pass — Ctrl-C again to abort" in line
        time.sleep(1.0)
        assert watch.poll() is None  # the pass is still waiting for its host
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=30)
    assert watch.returncode == 130, err
    assert "stopping the hosts in flight and cleaning up" in err
