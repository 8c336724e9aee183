"""A simulated fleet: thousands of SSH hosts from one process, for the collector's own cost.

Each simulated host is an asyncssh server on its own loopback address (127.77.x.y) that takes any
password, runs no program, and answers the one command of a POSIX host as a real one
would: the probe's line, then the agent's answer — a canned answer (one real agent run
on this machine) encrypted with the key of the request it was sent. So the collector
does all of its real work (SSH, key exchange, decryption, validation, the database,
alerts, mail) while no client Python runs on these two cores.

    .venv/bin/python bench/simfleet.py [--hosts 1000 10000] [--workers 0 1 2]

``--workers 0`` is one local collector (``fleetstat run``); ``1`` and ``2`` are
``--engine celery`` with that many ``fleetstat worker`` processes on the RabbitMQ of
this machine. Prints hosts per second and collector CPU per host (user + system of
every fleetstat process of the pass, from getrusage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import asyncssh
from cryptography.fernet import Fernet

from fleetstat.collect import envelope, payload

FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))
PORT = 2299  # every simulated host listens on this port, each on its own loopback address
PROBE_LINE = b"fleetstat-shell:%OS%:\n"


def address(n: int) -> str:
    """The loopback address of simulated host ``n`` (127.77.0.1 and up)."""
    return f"127.77.{n // 250}.{n % 250 + 1}"


def canned_answer() -> dict[str, Any]:
    """The JSON answer of one real agent run on this machine (no CPU wait, no events)."""
    key = envelope.new_key()
    request = envelope.request_bytes(key, cpu_interval=0, since={}, max_events=0)
    with tempfile.NamedTemporaryFile(suffix=".pyz") as agent:
        agent.write(payload.build_agent())
        agent.flush()
        done = subprocess.run(
            [sys.executable, "-I", "-S", agent.name], input=request, capture_output=True,
            check=True,
        )  # fmt: skip
    token = done.stdout.strip().splitlines()[-1]
    return json.loads(envelope.decompress(envelope.decrypt(token, key)))


class _AnyPassword(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return True


def handler(answer: bytes) -> Any:
    """The process of a simulated host: read the framed agent and request, answer."""

    async def serve(process: asyncssh.SSHServerProcess[bytes]) -> None:
        header = await process.stdin.readline()
        agent_size, request_size = (int(n) for n in header.split())
        await process.stdin.readexactly(agent_size)
        request = json.loads(await process.stdin.readexactly(request_size))
        token = Fernet(request["key"].encode()).encrypt(answer)
        process.stdout.write(PROBE_LINE + token + b"\n")
        process.exit(0)

    return serve


async def serve_fleet(count: int, ready: threading.Event, stop: asyncio.Event) -> None:
    """``count`` hosts on PORT of 127.77.0.1 and up until ``stop``."""
    answer = zlib.compress(json.dumps(canned_answer()).encode())
    key = asyncssh.generate_private_key("ssh-ed25519")
    servers = [
        await asyncssh.create_server(
            _AnyPassword, address(n), PORT, server_host_keys=[key],
            process_factory=handler(answer), encoding=None, reuse_address=True,
        )
        for n in range(count)
    ]  # fmt: skip
    ready.set()
    await stop.wait()
    for server in servers:
        server.close()


def write_config(folder: Path, count: int, *, engine: str, queue: str) -> Path:
    clients = "\n".join(
        f'  <client ip="{address(n)}" port="{PORT}" username="sim" password="sim" '
        f'name="sim{n:05d}" mail="ops{n % 10}@example.org"><alert type="memory" limit="90%" />'
        "</client>"
        for n in range(count)
    )
    path = folder / "clients.xml"
    path.write_text(
        f'<clients>\n  <settings db="sqlite:///{folder}/fleetstat.db" host-keys="off" '
        f'known-hosts="{folder}/known_hosts" cpu-interval="0.1" concurrency="200" '
        f'engine="{engine}" queue="{queue}" shard-size="250">\n'
        '    <smtp host="127.0.0.1" port="9" />\n'
        f"  </settings>\n{clients}\n</clients>\n"
    )
    path.chmod(0o600)
    return path


def measure(count: int, workers: int, folder: Path) -> tuple[float, float]:
    """(seconds, collector CPU seconds) of one cold pass over ``count`` simulated hosts."""
    queue = f"fleetstat-sim-{uuid.uuid4().hex[:8]}"
    path = write_config(folder, count, engine="celery" if workers else "local", queue=queue)
    procs = [
        subprocess.Popen([FLEETSTAT, "worker", "-c", str(path), "--concurrency", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]  # fmt: skip
    try:
        time.sleep(5 if workers else 0)  # the workers connect to the broker
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run([FLEETSTAT, "run", "-c", str(path), "--json"], check=False,
                              capture_output=True, text=True)  # fmt: skip
        seconds = time.perf_counter() - began
        hosts = json.loads(done.stdout)["hosts"] if done.stdout.strip() else []
        ok = sum(host["outcome"] == "ok" for host in hosts)
        if ok != count:
            sys.exit(f"only {ok} of {count} simulated hosts answered: {done.stderr[-2000:]}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    args = parser.parse_args()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    print("hosts  engine           seconds  hosts/s  CPU ms/host")
    for count in args.hosts:
        ready, loop = threading.Event(), asyncio.new_event_loop()
        stop = asyncio.Event()
        server = threading.Thread(
            target=loop.run_until_complete, args=(serve_fleet(count, ready, stop),), daemon=True
        )
        server.start()
        ready.wait()
        for workers in args.workers:
            with tempfile.TemporaryDirectory(prefix="fleetstat-sim-") as tmp:
                seconds, cpu = measure(count, workers, Path(tmp))
            engine = f"celery x{workers}" if workers else "local"
            print(f"{count:>5}  {engine:<15}  {seconds:>7.1f}  {count / seconds:>7.0f}  "
                  f"{cpu / count * 1000:>11.1f}", flush=True)  # fmt: skip
        loop.call_soon_threadsafe(stop.set)
        server.join(timeout=30)
    os.environ.pop("FLEETSTAT_BROKER", None)


if __name__ == "__main__":
    main()
