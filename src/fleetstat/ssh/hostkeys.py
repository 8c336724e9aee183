"""Host keys: fleetstat's known_hosts file, trust on first use, refusing a changed key.

The whole of host-key checking lives here, so it can move as one piece.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from fleetstat import model
from fleetstat.ssh.failures import fail as _fail


def known_hosts_name(client: model.Client) -> str:
    """The host's name in a known_hosts file: ``ip``, or ``[ip]:port`` off port 22."""
    return client.ip if client.port == 22 else f"[{client.ip}]:{client.port}"


def parse_known_hosts(text: str) -> dict[str, list[str]]:
    """Host name → public key lines (``type base64``) of an OpenSSH known_hosts text.

    Hashed names, markers (``@revoked``) and comments are skipped.
    """
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith(("#", "@", "|")):
            continue
        for name in parts[0].split(","):
            keys.setdefault(name, []).append(f"{parts[1]} {parts[2]}")
    return keys


def line_number_of(text: str, name: str, key_line: str) -> int | None:
    """The 1-based number of the first line of ``text`` recording ``key_line`` for ``name``."""
    wanted = key_line.split()
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if len(parts) >= 3 and name in parts[0].split(",") and parts[1:3] == wanted:
            return number
    return None


class KnownHosts:
    """fleetstat's own known_hosts file, read once and appended to on first use."""

    _cache: dict[Path, tuple[tuple[int, int], dict[str, list[str]]]] = {}  # noqa: RUF012

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()

    def keys_for(self, name: str) -> list[str]:
        """The key lines recorded for ``name`` (empty when it was never seen)."""
        return list(self._load().get(name, []))

    def add(self, name: str, key_line: str) -> None:
        """Record ``key_line`` for ``name`` (creates the folder and the file, mode 0600)."""
        entries = self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(f"{name} {key_line}\n")
        entries.setdefault(name, []).append(key_line)
        self._cache[self.path] = (self._signature(), entries)

    def _signature(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return (0, -1)
        return (stat.st_mtime_ns, stat.st_size)

    def _load(self) -> dict[str, list[str]]:
        signature = self._signature()
        cached = self._cache.get(self.path)
        if cached is None or cached[0] != signature:
            cached = (signature, parse_known_hosts(self.text()))
            self._cache[self.path] = cached
        return cached[1]

    def text(self) -> str:
        """The file's text ("" when it does not exist; undecodable bytes replaced)."""
        if not self.path.exists():
            return ""
        return self.path.read_text(encoding="utf-8", errors="replace")


class _HostKeyCheck(asyncssh.SSHClient):
    """Decides on a host key that is not already trusted: first use, or a mismatch."""

    def __init__(self, policy: str, known: KnownHosts, name: str, recorded: bool) -> None:
        self._policy = policy
        self._known = known
        self._name = name
        self._recorded = recorded
        self.refused: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        if self._policy == "off":
            return True
        line = key.export_public_key("openssh").decode().strip()
        if self._recorded:
            self.refused = f"host key changed: now {key.get_fingerprint()}"
            return False
        if self._policy == "strict":
            self.refused = f"unknown host key {key.get_fingerprint()} (host_keys is strict)"
            return False
        self._known.add(self._name, " ".join(line.split()[:2]))
        return True


def _trusted_keys(client: model.Client, settings: model.Settings) -> list[asyncssh.SSHKey]:
    """The keys recorded for the client, as asyncssh keys (empty when none or policy off).

    A recorded line that is not a valid key raises ``HostError`` (host_key_mismatch)
    naming the file and the line.
    """
    if settings.host_keys == "off":
        return []
    known = KnownHosts(settings.known_hosts)
    name = known_hosts_name(client)
    keys = []
    for line in known.keys_for(name):
        try:
            keys.append(asyncssh.import_public_key(line))
        except (asyncssh.KeyImportError, ValueError) as err:
            number = line_number_of(known.text(), name, line)
            where = f"{known.path}:{number}" if number else str(known.path)
            message = f"known_hosts {where} is not a valid key line: fix or delete it"
            raise _fail(client, model.Outcome.HOST_KEY_MISMATCH, message) from err
    return keys
