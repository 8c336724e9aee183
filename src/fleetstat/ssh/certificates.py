"""OpenSSH user certificates: found beside a key, loaded once, checked before they are used.

A client's certificate is its ``certificate`` attribute, else ``KEYFILE-cert.pub`` when
that file exists (as ``ssh-keygen -s`` writes it). One that is expired or not yet valid
is never offered: the login fails as ``auth_failed`` saying so, without a try the
server would refuse. One that expires within ``SOON`` is a warning at ``check-config``
and in the pass summary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import asyncssh

from fleetstat.core import model

T = TypeVar("T")
#: How close to its end a certificate is warned about.
SOON = timedelta(days=7)
#: Loaded certificates by path, with the (mtime, size) they were loaded at.
_CERTS: dict[Path, tuple[tuple[int, int], asyncssh.SSHCertificate]] = {}


def certificate_path(client: model.Client) -> Path | None:
    """The certificate offered for ``client``: its own, or the one beside its key file."""
    if client.certificate is not None:
        return Path(client.certificate).expanduser()
    if client.keyfile is None:
        return None
    beside = Path(f"{Path(client.keyfile).expanduser()}-cert.pub")
    return beside if beside.is_file() else None


def load(path: Path) -> asyncssh.SSHCertificate:
    """The certificate in ``path``, read once while the file is unchanged (``OSError``,
    ``ValueError`` as asyncssh raises them)."""
    return read_once(_CERTS, path, asyncssh.read_certificate)


def read_once(
    cache: dict[Path, tuple[tuple[int, int], T]], path: Path, reader: Callable[[Path], T]
) -> T:
    """``reader(path)``, kept in ``cache`` while the file keeps its mtime and size."""
    stat = path.stat()
    signature = (stat.st_mtime_ns, stat.st_size)
    cached = cache.get(path)
    if cached is None or cached[0] != signature:
        cached = (signature, reader(path))
        cache[path] = cached
    return cached[1]


def validity(cert: asyncssh.SSHCertificate) -> tuple[datetime, datetime]:
    """When ``cert`` starts and stops being valid (UTC). asyncssh keeps the two times of
    an OpenSSH certificate as private attributes and checks them only on a server."""
    after = getattr(cert, "_valid_after", 0)
    before = getattr(cert, "_valid_before", 2**64 - 1)
    start = datetime.fromtimestamp(min(after, 2**40), UTC)
    end = datetime.fromtimestamp(min(before, 2**40), UTC)
    return start, end


def problem(path: Path, cert: asyncssh.SSHCertificate, now: datetime) -> str | None:
    """Why ``cert`` cannot be used at ``now`` (expired, not valid yet), or None."""
    start, end = validity(cert)
    if now >= end:
        return f"user certificate {path} expired at {end:%Y-%m-%d %H:%M} UTC: have it signed again"
    if now < start:
        return f"user certificate {path} is not valid before {start:%Y-%m-%d %H:%M} UTC"
    return None


def expiring(clients: list[model.Client], now: datetime | None = None) -> list[str]:
    """One line per client whose certificate expires within ``SOON`` (or already has)."""
    now = now or datetime.now(UTC)
    lines = []
    for client in clients:
        path = certificate_path(client)
        if path is None:
            continue
        try:
            end = validity(load(path))[1]
        except (OSError, ValueError) as err:
            lines.append(f"{client.label}: user certificate {path} cannot be read: {err}")
            continue
        if end - now <= SOON:
            verb = "expired" if end <= now else "expires"
            lines.append(f"{client.label}: user certificate {path} {verb} {end:%Y-%m-%d %H:%M} UTC")
    return lines
