"""Host keys as OpenSSH understands them: known_hosts files, the policy, trust on first use.

The files of the ``known-hosts`` setting are read with asyncssh's own known_hosts
support, so hashed names (``|1|…``, what Debian's ``ssh`` writes), patterns,
``[host]:port``, ``@revoked`` and ``@cert-authority`` mean what they mean to OpenSSH.
The first file is fleetstat's own: trust on first use appends to it (created 0600);
the others (``~/.ssh/known_hosts``, ``/etc/ssh/ssh_known_hosts``) are only read.

``HostKeyCheck`` is the asyncssh client that applies the policy on one connection;
``ssh`` only passes its ``options()`` to ``asyncssh.connect``. A file writable by group
or others, or a line that is not a known_hosts entry, refuses every host
(``host_key_mismatch``) with the file, the line and the fix.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from fleetstat.core import model
from fleetstat.core.errors import HostError

_log = logging.getLogger(__name__)

#: The port known_hosts leaves out of a host's name.
DEFAULT_PORT = 22

#: What a known_hosts file says of one host: (trusted keys, CA keys, revoked keys).
Keys = tuple[tuple[asyncssh.SSHKey, ...], tuple[asyncssh.SSHKey, ...], tuple[asyncssh.SSHKey, ...]]


def known_hosts_name(client: model.Client) -> str:
    """The host's name in a known_hosts file: ``ip``, or ``[ip]:port`` off port 22."""
    return client.ip if client.port == DEFAULT_PORT else f"[{client.ip}]:{client.port}"


def describe(key: asyncssh.SSHKey) -> str:
    """A key as a person compares it with ``ssh-keygen -lf``: ``ssh-ed25519 SHA256:…``."""
    return f"{key.get_algorithm()} {key.get_fingerprint()}"


def refuse(client: model.Client, message: str) -> HostError:
    """The error of a host whose key cannot be trusted (never transient)."""
    outcome = model.Outcome.HOST_KEY_MISMATCH
    return HostError(message, outcome=outcome, transient=False, host=client.address)


# ---------------------------------------------------------------- one file


@dataclass
class KnownHostsFile:
    """One known_hosts file as asyncssh reads it; ``signature`` tells when it changed.

    ``found`` remembers ``entries_for`` by (host, addr, port): a hashed entry is found
    only by hashing each name with each entry's salt, a scan of the whole file.
    """

    path: Path
    entries: asyncssh.SSHKnownHosts
    signature: tuple[int, int, int]
    found: dict[tuple[str, str, int | None], Keys] = field(default_factory=dict)

    def entries_for(self, host: str, addr: str, port: int | None) -> Keys:
        """(trusted keys, CA keys, revoked keys) of this file for a host."""
        wanted = (host, addr, port)
        if wanted not in self.found:
            keys, cas, revoked, *_ = asyncssh.match_known_hosts(self.entries, host, addr, port)
            revoked = [*revoked, *revoked_at_port(self.entries, host, addr, port)]
            self.found[wanted] = (tuple(keys), tuple(cas), tuple(revoked))
        return self.found[wanted]

    def add(self, line: str) -> None:
        """Take in a line just appended to the file."""
        self.entries.load(line)
        self.found.clear()
        self.signature = signature_of(self.path)


def signature_of(path: Path) -> tuple[int, int, int]:
    """(inode, ctime in ns, size) of ``path``; (0, 0, -1) when it does not exist.

    The change time moves on a write and on a ``chmod`` alike, so both make it re-read.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0, -1)
    return (info.st_ino, info.st_ctime_ns, info.st_size)


def check_line(line: str) -> None:
    """Raise ``ValueError`` unless ``line`` holds a host pattern and a key or certificate.

    asyncssh skips a key it cannot read; fleetstat refuses it, so a damaged pin is never
    taken for an unknown host.
    """
    words = line.split(None, 2 if line.startswith("@") else 1)
    data = words[-1]
    try:
        asyncssh.import_public_key(data)
    except asyncssh.KeyImportError:
        try:
            asyncssh.import_certificate(data)
        except asyncssh.KeyImportError:
            raise ValueError("not a valid key") from None


def parse_file(path: Path, text: str) -> asyncssh.SSHKnownHosts:
    """The entries of a known_hosts ``text`` (read from ``path``).

    Raises ``ValueError`` naming ``path:line`` for a line that is not an entry.
    """
    entries = asyncssh.SSHKnownHosts()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entries.load(line)
            check_line(line)
        except ValueError as err:
            message = f"known_hosts {path}:{number} is not a valid key line: fix or delete it"
            raise ValueError(message) from err
    return entries


def check_mode(path: Path, mode: int) -> None:
    """Raise ``ValueError`` when ``mode`` lets group or others write ``path``."""
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError(
            f"known_hosts {path} is writable by group or others (mode {stat.filemode(mode)}), "
            f"so anyone could pin a host key there: run chmod go-w {path}"
        )


def read_file(path: Path) -> KnownHostsFile:
    """``path`` read and parsed (empty when it does not exist); ``ValueError`` when unsafe."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return KnownHostsFile(path, asyncssh.SSHKnownHosts(), signature_of(path))
    except OSError as err:
        raise ValueError(f"known_hosts {path} cannot be read: {err.strerror or err}") from err
    check_mode(path, info.st_mode)
    entries = parse_file(path, data.decode("utf-8", errors="replace"))
    return KnownHostsFile(path, entries, (info.st_ino, info.st_ctime_ns, info.st_size))


# ---------------------------------------------------------------- all files of the setting


@dataclass(frozen=True)
class Match:
    """What the files say about one host: keys trusted, CA keys trusted, keys revoked."""

    host_keys: tuple[asyncssh.SSHKey, ...] = ()
    ca_keys: tuple[asyncssh.SSHKey, ...] = ()
    revoked: tuple[asyncssh.SSHKey, ...] = ()
    files: tuple[Path, ...] = ()

    @property
    def known(self) -> bool:
        """True when some file pins a key or a CA for the host."""
        return bool(self.host_keys or self.ca_keys)


def revoked_at_port(
    entries: asyncssh.SSHKnownHosts, host: str, addr: str, port: int | None
) -> list[asyncssh.SSHKey]:
    """The keys revoked for ``[host]:port`` and ``[addr]:port`` (none at the default port).

    asyncssh, finding no trusted key for ``[host]:port``, matches the host without its port
    and forgets what it found revoked for the port; this asks for the port's names alone.
    """
    if port is None:
        return []
    names = {f"[{name}]:{port}" for name in (host, addr) if name}
    return [key for name in names for key in asyncssh.match_known_hosts(entries, name, "", None)[2]]


@dataclass
class TrustStore:
    """The known_hosts files of one setting, first (fleetstat's own, written) first."""

    files: list[KnownHostsFile] = field(default_factory=list)

    @property
    def own(self) -> KnownHostsFile:
        """fleetstat's own file, the one trust on first use appends to."""
        return self.files[0]

    def match(self, host: str, addr: str, port: int | None) -> Match:
        """Every file's entries for ``host`` / ``addr`` at ``port`` (None or 22: the default)."""
        port = None if port == DEFAULT_PORT else port
        found = Match()
        for known in self.files:
            keys, cas, revoked = known.entries_for(host, addr, port)
            if keys or cas or revoked:
                found = Match(
                    found.host_keys + keys,
                    found.ca_keys + cas,
                    found.revoked + revoked,
                    (*found.files, known.path),
                )
        return found

    def lookup(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        """``match`` in the form asyncssh's ``known_hosts=`` callable returns."""
        found = self.match(host, addr, port)
        return list(found.host_keys), list(found.ca_keys), list(found.revoked)

    def learn(self, client: model.Client, key: asyncssh.SSHKey) -> None:
        """Record ``key`` for ``client`` in fleetstat's own file (made 0600 with its folder).

        A key fleetstat's file already holds for the client is not written again.
        """
        own = self.own
        port = None if client.port == DEFAULT_PORT else client.port
        if key in own.entries_for(client.ip, "", port)[0]:
            return
        openssh = key.export_public_key("openssh").decode().split()
        line = " ".join([known_hosts_name(client), *openssh[:2]])
        private_folder(own.path.parent)
        fd = os.open(own.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line + "\n")
        own.add(line)


def private_folder(folder: Path) -> None:
    """Make ``folder`` and each missing parent 0700, whatever the umask."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for part in reversed(missing):
        part.mkdir(mode=0o700, exist_ok=True)
        part.chmod(0o700)


_cache: dict[Path, KnownHostsFile] = {}


def open_files(paths: Sequence[Path]) -> TrustStore:
    """The store of ``paths`` (each re-read only when it changed on disk).

    Raises ``ValueError`` for a file that is unsafe or holds a line that is not an entry.
    """
    files = []
    for given in paths:
        path = given.expanduser()
        known = _cache.get(path)
        if known is None or known.signature != signature_of(path):
            known = _cache[path] = read_file(path)
        files.append(known)
    return TrustStore(files)


def setting_paths(settings: model.Settings) -> tuple[Path, ...]:
    """The files of the ``known-hosts`` setting: fleetstat's own, then the read-only ones."""
    return (settings.known_hosts, *settings.known_hosts_read_only)


def trust_store(client: model.Client, settings: model.Settings) -> TrustStore:
    """The store for ``settings``; raises ``HostError`` (host_key_mismatch) when unusable."""
    try:
        return open_files(setting_paths(settings))
    except ValueError as err:
        raise refuse(client, str(err)) from err


def recorded_keys(client: model.Client, settings: model.Settings) -> frozenset[str]:
    """``describe`` of each key fleetstat's own file holds for ``client`` (none when off)."""
    if settings.host_keys == model.HostKeyPolicy.OFF:
        return frozenset()
    own = TrustStore([trust_store(client, settings).own])
    return frozenset(describe(key) for key in own.match(client.ip, "", client.port).host_keys)


# ---------------------------------------------------------------- one connection


#: The host key kinds asked of a host nothing pins yet, most wanted first.
UNPINNED_ORDER = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)


class HostKeyCheck(asyncssh.SSHClient):
    """Applies the ``host-keys`` policy on one connection to ``client``.

    asyncssh accepts a key the files trust and refuses a revoked one; it asks
    ``validate_host_public_key`` about any other key: a host the files know is refused
    (its key changed), an unknown one is refused under ``strict`` and learned under
    ``accept-new``, once the server has proved it holds the key (``begin_auth``).
    """

    def __init__(self, client: model.Client, settings: model.Settings) -> None:
        self._client = client
        self._policy = model.HostKeyPolicy(settings.host_keys)
        off = self._policy is model.HostKeyPolicy.OFF
        self._trust = None if off else trust_store(client, settings)
        self._pending: asyncssh.SSHKey | None = None
        self._refused: str | None = None
        self._stage = "connecting"  # then "exchanging keys", then "authenticating"

    def options(self) -> dict[str, object]:
        """The ``asyncssh.connect`` keyword arguments that make it check host keys so.

        A host the files pin keys (or a CA) for is asked for those kinds, in the files'
        order (asyncssh does so from ``known_hosts``). Any other host is asked for
        ``UNPINNED_ORDER``: ed25519 first, RSA last, because some servers (Dropbear
        2022) offer RSA without having an RSA key, and abort when it is chosen.
        """
        known = None if self._trust is None else self._trust.lookup
        options: dict[str, object] = {"known_hosts": known, "client_factory": lambda: self}
        client = self._client
        if self._trust is None or not self._trust.match(client.ip, "", client.port).known:
            options["server_host_key_algs"] = UNPINNED_ORDER
        return options

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """True to accept ``key``, a key no file trusts (see the class)."""
        if self._trust is None:
            return True
        found = self._trust.match(host, addr, port)
        if key in found.host_keys:  # learned by another connection meanwhile
            return True
        if found.known:
            where = ", ".join(str(path) for path in found.files)
            self._refused = f"host key changed: now {describe(key)}, not the one in {where}"
            return False
        if self._policy is model.HostKeyPolicy.STRICT:
            self._refused = f"unknown host key {describe(key)} (host-keys is strict)"
            return False
        self._pending = key
        return True

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        """The TCP connection is up: what fails from here on is the SSH exchange."""
        self._stage = "exchanging keys"

    def begin_auth(self, username: str) -> None:
        """The key exchange is done, so the server holds the key: record a first one."""
        self._stage = "authenticating"
        if self._pending is not None and self._trust is not None:
            self._trust.learn(self._client, self._pending)
            _log.info("%s: learned host key %s", self._client.address, describe(self._pending))
            self._pending = None

    @property
    def certificate_missing(self) -> str | None:
        """Why a connection dropped during the key exchange is the host key's fault, or
        None: the files trust only a CA (``@cert-authority``) for this host, so only
        certificates were asked for, and a host that has none closes the connection."""
        if self._trust is None or self._stage != "exchanging keys":
            return None
        found = self._trust.match(self._client.ip, "", self._client.port)
        if found.host_keys or not found.ca_keys:
            return None
        where = ", ".join(str(path) for path in found.files)
        return (
            "the host showed no host certificate signed by the CA that "
            f"{where} trusts for it (@cert-authority, and no plain key is pinned): it may "
            "have only plain keys. Give it a certificate (HostCertificate in its "
            "sshd_config), or pin its plain key"
        )

    @property
    def refused(self) -> str | None:
        """Why the host key was refused, or None when this check refused nothing.

        asyncssh refuses a revoked key before asking; that is told from the files.
        """
        if self._refused or self._trust is None:
            return self._refused
        found = self._trust.match(self._client.ip, "", self._client.port)
        if not found.revoked:
            return None
        keys = ", ".join(describe(key) for key in found.revoked)
        where = ", ".join(str(path) for path in found.files)
        return (
            f"host key revoked: the host showed a key marked @revoked in {where} "
            f"({keys}); it must get a new key, and nothing is sent to it until then"
        )
