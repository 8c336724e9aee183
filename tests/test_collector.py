"""collector.collect over many real OpenSSH hosts on loopback, with the real agent."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from fleetstat.collect import collector
from fleetstat.core import model
from tests.support.sshd import (
    SshdFactory,
    SshUser,
    client_for,
    free_port,
    leftover_temp_dirs,
    processes_of,
)

pytestmark = pytest.mark.slow

TIMEOUT = 6.0  # seconds for a whole host
HANG_TIMEOUT = 3.0  # seconds for the host whose agent never answers
CONNECT_TIMEOUT = 2.0


def settings_in(folder: Path) -> model.Settings:
    """Short timeouts, a quick CPU sample and a known_hosts file of the test's own."""
    return model.Settings(
        known_hosts=folder / "known_hosts",
        connect_timeout=CONNECT_TIMEOUT,
        timeout=TIMEOUT,
        cpu_interval=0.1,
    )


@pytest.fixture
def black_hole() -> Iterator[tuple[str, int]]:
    """A TCP listener on 127.0.0.60 that accepts connections and never says a word."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.60", 0))
        hole.listen(8)
        yield "127.0.0.60", hole.getsockname()[1]


@pytest.fixture
def hanging_python() -> Iterator[str]:
    """An executable the test user may run that ignores its input and sleeps for good."""
    with tempfile.TemporaryDirectory(prefix="hang-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python"
        script.write_text("#!/bin/sh\nexec sleep 600\n")
        script.chmod(0o755)
        yield str(script)


def collect(clients: list[model.Client], settings: model.Settings) -> list[model.HostResult]:
    """Run ``collector.collect`` and check ``on_result`` saw every host exactly once."""
    seen: list[model.HostResult] = []
    results = asyncio.run(collector.collect(clients, settings, cursors={}, on_result=seen.append))
    assert sorted(r.client.address for r in seen) == sorted(c.address for c in clients)
    return results


def test_twenty_hosts_on_two_sshd_all_answer(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory([f"127.0.0.{n}" for n in range(30, 50)])
    assert len(server.processes) == 2
    clients = [client_for(ssh_user, server, address) for address in server.addresses]
    progress: list[tuple[int, int]] = []
    results = asyncio.run(
        collector.collect(
            clients,
            settings_in(tmp_path),
            cursors={},
            progress=lambda done, total: progress.append((done, total)),
        )
    )
    assert [r.client for r in results] == clients
    assert {r.outcome for r in results} == {model.Outcome.OK}
    for result in results:
        assert result.answer is not None
        assert result.answer.host.hostname == socket.gethostname()
        assert result.answer.memory is not None and result.answer.memory.total > 0
    assert progress[-1] == (20, 20)
    assert leftover_temp_dirs(ssh_user) == []


def test_each_failure_gets_its_outcome_beside_healthy_hosts(
    ssh_user: SshUser,
    sshd_factory: SshdFactory,
    tmp_path: Path,
    black_hole: tuple[str, int],
    hanging_python: str,
) -> None:
    server = sshd_factory([f"127.0.0.{n}" for n in range(50, 58)])
    settings = settings_in(tmp_path)
    a = server.addresses
    changed = client_for(ssh_user, server, a[7])
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    settings.known_hosts.write_text(f"[{a[7]}]:{server.port} {other_key}")
    expected = {
        client_for(ssh_user, server, a[0]): model.Outcome.OK,
        client_for(ssh_user, server, a[1], auth="key"): model.Outcome.OK,
        client_for(ssh_user, server, a[2], password="wrong"): model.Outcome.AUTH_FAILED,
        model.Client(
            ip="127.0.0.61", port=free_port(["127.0.0.61"]), username="x", password="x"
        ): model.Outcome.UNREACHABLE,
        model.Client(
            ip=black_hole[0], port=black_hole[1], username="x", password="x"
        ): model.Outcome.UNREACHABLE,
        client_for(ssh_user, server, a[3], python="/nonexistent/python"): model.Outcome.NO_PYTHON,
        client_for(
            ssh_user, server, a[4], python=hanging_python, timeout=HANG_TIMEOUT
        ): model.Outcome.TIMEOUT,
        changed: model.Outcome.HOST_KEY_MISMATCH,
        client_for(ssh_user, server, a[5]): model.Outcome.OK,
    }
    started = time.monotonic()
    results = collect(list(expected), settings)
    elapsed = time.monotonic() - started
    assert {r.client: r.outcome for r in results} == expected
    for result in results:
        assert (result.answer is not None) == (result.outcome is model.Outcome.OK)
        assert (result.error is None) == (result.outcome is model.Outcome.OK)
    assert elapsed < 2 * TIMEOUT
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []


def test_a_cancelled_pass_interrupts_every_host_and_cleans_up_the_ones_in_flight(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.71", "127.0.0.72", "127.0.0.73"])
    settings = replace(settings_in(tmp_path), cpu_interval=30.0, timeout=60.0)
    clients = [client_for(ssh_user, server, a) for a in server.addresses]
    seen: list[model.HostResult] = []

    async def cancel_when_running() -> None:
        task = asyncio.ensure_future(
            collector.collect(clients, settings, cursors={}, on_result=seen.append, concurrency=1)
        )
        while not leftover_temp_dirs(ssh_user):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_when_running())
    assert [r.outcome for r in seen] == [model.Outcome.INTERRUPTED] * 3
    errors = sorted(r.error or "" for r in seen)
    assert errors[0] == "the run was interrupted before this host was started"
    assert errors[2] == "the run was interrupted while this host was in flight"
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []


def test_hostile_answers_in_flight_share_one_budget_and_each_is_bad_payload(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    """Six endless answers at once: each is cut once the answers in flight together pass
    answers-in-flight (long before each reaches max-answer), the clean hosts answer."""
    server = sshd_factory([f"127.0.0.{n}" for n in range(60, 68)])
    with tempfile.TemporaryDirectory(prefix="junk-") as folder:
        Path(folder).chmod(0o755)
        junk = Path(folder) / "python"
        junk.write_text("#!/bin/sh\nexec cat /dev/zero\n")
        junk.chmod(0o755)
        hostile = [client_for(ssh_user, server, a, python=str(junk)) for a in server.addresses[:6]]
        clean = [client_for(ssh_user, server, a) for a in server.addresses[6:]]
        settings = replace(settings_in(tmp_path), answers_in_flight=1024 * 1024)
        results = {r.client.address: r for r in collect(hostile + clean, settings)}
    for client in hostile:
        result = results[client.address]
        assert result.outcome == model.Outcome.BAD_PAYLOAD, result.error
        assert result.error == (
            "answer cut past 128 KiB: the answers in flight together passed "
            "answers-in-flight (1 MiB)"
        )
    assert {results[c.address].outcome for c in clean} == {model.Outcome.OK}
    assert processes_of(ssh_user) == []
    assert leftover_temp_dirs(ssh_user) == []
