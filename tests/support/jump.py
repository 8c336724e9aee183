"""A client reachable only through a jump host: two real ``sshd``, one in a network namespace.

``jump_pair`` (function) makes a network namespace of its own with only a loopback, and
starts there:

- the target's ``sshd``, listening on the namespace's own 127.0.0.1 — no address of the
  test's namespace reaches it;
- the jump host's ``sshd`` in inetd mode (``sshd -i``), once per connection accepted by a
  small listener on 127.0.0.x of the test's namespace.

So a connection to the jump host arrives in the namespace, and the jump host's
``direct-tcpip`` forwarding reaches the target there; nothing else can. Everything is
stopped and the namespace deleted at teardown. Needs root and ``ip``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.sshd import SSHD, config_text, free_port

JUMP_ADDRESS = "127.0.0.81"
START_TIMEOUT = 10.0  # seconds for the target's sshd to listen


@dataclass
class JumpPair:
    """The jump host (``jump_address:jump_port``) and the target, inside ``namespace``."""

    namespace: str
    jump_address: str
    jump_port: int
    jump_host_key: str
    target_port: int
    target_host_key: str
    jump_log: Path
    target_log: Path


def _in_namespace(namespace: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


def _serve_jump(
    listener: socket.socket, command: list[str], stop: threading.Event, sessions: list
) -> None:  # type: ignore[type-arg]
    """Accept connections and hand each to one ``sshd -i`` inside the namespace."""
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        with conn:
            sessions.append(subprocess.Popen(command, stdin=conn, stdout=conn))


def _wait_listening(log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while "Server listening" not in (log.read_text() if log.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the target sshd did not start:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.fixture
def jump_pair(tmp_path: Path) -> Iterator[JumpPair]:
    """A jump host on 127.0.0.81 and a target only it can reach (see the module's docstring)."""
    with jump_to(tmp_path, ["127.0.0.1"]) as pair:
        yield pair


@pytest.fixture
def bastion_fleet(tmp_path: Path) -> Iterator[JumpPair]:
    """One jump host and ``BEHIND`` targets only it reaches: 127.0.3.1 … in the namespace,
    one port (``target_port``), one host key."""
    with jump_to(tmp_path, [f"127.0.3.{n}" for n in range(1, BEHIND + 1)]) as pair:
        yield pair


#: Targets behind the bastion of ``bastion_fleet``.
BEHIND = 20


@contextlib.contextmanager
def jump_to(tmp_path: Path, addresses: list[str]) -> Iterator[JumpPair]:
    """The jump host, and target sshd processes on ``addresses`` inside the namespace."""
    if os.geteuid() != 0 or not shutil.which("ip") or not os.access(SSHD, os.X_OK):
        pytest.skip("a network namespace and sshd need root, iproute2 and openssh-server")
    folder = Path(os.path.realpath(tmp_path)) / "jump"
    folder.mkdir()
    namespace = f"fsjump{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    processes: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    listener = socket.create_server((JUMP_ADDRESS, 0))
    listener.settimeout(0.2)
    thread: threading.Thread | None = None
    try:
        subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True)
        target_port = free_port(["127.0.0.1"])
        jump = _sshd_files(folder, "jump", None)
        target_key: str | None = None
        for index in range(0, len(addresses), 16):
            name = f"target{index // 16 or ''}"
            target = _sshd_files(folder, name, target_port, addresses[index : index + 16])
            target_key = target_key or target[2]
            proc = subprocess.Popen(
                _in_namespace(namespace, SSHD, "-D", "-e", "-f", str(target[0]),
                              "-E", str(target[1])),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(proc)
            _wait_listening(target[1], proc)
        command = _in_namespace(namespace, SSHD, "-i", "-e", "-f", str(jump[0]), "-E", str(jump[1]))
        thread = threading.Thread(
            target=_serve_jump, args=(listener, command, stop, processes), daemon=True
        )
        thread.start()
        yield JumpPair(
            namespace=namespace,
            jump_address=JUMP_ADDRESS,
            jump_port=listener.getsockname()[1],
            jump_host_key=jump[2],
            target_port=target_port,
            target_host_key=str(target_key),
            jump_log=jump[1],
            target_log=folder / "target.log",
        )
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        listener.close()
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def _sshd_files(
    folder: Path, name: str, port: int | None, addresses: list[str] | None = None
) -> tuple[Path, Path, str]:
    """The ``sshd_config``, log path and public host key line of one of the servers (the
    targets share one host key and one log).

    ``port`` None is inetd mode (``sshd -i``): no port and no listen address of its own.
    """
    key = folder / ("jump_host_ed25519" if port is None else "target_host_ed25519")
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    text = config_text(addresses or ["127.0.0.1"], port or 22, key, {"MaxStartups": ""})
    if port is None:
        text = "\n".join(
            line for line in text.splitlines() if not line.startswith(("Port ", "ListenAddress "))
        )
    config = folder / f"{name}_sshd_config"
    config.write_text(text + "\n")
    log = folder / ("jump.log" if port is None else "target.log")
    return config, log, key.with_suffix(".pub").read_text().strip()
