"""Kept connections (``ssh.Connections``) and the algorithms offered, against real OpenSSH."""

from __future__ import annotations

import asyncio
import gc
import io
import subprocess
from pathlib import Path

import asyncssh
import pytest

from fleetstat import ssh
from fleetstat.core import model
from fleetstat.core.errors import HostError
from fleetstat.ssh import pool
from tests.support.sshd import SshdFactory, SshdServer, SshUser, client_for, count_in_log
from tests.test_ssh import ECHO, pyz, settings_in


async def passes(
    connections: ssh.Connections,
    clients: list[model.Client],
    settings: model.Settings,
    count: int,
    between: object = None,
) -> list[list[bytes | BaseException]]:
    """``count`` passes over ``clients`` on ``connections``; ``between()`` runs after the first."""
    agent = pyz(ECHO)
    results = []
    for number in range(count):
        jobs = [connections.run_agent(c, settings, agent, b"hello\n") for c in clients]
        done = await asyncio.gather(*jobs, return_exceptions=True)
        results.append([r.answer if isinstance(r, ssh.Output) else r for r in done])
        if number == 0 and callable(between):
            between()
    return results


def drop_connections(server: SshdServer) -> None:
    """End the server's per-connection processes (its listeners stay)."""
    for proc in server.processes:
        subprocess.run(["pkill", "-TERM", "-P", str(proc.pid)], check=False)


def test_a_kept_connection_serves_the_next_pass_without_a_new_login(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.81", "127.0.0.82"])
    clients = [client_for(ssh_user, server, a) for a in server.addresses]
    connections = ssh.Connections(keep=True, max_kept=10)

    async def both() -> list[list[bytes | BaseException]]:
        async with connections:
            return await passes(connections, clients, settings_in(tmp_path), 2)

    assert asyncio.run(both()) == [[b"echo:hello"] * 2] * 2
    assert connections.opened == 2
    assert count_in_log(server, "Accepted password") == 2
    assert connections.kept == 0  # closed at the end


def test_a_dropped_connection_is_reopened_next_pass_and_counted(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.83"])
    clients = [client_for(ssh_user, server)]
    connections = ssh.Connections(keep=True, max_kept=10)

    async def twice() -> list[list[bytes | BaseException]]:
        async with connections:
            return await passes(
                connections, clients, settings_in(tmp_path), 2, lambda: drop_connections(server)
            )

    assert asyncio.run(twice()) == [[b"echo:hello"]] * 2
    assert connections.opened == 2
    assert count_in_log(server, "Accepted password") == 2


def test_a_reopened_connection_checks_the_host_key_again(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    first = sshd_factory(["127.0.0.84"])
    servers = [first]
    clients = [client_for(ssh_user, first)]
    connections = ssh.Connections(keep=True, max_kept=10)

    def replace_host() -> None:
        drop_connections(first)
        first.stop()
        servers.append(sshd_factory(["127.0.0.84"], port=first.port))

    async def twice() -> list[list[bytes | BaseException]]:
        async with connections:
            return await passes(connections, clients, settings_in(tmp_path), 2, replace_host)

    results = asyncio.run(twice())
    assert results[0] == [b"echo:hello"]
    refused = results[1][0]
    assert isinstance(refused, HostError)
    assert refused.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert count_in_log(servers[1], "Accepted") == 0


def test_at_most_max_kept_connections_stay_open(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.85", "127.0.0.86", "127.0.0.87"])
    clients = [client_for(ssh_user, server, a) for a in server.addresses]

    async def one(keep: bool) -> tuple[int, int]:
        async with ssh.Connections(keep=keep, max_kept=2) as connections:
            await passes(connections, clients, settings_in(tmp_path), 2)
            return connections.kept, connections.opened

    assert asyncio.run(one(keep=True)) == (2, 4)
    assert asyncio.run(one(keep=False)) == (0, 6)


def test_aes128_gcm_is_chosen_and_chacha20_still_accepted(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    default = sshd_factory(["127.0.0.88"], options={"LogLevel": "DEBUG1"})
    chacha_only = sshd_factory(
        ["127.0.0.89"], options={"LogLevel": "DEBUG1", "Ciphers": "chacha20-poly1305@openssh.com"}
    )
    for server in (default, chacha_only):
        answer = asyncio.run(
            ssh.run_agent(client_for(ssh_user, server), settings_in(tmp_path), pyz(ECHO), b"x\n")
        )
        assert answer.answer == b"echo:x"
    assert count_in_log(default, "client->server cipher: aes128-gcm@openssh.com") == 1
    assert count_in_log(default, "kex: algorithm: curve25519-sha256") == 1
    assert count_in_log(chacha_only, "client->server cipher: chacha20-poly1305@openssh.com") == 1


@pytest.mark.parametrize("value", ["on", "off"])
def test_connections_follow_the_keep_connections_setting(value: str) -> None:
    settings = model.Settings(keep_connections=value == "on", max_kept_connections=7)
    connections = ssh.Connections.from_settings(settings)
    assert (connections.keep, connections.max_kept) == (value == "on", 7)


def test_watch_logs_in_once_per_host_over_several_passes(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    from fleetstat import config
    from fleetstat.cli import watch

    server = sshd_factory(["127.0.0.91", "127.0.0.92"])
    clients = "\n".join(
        f'  <client ip="{ip}" port="{server.port}" username="{ssh_user.name}" '
        f'password="{ssh_user.password}" />'
        for ip in server.addresses
    )
    path = tmp_path / "clients.xml"
    path.write_text(
        f'<clients>\n  <settings db="sqlite:///{tmp_path}/f.db" known-hosts="{tmp_path}/kh" '
        'cpu-interval="0.1">\n    <smtp host="127.0.0.1" port="9" />\n  </settings>\n'
        f"{clients}\n</clients>\n"
    )
    path.chmod(0o600)
    out = io.StringIO()
    assert watch.watch(config.load(path), period=0, out=out, max_passes=3) == 0
    assert [line.split(": ", 1)[1][:7] for line in out.getvalue().splitlines()] == ["2/2 ok,"] * 3
    assert count_in_log(server, "Accepted password") == 2


@pytest.mark.slow
def test_closed_connections_are_freed_while_the_pass_goes_on(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    # A closed asyncssh connection is a reference cycle: left to Python's own schedule of
    # full collections, hundreds of them stay in memory during a long pass.
    server = sshd_factory(["127.0.0.87"])
    client = client_for(ssh_user, server, auth="key")
    settings = settings_in(tmp_path)
    agent = pyz(ECHO)
    at_once, hosts = 10, 150
    most_alive = 0

    async def one(connections: ssh.Connections, gate: asyncio.Semaphore) -> bytes:
        nonlocal most_alive
        async with gate:
            line = (await connections.run_agent(client, settings, agent, b"hi\n")).answer
        alive = sum(isinstance(o, asyncssh.SSHClientConnection) for o in gc.get_objects())
        most_alive = max(most_alive, alive)
        return line

    async def one_pass() -> list[bytes]:
        gate = asyncio.Semaphore(at_once)
        async with ssh.Connections(keep=False, max_kept=0) as connections:
            return await asyncio.gather(*(one(connections, gate) for _ in range(hosts)))

    assert asyncio.run(one_pass()) == [b"echo:hi"] * hosts
    assert most_alive <= at_once + pool.COLLECT_EVERY < hosts - at_once
    gone = sum(isinstance(o, asyncssh.SSHClientConnection) for o in gc.get_objects())
    assert gone == 0
