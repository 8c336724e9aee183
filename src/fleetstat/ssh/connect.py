"""Connecting and logging in: the algorithms offered, the retries, the deadline.

Key exchange offers curve25519 first; ciphers offer AES-GCM, then AES-CTR, ahead of
asyncssh's own default list (``^`` moves them to the front), so chacha20-poly1305 is
still accepted from a server that offers nothing else, and nothing weak is added.
AES-GCM runs in OpenSSL with AES-NI; asyncssh's chacha20-poly1305 builds a cipher
context per packet, which costs the collector more CPU.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from fleetstat.core import model
from fleetstat.ssh import certificates, hostkeys
from fleetstat.ssh.failures import fail, retry_now, translate

#: Key exchange offered first: fast, and what the benchmark's plain ``ssh`` uses.
KEX_FIRST = "^curve25519-sha256,curve25519-sha256@libssh.org"
#: Ciphers offered first, cheapest first.
CIPHERS_FIRST = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
#: Attempts at a connection dropped before authentication (sshd's ``MaxStartups``).
CONNECT_ATTEMPTS = 3
#: Seconds of the first back-off between attempts; doubled each time, with jitter.
BACKOFF = 0.2
#: Seconds between keepalives on a kept connection, and how many may go unanswered.
KEEPALIVE_INTERVAL = 30.0
KEEPALIVE_COUNT_MAX = 3

_RNG = random.Random()
#: What a connection goes through: an open connection, ``a,b`` jump hosts, or nothing.
Tunnel = asyncssh.SSHClientConnection | str | None
#: Loaded key files by path, with the (mtime, size) they were loaded at.
_KEYS: dict[Path, tuple[tuple[int, int], asyncssh.SSHKey]] = {}


def load_key(path: Path) -> asyncssh.SSHKey:
    """The private key in ``path``, read once while the file is unchanged.

    Raises ``OSError`` or ``ValueError`` (``asyncssh.KeyImportError``) like asyncssh.
    """
    return certificates.read_once(_KEYS, path, asyncssh.read_private_key)


def _check_key_file(client: model.Client) -> None:
    """Raise ``HostError`` (auth_failed) when the client's key file or its certificate
    cannot be loaded, or the certificate is expired or not valid yet.

    Key files are used without a passphrase, so an encrypted one cannot be read either.
    """
    _check_certificate(client)
    if not client.keyfile:
        return
    path = Path(client.keyfile).expanduser()
    try:
        load_key(path)
    except OSError as err:
        message = f"key file {path} could not be read: {err.strerror or err}"
        raise fail(client, model.Outcome.AUTH_FAILED, message) from err
    except ValueError as err:
        message = f"key file {path} could not be read (encrypted? wrong format?): {err}"
        raise fail(client, model.Outcome.AUTH_FAILED, message) from err


def _check_certificate(client: model.Client) -> None:
    path = certificates.certificate_path(client)
    if path is None:
        return
    try:
        cert = certificates.load(path)
    except (OSError, ValueError) as err:
        message = f"user certificate {path} could not be read: {err}"
        raise fail(client, model.Outcome.AUTH_FAILED, message) from err
    why = certificates.problem(path, cert, datetime.now(UTC))
    if why:
        raise fail(client, model.Outcome.AUTH_FAILED, why)


def _auth_options(client: model.Client) -> dict[str, object]:
    """Password, key file (with its certificate), or (neither given) ssh-agent and the
    default keys (ssh-agent's certificates with them)."""
    if client.keyfile:
        key = load_key(Path(client.keyfile).expanduser())
        cert_path = certificates.certificate_path(client)
        return {
            "client_keys": [(key, certificates.load(cert_path)) if cert_path else key],
            "agent_path": None,
            "password": client.password,
        }
    if client.password is not None:
        return {"client_keys": None, "agent_path": None, "password": client.password}
    return {"ignore_encrypted": True}


class _Attempt(Exception):
    """One failed connection attempt, with the checker that saw the host key."""

    def __init__(self, err: BaseException, checker: hostkeys.HostKeyCheck | None) -> None:
        super().__init__(str(err))
        self.err = err
        self.checker = checker


async def _connect_once(
    client: model.Client, settings: model.Settings, tunnel: Tunnel, by_config: bool
) -> asyncssh.SSHClientConnection:
    """One attempt. ``by_config``: the host key is checked as ``ssh`` checks it, against
    the OpenSSH config's ``UserKnownHostsFile`` (a jump host of ``ProxyJump``)."""
    checker = None if by_config else hostkeys.HostKeyCheck(client, settings)
    through: dict[str, object] = {"tunnel": tunnel} if tunnel else {}
    if checker is not None:
        through |= checker.options()
    try:
        return await asyncssh.connect(
            client.ip,
            client.port,
            username=client.username or (),  # none: ssh-config's User, or the local user
            connect_timeout=settings.connect_timeout,
            config=[settings.ssh_config] if settings.ssh_config else None,
            kex_algs=KEX_FIRST,
            encryption_algs=CIPHERS_FIRST,
            keepalive_interval=KEEPALIVE_INTERVAL,
            keepalive_count_max=KEEPALIVE_COUNT_MAX,
            **_auth_options(client),
            **through,
        )
    except (OSError, asyncssh.Error, TimeoutError) as err:
        raise _Attempt(err, checker) from err


async def connect(
    client: model.Client,
    settings: model.Settings,
    *,
    attempts: int = CONNECT_ATTEMPTS,
    rng: random.Random | None = None,
    tunnel: Tunnel = None,
    by_config: bool = False,
) -> asyncssh.SSHClientConnection:
    """An authenticated connection; drops before authentication are retried with back-off.

    Raises ``HostError`` (unreachable, auth_failed, host_key_mismatch). Authentication
    failures are never retried. The host key is checked on every new connection.
    """
    rng = rng or _RNG
    _check_key_file(client)
    for attempt in range(1, attempts + 1):
        try:
            return await _connect_once(client, settings, tunnel, by_config)
        except _Attempt as failed:
            if attempt == attempts or not retry_now(failed.err):
                raise translate(client, failed.err, failed.checker) from failed.err
            await asyncio.sleep(BACKOFF * 2 ** (attempt - 1) * (0.5 + rng.random()))
    raise AssertionError("unreachable: the loop returns or raises")


async def connect_by(
    client: model.Client,
    settings: model.Settings,
    deadline: float,
    tunnel: Tunnel = None,
    *,
    by_config: bool = False,
) -> asyncssh.SSHClientConnection:
    """``connect`` (through ``tunnel``: a bastion's connection, or jump hosts asyncssh
    opens itself), given up at ``deadline`` (event-loop time) as unreachable."""
    try:
        async with asyncio.timeout_at(deadline):
            return await connect(client, settings, tunnel=tunnel, by_config=by_config)
    except (OSError, asyncssh.Error, TimeoutError) as err:
        raise translate(client, err, None) from err
