"""SSH hosts behind a real round trip: network namespaces, veth pairs, a delay each way.

Each host is a namespace ``fsb<pid>-<n>`` holding one end of a veth pair
(10.213.<n>.2/30) and an ``sshd``; the other end (10.213.<n>.1/30) stays here. Both
ends delay every packet by ``delay_ms`` with ``tc qdisc ... netem delay``, so a round
trip costs twice that. A kernel built without netem (``Specified qdisc kind is
unknown``) gets the delay from a relay process instead (``relay.py``): it listens here
and forwards each host's connection into its namespace, holding every chunk for
``delay_ms`` in each direction (and the connect for a whole round trip). Everything is
removed on exit. Root only; needs iproute2.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.sshd import SSHD, config_text

PORT = 22


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _make_host(name: str, number: int, delay_ms: int) -> tuple[str, str]:
    """Namespace ``name`` with a delayed veth pair; (our address, its address)."""
    ours, theirs = f"10.213.{number}.1", f"10.213.{number}.2"
    outer, inner = f"{name[:8]}o{number}", f"{name[:8]}i{number}"
    _ip("netns", "add", name)
    _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
    _ip("link", "set", inner, "netns", name)
    _ip("addr", "add", f"{ours}/30", "dev", outer)
    _ip("link", "set", outer, "up")
    inside = ["netns", "exec", name, "ip"]
    _ip(*inside, "addr", "add", f"{theirs}/30", "dev", inner)
    _ip(*inside, "link", "set", inner, "up")
    _ip(*inside, "link", "set", "lo", "up")
    return ours, theirs


def netem(name: str, number: int, delay_ms: int) -> bool:
    """Delay both ends of host ``number``'s veth pair; False when the kernel has no netem."""
    outer, inner = f"{name[:8]}o{number}", f"{name[:8]}i{number}"
    delay = ["root", "netem", "delay", f"{delay_ms}ms"]
    done = subprocess.run(
        ["tc", "qdisc", "add", "dev", outer, *delay], capture_output=True, check=False
    )
    if done.returncode != 0:
        return False
    inside = ["ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", inner, *delay]
    subprocess.run(inside, check=True)
    return True


@contextlib.contextmanager
def delayed_hosts(folder: Path, count: int, delay_ms: int) -> Iterator[list[tuple[str, int]]]:
    """``count`` sshd hosts behind ``delay_ms`` each way; their (ip, port)."""
    names = [f"fsb{os.getpid()}-{n}" for n in range(1, count + 1)]
    procs: list[subprocess.Popen[bytes]] = []
    made: list[str] = []
    try:
        hosts = []
        routes = []
        for number, name in enumerate(names, start=1):
            made.append(name)
            _ours, theirs = _make_host(name, number, delay_ms)
            if not netem(name, number, delay_ms):
                routes.append(f"127.0.213.{number}:{PORT}={theirs}:{PORT}")
            host_key = folder / f"{name}_host_ed25519"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                           check=True)  # fmt: skip
            config = folder / f"{name}.sshd_config"
            config.write_text(config_text([theirs], PORT, host_key, {"MaxStartups": "100:30:100"}))
            log = folder / f"{name}.sshd.log"
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", name, SSHD, "-D", "-e", "-f", str(config), "-E", str(log)],
            ))  # fmt: skip
            hosts.append((theirs, PORT))
        _wait(hosts)
        if routes:
            relay = Path(__file__).with_name("relay.py")
            procs.append(subprocess.Popen([sys.executable, str(relay), str(delay_ms), *routes]))
            hosts = [(route.split(":")[0], PORT) for route in routes]
            _wait(hosts)
        yield hosts
    finally:
        for proc in procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for number, name in enumerate(made, start=1):
            subprocess.run(["ip", "link", "del", f"{name[:8]}o{number}"], check=False,
                           capture_output=True)  # fmt: skip
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def _wait(hosts: list[tuple[str, int]]) -> None:
    """Wait until every host answers with an SSH banner."""
    import socket
    import time

    deadline = time.monotonic() + 10
    for ip, port in hosts:
        while True:
            try:
                with socket.create_connection((ip, port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd in a namespace does not answer on {ip}")
            time.sleep(0.05)
