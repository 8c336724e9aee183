"""Other SSH servers: Dropbear with each set of host keys, OpenSSH with one host key type,
and a server with no algorithm in common — collected, or failed with what each side offered."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from fleetstat.collect import collector
from fleetstat.core import model
from fleetstat.ssh import hostkeys
from tests.support.dropbear import DROPBEARKEY, dropbear_server
from tests.support.sshd import (
    SshdFactory,
    SshUser,
    client_for,
    leftover_temp_dirs,
    processes_of,
)
from tests.test_ssh import settings_in

DROPBEAR_ADDRESSES = {
    "ed25519": "127.0.10.1",
    "rsa": "127.0.10.2",
    "ecdsa": "127.0.10.3",
    "rsa+ecdsa+ed25519": "127.0.10.4",
}


def collect_twice(client: model.Client, settings: model.Settings) -> list[model.HostResult]:
    """Two passes: the first learns the host key, the second offers what was pinned."""
    results = []
    for _ in range(2):
        done = asyncio.run(collector.collect([client], settings, cursors={}))
        results.append(done[0])
    return results


def assert_collected(results: list[model.HostResult], user: SshUser) -> None:
    for result in results:
        assert result.outcome == model.Outcome.OK, result.error
        assert result.answer is not None and result.answer.memory is not None
        assert result.answer.memory.total == psutil.virtual_memory().total
    assert leftover_temp_dirs(user) == []
    assert processes_of(user) == []


@pytest.mark.parametrize(
    "kinds", [("ed25519",), ("rsa",), ("ecdsa",), ("rsa", "ecdsa", "ed25519")], ids="+".join
)
def test_dropbear_is_collected_whatever_host_keys_it_has(
    ssh_user: SshUser, tmp_path: Path, kinds: tuple[str, ...]
) -> None:
    address = DROPBEAR_ADDRESSES["+".join(kinds)]
    with dropbear_server(tmp_path / "dropbear", kinds, address) as server:
        client = client_for(ssh_user, server, auth="key")  # type: ignore[arg-type]
        settings = replace(settings_in(tmp_path), cpu_interval=0.1)
        results = collect_twice(client, settings)
    assert_collected(results, ssh_user)
    pinned = hostkeys.recorded_keys(client, settings)
    assert len(pinned) == 1


def test_a_pinned_rsa_key_is_asked_for_though_the_server_has_ed25519_too(
    ssh_user: SshUser, tmp_path: Path
) -> None:
    kinds = ("rsa", "ecdsa", "ed25519")
    with dropbear_server(tmp_path / "dropbear", kinds, "127.0.10.7") as server:
        rsa = subprocess.run(
            [DROPBEARKEY, "-y", "-f", str(tmp_path / "dropbear" / "dropbear_rsa_host_key")],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        public = next(line for line in rsa.splitlines() if line.startswith("ssh-rsa "))
        settings = replace(settings_in(tmp_path), cpu_interval=0.1)
        settings.known_hosts.parent.mkdir(parents=True)
        known = " ".join(public.split()[:2])
        settings.known_hosts.write_text(f"[127.0.10.7]:{server.port} {known}\n")
        client = client_for(ssh_user, server, auth="key")  # type: ignore[arg-type]
        results = collect_twice(client, settings)
    assert_collected(results, ssh_user)
    assert settings.known_hosts.read_text().count("\n") == 1  # nothing else learned


def test_openssh_with_only_an_rsa_host_key_is_collected(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    key = tmp_path / "host_rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key)],
                   check=True)  # fmt: skip
    server = sshd_factory(["127.0.10.5"], host_key_path=key)
    client = client_for(ssh_user, server, auth="key")
    settings = replace(settings_in(tmp_path), cpu_interval=0.1)
    assert_collected(collect_twice(client, settings), ssh_user)


def test_a_server_with_no_algorithm_in_common_says_what_each_side_offered(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.10.6"], options={"Ciphers": "aes128-cbc,3des-cbc"})
    client = client_for(ssh_user, server, auth="key")
    result = asyncio.run(collector.collect([client], settings_in(tmp_path), cursors={}))[0]
    assert result.outcome == model.Outcome.NO_COMMON_ALGORITHM
    assert result.error is not None
    assert result.error.startswith("no encryption algorithm in common: fleetstat offers ")
    assert "aes128-gcm@openssh.com" in result.error
    assert "the server offers aes128-cbc, 3des-cbc" in result.error
