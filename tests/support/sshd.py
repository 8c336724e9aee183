"""Real OpenSSH servers on loopback for the tests.

Fixtures:

- ``ssh_user`` (session): a Unix user of this test run alone (``fleetstat-t`` and six hex
  digits) with a password and a key pair; removed with its home when the run ends, so two
  runs side by side never see each other's temp dirs or processes.
- ``sshd_factory`` (function): starts ``sshd`` on any set of 127.0.0.x addresses; stopped
  at the end of the test.
- ``sshd`` (session): one server on 127.0.0.1, shared by the whole session.

Helpers: ``client_for`` builds a ``model.Client`` for the test user, ``leftover_temp_dirs``
lists the fleetstat temp dirs the user still has.

Facts this module works around: one ``sshd`` accepts at most 16 ``ListenAddress``
entries (the 17th is fatal at start-up although ``sshd -t`` passes), so one server over
many addresses is one ``sshd`` per 16 addresses, all on one port; Debian's ``sshd``
needs ``/run/sshd``; every address of 127.0.0.0/8 routes to ``lo`` without setup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetstat.core import model

SSHD = "/usr/sbin/sshd"
USER_PREFIX = "fleetstat-t"
ADDRESSES_PER_SSHD = 16
TEMP_PREFIX = "fleetstat"
START_TIMEOUT = 10.0  # seconds to wait for a server to accept connections

DEFAULT_OPTIONS: dict[str, str] = {
    "LogLevel": "INFO",
    "UsePAM": "no",
    "PasswordAuthentication": "yes",
    "KbdInteractiveAuthentication": "no",
    "PubkeyAuthentication": "yes",
    "PermitRootLogin": "no",
    "AuthorizedKeysFile": ".ssh/authorized_keys",
    "Subsystem": "sftp internal-sftp",
    "MaxStartups": "1000:30:1000",
    "MaxSessions": "20",
    "StrictModes": "no",
    "UseDNS": "no",
    "PidFile": "none",
}


@dataclass(frozen=True)
class SshUser:
    """The test user: its name, its password, and the private key whose public half it trusts."""

    name: str
    password: str = dataclasses.field(repr=False)
    key_path: Path

    @property
    def home(self) -> Path:
        """The user's home directory."""
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        """The user's numeric id."""
        return pwd.getpwnam(self.name).pw_uid


@dataclass
class SshdServer:
    """One logical server: ``sshd`` processes listening on ``addresses`` at ``port``.

    ``log_path`` is the log every process of the server appends to; ``host_public_key``
    is the host key as one OpenSSH line (``ssh-ed25519 AAAA…``); ``host_key_path`` is
    the private host key file, for a restart under the same key.
    """

    addresses: tuple[str, ...]
    port: int
    log_path: Path
    host_public_key: str
    host_key_path: Path
    processes: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        """Stop every ``sshd`` of this server (listeners only; open sessions end on their own)."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# ---------------------------------------------------------------- the user


def _ensure_user(name: str) -> None:
    """Create ``name`` with a home and bash as its shell unless it exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", name],
            check=False,
            capture_output=True,
        )
        pwd.getpwnam(name)  # fails loudly when another creator lost nothing and we did


def _set_password(name: str, password: str) -> None:
    """Set the Unix password with ``chpasswd`` (on stdin, never on a command line)."""
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n".encode(), check=True)


def _make_key_pair(path: Path) -> str:
    """Write an ed25519 key pair at ``path`` (+ ``.pub``); return the public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleetstat-test", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def _trust_key(name: str, public_line: str) -> None:
    """Append ``public_line`` to the user's ``authorized_keys`` (other sessions keep theirs)."""
    entry = pwd.getpwnam(name)
    ssh_dir = Path(entry.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    with keys.open("a") as out:
        out.write(public_line + "\n")
    for path in (ssh_dir, keys):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    keys.chmod(0o600)


@pytest.fixture(scope="session")
def ssh_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshUser]:
    """A Unix user of this run alone (home, bash, password, trusted ed25519 key).

    The key pair lives in a session temp dir. The user, its processes and its home go when
    the run ends. Skips when the tests do not run as root.
    """
    if os.geteuid() != 0:
        pytest.skip("creating the SSH test user needs root")
    with own_user(tmp_path_factory.mktemp("ssh-user")) as user:
        yield user


@contextlib.contextmanager
def own_user(folder: Path) -> Iterator[SshUser]:
    """A fresh test user whose key pair goes into ``folder``; removed on exit."""
    name = f"{USER_PREFIX}{secrets.token_hex(3)}"
    _ensure_user(name)
    try:
        yield prepare_user(name, folder)
    finally:
        remove_user(name)


def prepare_user(name: str, folder: Path) -> SshUser:
    """Set a fresh password and a fresh trusted key for the existing user ``name``."""
    password = secrets.token_urlsafe(18)
    _set_password(name, password)
    key_path = folder / "id_ed25519"
    _trust_key(name, _make_key_pair(key_path))
    return SshUser(name=name, password=password, key_path=key_path)


def remove_user(name: str) -> None:
    """End every process of ``name``, then delete the user with its home and temp files."""
    subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
    uid = pwd.getpwnam(name).pw_uid
    for path in Path("/tmp").glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if path.lstat().st_uid == uid:
                subprocess.run(["rm", "-rf", "--", str(path)], check=False)
    subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


# ---------------------------------------------------------------- servers


def _bindable(address: str, port: int) -> bool:
    """True when ``address:port`` is free to listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def free_port(addresses: Sequence[str]) -> int:
    """A TCP port free on every one of ``addresses``."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((addresses[0], 0))
            port: int = sock.getsockname()[1]
        if all(_bindable(address, port) for address in addresses):
            return port
    raise RuntimeError(f"no port free on all of {len(addresses)} addresses")


def _check_loopback(addresses: Sequence[str]) -> None:
    """Refuse anything but 127.0.0.0/8: the tests never listen elsewhere."""
    for address in addresses:
        if not address.startswith("127."):
            raise ValueError(f"test servers bind only 127.0.0.0/8, not {address}")


def config_text(
    addresses: Sequence[str], port: int, host_key: Path, options: Mapping[str, str]
) -> str:
    """An ``sshd_config`` for ``addresses`` (at most 16); an option set to "" is left out."""
    merged = {**DEFAULT_OPTIONS, **options}
    lines = [f"Port {port}", f"HostKey {host_key}"]
    lines += [f"ListenAddress {address}" for address in addresses]
    lines += [f"{name} {value}" for name, value in merged.items() if value]
    return "\n".join(lines) + "\n"


def _accepts(address: str, port: int) -> bool:
    """True when ``address:port`` answers with an SSH banner."""
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _wait_until_accepting(server: SshdServer) -> None:
    """Wait until every address answers; raise with the log when a process died."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(server.addresses)
    while pending:
        for proc in server.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {proc.returncode}:\n{server.log_text()}")
        pending = [address for address in pending if not _accepts(address, server.port)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"sshd does not accept on {pending[:3]}:\n{server.log_text()}")
        if pending:
            time.sleep(0.05)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` cut into consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SshdFactory:
    """Starts ``sshd`` servers under ``root`` and stops them all on ``close()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[SshdServer] = []

    def __call__(
        self,
        addresses: Sequence[str],
        *,
        options: Mapping[str, str] | None = None,
        port: int | None = None,
        host_key_path: Path | None = None,
    ) -> SshdServer:
        """Start one server on ``addresses`` and wait until it accepts connections.

        ``options`` override the defaults (``""`` removes one, e.g. ``{"Subsystem": ""}``
        for a server without SFTP). ``port`` reuses a port (a restart); ``host_key_path``
        reuses a host key, otherwise a fresh ed25519 key is generated.
        """
        _check_loopback(addresses)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        workdir = Path(os.path.realpath(self.root)) / f"sshd-{len(self.servers)}"
        workdir.mkdir(parents=True)
        if host_key_path is None:
            host_key_path = workdir / "host_ed25519"
            _make_key_pair(host_key_path)
        port = port or free_port(addresses)
        server = SshdServer(
            addresses=tuple(addresses),
            port=port,
            log_path=workdir / "sshd.log",
            host_public_key=host_key_path.with_suffix(".pub").read_text().strip(),
            host_key_path=host_key_path,
            processes=[],
        )
        self.servers.append(server)
        for index, group in enumerate(_chunks(addresses, ADDRESSES_PER_SSHD)):
            config = workdir / f"sshd_config.{index}"
            config.write_text(config_text(group, port, host_key_path, options or {}))
            server.processes.append(_spawn(config, server.log_path))
        _wait_until_accepting(server)
        return server

    def close(self) -> None:
        """Stop every server this factory started."""
        for server in self.servers:
            server.stop()


def _spawn(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Run one ``sshd -D -e -f config -E log`` in the foreground."""
    command = [SSHD, "-D", "-e", "-f", str(config), "-E", str(log_path)]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _require_sshd() -> None:
    """Skip unless we are root and OpenSSH's server is installed."""
    if os.geteuid() != 0:
        pytest.skip("running sshd with password logins needs root")
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"{SSHD} is not installed")


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[SshdFactory]:
    """Start real OpenSSH servers: ``sshd_factory(["127.0.0.5", ...], options={...})``.

    Returns an ``SshdServer`` (addresses, port, log path, host public key, ``stop()``).
    One port is shared by all the addresses; one ``sshd`` runs per 16 addresses.
    Defaults: LogLevel INFO, UsePAM no, password and key logins, ``internal-sftp``,
    ``MaxStartups 1000:30:1000``, StrictModes no. Every server stops at teardown.
    """
    _require_sshd()
    factory = SshdFactory(tmp_path / "sshd")
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """One OpenSSH server on 127.0.0.1 (a free port), shared by the whole session."""
    _require_sshd()
    factory = SshdFactory(tmp_path_factory.mktemp("sshd-session"))
    try:
        yield factory(["127.0.0.1"])
    finally:
        factory.close()


# ---------------------------------------------------------------- helpers


def client_for(
    user: SshUser,
    server: SshdServer,
    address: str | None = None,
    *,
    auth: str = "password",
    **changes: Any,
) -> model.Client:
    """A ``model.Client`` for the test user on ``address`` (default: the server's first).

    ``auth`` is ``"password"`` or ``"key"``; ``changes`` set any other field
    (``python=``, ``timeout=``, ``name=`` …).
    """
    fields: dict[str, Any] = {
        "ip": address or server.addresses[0],
        "port": server.port,
        "username": user.name,
    }
    if auth == "password":
        fields["password"] = user.password
    elif auth == "key":
        fields["keyfile"] = user.key_path
    else:
        raise ValueError(f"auth is 'password' or 'key', not {auth!r}")
    return model.Client(**{**fields, **changes})


def leftover_temp_dirs(user: SshUser, temp_root: Path = Path("/tmp")) -> list[Path]:
    """The fleetstat temp dirs owned by ``user`` under ``temp_root`` (should be none)."""
    uid = user.uid
    return sorted(
        path
        for path in temp_root.glob(f"{TEMP_PREFIX}*")
        if path.is_dir() and path.stat().st_uid == uid
    )


def user_processes(user: SshUser, needle: str) -> list[str]:
    """Command lines of ``user``'s processes that contain ``needle``."""
    result = subprocess.run(
        ["ps", "-u", user.name, "-o", "args="], capture_output=True, text=True, check=False
    )
    return [line for line in result.stdout.splitlines() if needle in line]


def processes_of(user: SshUser, settle: float = 5.0) -> list[str]:
    """Every process of ``user`` (command lines), waiting up to ``settle`` seconds for its
    SSH sessions to end; [] when none is left."""
    deadline = time.monotonic() + settle
    while True:
        done = subprocess.run(
            ["ps", "-u", user.name, "-o", "args="], capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def count_in_log(server: SshdServer, needle: str) -> int:
    """How many lines of the server's log contain ``needle``."""
    return sum(needle in line for line in server.log_text().splitlines())


__all__ = [
    "SshUser",
    "SshdFactory",
    "SshdServer",
    "client_for",
    "count_in_log",
    "free_port",
    "leftover_temp_dirs",
    "own_user",
    "prepare_user",
    "processes_of",
    "remove_user",
    "user_processes",
]
