"""Time one ``collector.collect`` over many loopback hosts against plain OpenSSH.

    .venv/bin/python bench/run_bench.py 50 200 1000 [--concurrency 50] [--memory-concurrency 200]

For each size N: N addresses 127.0.x.y served by one ``sshd`` per 16 addresses
(``MaxStartups`` raised), a test user of its own (root only). Then, on the same
hosts in the same run:

- fleetstat: one ``collect`` (key login, ``cpu_interval`` 0), in a child process that
  also reports its peak RSS;
- the floor: plain ``ssh`` processes, ``--concurrency`` at a time, each uploading the
  same ``agent.pyz`` through stdin into a ``mktemp -d`` directory, running it once with
  the same request and removing the directory, with ``KexAlgorithms=curve25519-sha256``
  (the key exchange fleetstat offers first).

Targets: fleetstat ≤ 1.25 x the floor; peak RSS ≤ 150 MB at 1000 hosts with
concurrency 200 (``--memory-concurrency``; run for the largest size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.support.sshd import SshdFactory, SshUser, own_user  # noqa: E402

from fleetstat import collector, envelope, model, payload  # noqa: E402

TIME_TARGET = 1.25  # fleetstat / floor
RSS_TARGET_MB = 150.0


def addresses(count: int) -> list[str]:
    """``count`` loopback addresses from 127.0.1.1 on (skipping .0 and .255)."""
    return [f"127.0.{1 + n // 254}.{1 + n % 254}" for n in range(count)]


# ---------------------------------------------------------------- fleetstat, in a child process


def child(spec: dict[str, object]) -> dict[str, object]:
    """Run one collect as ``spec`` says; return seconds, outcomes and peak RSS (MB)."""
    settings = model.Settings(
        known_hosts=Path(str(spec["known_hosts"])),
        cpu_interval=0.0,
        connect_timeout=30.0,
        timeout=120.0,
    )
    clients = [
        model.Client(
            ip=ip,
            port=int(str(spec["port"])),
            username=str(spec["user"]),
            keyfile=Path(str(spec["key"])),
        )
        for ip in list(spec["addresses"])  # type: ignore[call-overload]
    ]
    concurrency = int(str(spec["concurrency"]))
    started = time.perf_counter()
    results = asyncio.run(collector.collect(clients, settings, cursors={}, concurrency=concurrency))
    elapsed = time.perf_counter() - started
    outcomes = Counter(str(r.outcome) for r in results)
    errors = sorted({r.error or "" for r in results if r.error})[:3]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "outcomes": dict(outcomes), "errors": errors, "rss_mb": rss_mb}


def run_fleetstat(spec: dict[str, object]) -> dict[str, object]:
    """``child(spec)`` in a fresh interpreter, so its RSS is the collector's alone."""
    done = subprocess.run(
        [sys.executable, __file__, "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


# ---------------------------------------------------------------- the floor: plain ssh


def floor_command(size: int) -> str:
    """The remote command: store ``size`` bytes of stdin as agent.pyz, run it, clean up."""
    return (
        "d=$(mktemp -d /tmp/fleetstat-floor.XXXXXXXX) && "
        f'dd of="$d/agent.pyz" bs={size} count=1 iflag=fullblock status=none && '
        'python3 "$d/agent.pyz"; s=$?; rm -rf "$d"; exit $s'
    )


async def one_ssh(ip: str, port: int, user: SshUser, stdin: bytes, command: str) -> bool:
    """One plain ``ssh`` run; True when it printed a token."""
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-q",
        "-p",
        str(port),
        "-i",
        str(user.key_path),
        "-o",
        "KexAlgorithms=curve25519-sha256",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        f"{user.name}@{ip}",
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate(stdin)
    return proc.returncode == 0 and out.startswith(b"gAAAA")


async def floor(ips: list[str], port: int, user: SshUser, concurrency: int) -> tuple[float, int]:
    """Seconds for plain ssh over every host, ``concurrency`` at a time; and the successes."""
    agent = payload.build_agent()
    request = envelope.request_bytes(envelope.new_key(), cpu_interval=0.0, since={}, max_events=500)
    command = floor_command(len(agent))
    gate = asyncio.Semaphore(concurrency)

    async def one(ip: str) -> bool:
        async with gate:
            return await one_ssh(ip, port, user, agent + request, command)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(ip) for ip in ips))
    return time.perf_counter() - started, sum(results)


# ---------------------------------------------------------------- one size


def bench_size(
    count: int, user: SshUser, folder: Path, concurrency: int, memory_concurrency: int | None
) -> None:
    """Start servers for ``count`` hosts, time fleetstat and the floor, print the figures."""
    factory = SshdFactory(folder / f"sshd-{count}")
    try:
        server = factory(addresses(count), options={"MaxStartups": "2000:30:2000"})
        spec: dict[str, object] = {
            "addresses": list(server.addresses),
            "port": server.port,
            "user": user.name,
            "key": str(user.key_path),
            "known_hosts": str(folder / f"known_hosts-{count}"),
            "concurrency": concurrency,
        }
        ours = run_fleetstat(spec)
        floor_seconds, floor_ok = asyncio.run(
            floor(list(server.addresses), server.port, user, concurrency)
        )
        ratio = float(str(ours["seconds"])) / floor_seconds
        print(
            f"{count:5d} hosts  fleetstat {ours['seconds']:.2f} s  {ours['outcomes']}  "
            f"rss {ours['rss_mb']:.0f} MB  |  floor {floor_seconds:.2f} s ({floor_ok} ok)  "
            f"ratio {ratio:.2f} (target ≤ {TIME_TARGET})",
            flush=True,
        )
        if ours["errors"]:
            print(f"      errors: {ours['errors']}", flush=True)
        if memory_concurrency:
            spec["concurrency"] = memory_concurrency
            wide = run_fleetstat(spec)
            print(
                f"{count:5d} hosts  concurrency {memory_concurrency}: {wide['seconds']:.2f} s  "
                f"{wide['outcomes']}  peak rss {wide['rss_mb']:.0f} MB "
                f"(target ≤ {RSS_TARGET_MB:.0f})",
                flush=True,
            )
    finally:
        factory.close()


def main() -> None:
    """Parse the sizes and run each."""
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(child(json.load(sys.stdin))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[50, 200])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--memory-concurrency", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetstat-bench-") as tmp:
        folder = Path(tmp)
        with own_user(folder) as user:
            for count in args.sizes:
                largest = count == max(args.sizes)
                memory = args.memory_concurrency if largest else None
                bench_size(count, user, folder, args.concurrency, memory)


if __name__ == "__main__":
    main()
