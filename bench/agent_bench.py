"""How fast and how small the agent is. A script, not a test:

    .venv/bin/python bench/agent_bench.py

Prints one table: the agent's run time (``cpu_interval`` 0, so without the CPU
sampling pause) on the oldest and newest Pythons, the size of ``agent.pyz``, the
size of an answer carrying 500 realistic events, and the pure-Python Fernet's
throughput. Targets: run time <= 150 ms, agent.pyz <= 64 KiB, answer <= 64 KiB.
"""

from __future__ import annotations

import glob
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from fleetstat.agent import __main__ as agent_main  # noqa: E402
from fleetstat.collect import envelope, payload  # noqa: E402
from fleetstat.ssh.framing import unframe  # noqa: E402

RUNS = 10
KIB = 1024
PYTHONS = {
    "3.6": sorted(glob.glob("/root/.pyenv/versions/3.6*/bin/python3")),
    "3.13": sorted(glob.glob("/root/.pyenv/versions/3.13*/bin/python3")),
}

# Run inside the pyz's import path: encrypt 256 KiB with the agent's Fernet and with
# pyaes' own CBC mode, and print KiB/s of each.
THROUGHPUT = """
import sys, time
sys.path.insert(0, sys.argv[1])
import pyaes
from fleetstat_agent import fernet
data = bytes(range(256)) * 1024
key = b"A" * 43 + b"="
started = time.perf_counter()
fernet.encrypt(key, data)
ours = len(data) / 1024 / (time.perf_counter() - started)
padded = fernet.pad(data)
mode = pyaes.AESModeOfOperationCBC(b"k" * 16, iv=b"i" * 16)
started = time.perf_counter()
b"".join(mode.encrypt(padded[i:i + 16]) for i in range(0, len(padded), 16))
theirs = len(data) / 1024 / (time.perf_counter() - started)
print(ours, theirs)
"""


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_time(python: str, pyz: Path) -> tuple[float, float]:
    """Median (wall, CPU) seconds of ``RUNS`` agent runs with ``cpu_interval`` 0.

    The CPU time (the agent and what it starts, such as ``journalctl``) hardly
    depends on what else the machine is doing; the wall time does.
    """
    walls, cpus = [], []
    for _ in range(RUNS):
        key = envelope.new_key()
        request = envelope.request_bytes(key, cpu_interval=0.0, since={}, max_events=500)
        cpu, started = children_cpu(), time.perf_counter()
        done = subprocess.run(
            [python, "-I", "-S", str(pyz)], input=request, capture_output=True, check=True
        )
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu() - cpu)
        envelope.open_answer(unframe(done.stdout).answer, key)
    return statistics.median(walls), statistics.median(cpus)


def startup_time(python: str) -> float:
    """Median wall seconds of a bare ``python -I -S -c pass``, for comparison."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([python, "-I", "-S", "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def throughput(python: str, pyz: Path) -> tuple[float, float]:
    """KiB/s of the agent's Fernet and of pyaes' CBC mode, under ``python``."""
    done = subprocess.run(
        [python, "-I", "-S", "-c", THROUGHPUT, str(pyz)],
        capture_output=True,
        text=True,
        check=True,
    )
    ours, theirs = done.stdout.split()
    return float(ours), float(theirs)


def synthetic_event(i: int) -> dict[str, object]:
    """One sshd failure as journald gives it, with its raw fields."""
    ip = f"203.0.113.{i % 250}"
    port = 40000 + i
    user = ("root", "admin", "oracle", "ubuntu", "test")[i % 5]
    message = f"Failed password for {user} from {ip} port {port} ssh2"
    cursor = f"s=8f1d5e2c9a7b4e3f8c1d2e3f4a5b6c7d;i={0x2A9F0 + i:x};b=0e6a3b9c;m={i * 7919:x}"
    return {
        "source": "linux-auth",
        "record_id": cursor,
        "event_id": "sshd.failed_password",
        "time": f"2026-11-27T12:{i // 60 % 60:02d}:{i % 60:02d}.{i * 137 % 1000000:06d}Z",
        "level": "audit_failure",
        "user": user,
        "source_ip": ip,
        "message": message,
        "fields": {
            "MESSAGE": message,
            "SYSLOG_IDENTIFIER": "sshd",
            "SYSLOG_FACILITY": "10",
            "PRIORITY": "6",
            "_PID": str(1000 + i * 3),
            "_UID": "0",
            "_COMM": "sshd",
            "_EXE": "/usr/sbin/sshd",
            "_CMDLINE": f"sshd: {user} [priv]",
            "_SYSTEMD_UNIT": "ssh.service",
            "_HOSTNAME": "web01",
            "_BOOT_ID": "0e6a3b9c4d5e6f708192a3b4c5d6e7f8",
            "__REALTIME_TIMESTAMP": str(1795800000000000 + i * 1000137),
        },
    }


def answer_size() -> tuple[int, int, int]:
    """(JSON bytes, compressed bytes, token bytes) of an answer with 500 events."""
    answer = {"v": 1, "host": {"hostname": "web01"}, "errors": []}
    records = [synthetic_event(i) for i in range(500)]
    answer["events"] = {"records": records, "cursor": {}, "resets": [], "truncated": True}
    plain = agent_main.json.dumps(answer, separators=(",", ":"), sort_keys=True).encode()
    token = agent_main.seal(answer, envelope.new_key().decode())
    return len(plain), len(zlib.compress(plain, 6)), len(token)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pyz = payload.write_agent(Path(tmp) / "agent.pyz")
        for label, found in PYTHONS.items():
            if not found:
                rows.append((f"run time, Python {label}", "not installed", ""))
                continue
            seconds, cpu = run_time(found[-1], pyz)
            bare = startup_time(found[-1])
            rows.append(
                (f"run time, Python {label}", f"{seconds * 1000:.0f} ms", verdict(seconds <= 0.150))
            )
            rows.append(("  CPU time", f"{cpu * 1000:.0f} ms", verdict(cpu <= 0.150)))
            rows.append(("  of which interpreter start", f"{bare * 1000:.0f} ms", ""))
            ours, theirs = throughput(found[-1], pyz)
            rows.append((f"Fernet, Python {label}", f"{ours:.0f} KiB/s", ""))
            rows.append((f"  pyaes CBC mode, Python {label}", f"{theirs:.0f} KiB/s", ""))
        size = len(payload.build_agent())
        rows.append(("agent.pyz", f"{size / KIB:.1f} KiB", verdict(size <= 64 * KIB)))
        plain, packed, token = answer_size()
        rows.append(("answer, 500 events, JSON", f"{plain / KIB:.1f} KiB", ""))
        rows.append(("  zlib-compressed", f"{packed / KIB:.1f} KiB", verdict(packed <= 64 * KIB)))
        rows.append(("  as the Fernet token", f"{token / KIB:.1f} KiB", verdict(token <= 64 * KIB)))
    rows.append(("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}", ""))
    width = max(len(r[0]) for r in rows)
    for name, value, mark in rows:
        print(f"{name:<{width}}  {value:>14}  {mark}")


if __name__ == "__main__":
    main()
