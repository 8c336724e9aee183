"""What an OpenSSH client config says about one client, read as the connection reads it.

With ``<settings ssh-config>`` set, the same file is handed to asyncssh when connecting
(``ssh.connect`` passes ``config=``), so ``ProxyJump``, ``IdentityFile`` and ``HostName`` apply
there. Here it fills what the XML leaves out, ``username`` and ``port``, so a client's
identity (``ip:port``) is the port really reached, and ``check-config --show`` can say
where each value comes from.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from fleetstat.core.errors import ConfigError

DEFAULT_PORT = 22


@dataclass(frozen=True)
class SshHost:
    """One host as the OpenSSH config sees it; None where the file says nothing."""

    user: str | None
    port: int | None
    identity_files: tuple[str, ...]
    proxy_jump: str | None


def check_readable(path: Path, where: str) -> None:
    """Raise ConfigError (naming ``where``) unless ``path`` is a readable file."""
    try:
        path.read_bytes()
    except OSError as err:
        raise ConfigError(
            where,
            None,
            f"ssh-config {str(path)!r} cannot be read: {err.strerror or err}",
            'give the path of an OpenSSH client config, or ssh-config="no"',
        ) from err


def lookup(path: Path, host: str) -> SshHost:
    """The ``User``, ``Port``, ``IdentityFile`` and ``ProxyJump`` that ``path`` gives ``host``.

    ``Host`` and ``Match`` blocks are evaluated by asyncssh, as when connecting (a
    ``Match exec`` runs its command). A file that does not parse is a ConfigError.
    """
    from asyncssh.config import ConfigParseError, SSHClientConfig

    try:
        parsed = SSHClientConfig.load(
            None, [path], False, False, False, _local_user(), (), host, ()
        )
    except (ConfigParseError, OSError) as err:
        raise ConfigError(
            str(path),
            None,
            f"the OpenSSH config does not parse: {err}",
            'fix it, or set ssh-config="no"',
        ) from err
    user, port, jump = parsed.get("User"), parsed.get("Port"), parsed.get("ProxyJump")
    files = parsed.get("IdentityFile") or ()
    return SshHost(
        user=str(user) if user else None,
        port=int(str(port)) if port else None,
        identity_files=tuple(str(name) for name in files),  # type: ignore[attr-defined]
        proxy_jump=str(jump) if jump and str(jump).lower() != "none" else None,
    )


def resolve_jump(path: Path | None, spec: str) -> str:
    """``spec`` with each hop's user and port filled in as ``path`` gives them (the hop
    itself stays a name the config knows, so its HostName still applies)."""
    if path is None:
        return spec
    hops = []
    for hop in spec.split(","):
        user, _, rest = hop.rpartition("@")
        host, _, port = rest.partition(":") if rest.count(":") == 1 else (rest, "", "")
        found = lookup(path, host)
        user = user or login_user(found)
        port = port or str(found.port or DEFAULT_PORT)
        hops.append(f"{user}@{host}:{port}")
    return ",".join(hops)


def _local_user() -> str:
    """Who runs fleetstat: OpenSSH's user when the config names none."""
    return getpass.getuser()


def login_user(found: SshHost) -> str:
    """The user OpenSSH would log in as: the config's ``User``, else the local user."""
    return found.user or _local_user()
