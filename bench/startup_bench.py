"""How fast the ``fleetstat`` command starts: medians of wall-clock time, hyperfine-style.

Runs each command ``--rounds`` times, rounds interleaved (so a busy moment of the machine
hits every command alike), after one warm-up each, and prints median, min and max in
seconds. ``check-config`` reads a generated config of ``--clients`` clients.
Targets: ``--version`` and ``--help`` ≤ 0.3 s, ``check-config`` on 2,000 clients ≤ 0.6 s.

    .venv/bin/python bench/startup_bench.py [--rounds 10] [--clients 2000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--version": 0.3, "--help": 0.3, "check-config": 0.6}


def write_config(folder: Path, clients: int) -> Path:
    """A ``<clients>`` config of ``clients`` clients with two rules each; its path."""
    lines = ["<clients>", '  <settings db="sqlite:///fleetstat.db" />']
    for n in range(clients):
        lines.append(
            f'  <client ip="10.{n // 250}.{n % 250}.1" username="ops" keyfile="{folder}/key"'
            f' mail="ops@example.org" name="host{n:04d}">'
            '<alert type="memory" limit="90%" /><alert type="cpu" limit="95%" /></client>'
        )
    lines.append("</clients>")
    (folder / "key").write_text("not read by check-config\n")
    path = folder / "clients.xml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def fleetstat() -> str:
    """The ``fleetstat`` script of this interpreter's environment (what a user runs)."""
    script = Path(sys.executable).parent / "fleetstat"
    if not script.exists():
        raise SystemExit(f"no {script}: run `make .venv/bin/fleetstat` first")
    return str(script)


def once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run of ``argv``; exits when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=2000)
    args = parser.parse_args()
    script = fleetstat()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), args.clients)
        commands = {
            "--version": [script, "--version"],
            "--help": [script, "--help"],
            "check-config": [script, "check-config", str(config)],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            once(argv)  # warm-up: the page cache, not the measure
        for _ in range(args.rounds):
            for name, argv in commands.items():
                took, cpu = once(argv)
                times[name].append(took)
                cpus[name].append(cpu)
    print(f"{'command':<14} {'median':>8} {'min':>8} {'max':>8} {'cpu':>8} {'target':>8}")
    failed = False
    for name, taken in times.items():
        median = statistics.median(taken)
        failed |= median > TARGETS[name]
        print(
            f"{name:<14} {median:8.3f} {min(taken):8.3f} {max(taken):8.3f} "
            f"{statistics.median(cpus[name]):8.3f} {TARGETS[name]:8.1f}"
            + ("  OVER" if median > TARGETS[name] else "")
        )
    print(
        f"(seconds; {args.rounds} rounds, check-config on {args.clients} clients; cpu is the "
        "median user + system time, which a busy machine inflates less than the wall clock)"
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
