"""A real Dropbear SSH server on a loopback address, with the host keys a test chooses.

``dropbear_server(folder, kinds)`` generates one host key per kind (``ed25519``,
``rsa``, ``ecdsa``) with ``dropbearkey``, runs ``dropbear`` in the foreground on a free
port of 127.0.10.x, waits until it answers, and stops it at the end. The test user logs
in with its key (``~/.ssh/authorized_keys``, which Dropbear reads as OpenSSH does).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.sshd import free_port

DROPBEAR = shutil.which("dropbear") or "/usr/sbin/dropbear"
DROPBEARKEY = shutil.which("dropbearkey") or "/usr/bin/dropbearkey"


@dataclass(frozen=True)
class DropbearServer:
    """A running Dropbear: where it listens (``addresses``/``port`` as ``client_for`` reads
    them), its log, and the host keys it has."""

    addresses: tuple[str, ...]
    port: int
    log_path: Path
    kinds: tuple[str, ...]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def dropbear_server(folder: Path, kinds: tuple[str, ...], address: str) -> Iterator[DropbearServer]:
    """Dropbear on ``address`` with a host key of each of ``kinds``."""
    if not Path(DROPBEAR).exists():
        pytest.fail("dropbear is not installed (.ci/run installs dropbear-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for kind in kinds:
        key = folder / f"dropbear_{kind}_host_key"
        subprocess.run([DROPBEARKEY, "-t", kind, "-f", str(key)], check=True, capture_output=True)
        keys += ["-r", str(key)]
    port = free_port([address])
    log_path = folder / "dropbear.log"
    server = DropbearServer((address,), port, log_path, kinds)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [DROPBEAR, "-F", "-E", "-p", f"{address}:{port}", "-P", str(folder / "pid"), *keys],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_banner(address, port, process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_banner(
    address: str, port: int, process: subprocess.Popen[bytes], server: DropbearServer
) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dropbear exited with {process.returncode}:\n{server.log_text()}")
        try:
            with socket.create_connection((address, port), timeout=1.0) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dropbear does not answer on {address}:{port}:\n{server.log_text()}")
