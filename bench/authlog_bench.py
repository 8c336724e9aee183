"""Time the agent's first read of a big syslog auth file, and of one with rotated copies.

    .venv/bin/python bench/authlog_bench.py [--mb 100] [--versus SRC]

Writes ``auth.log`` of ``--mb`` MB in a temp folder: sshd and cron lines of the last 20
hours that say nothing (read and passed over), with a failed password every 5,000
lines; then ``auth.log.1`` (the same again, a day older) beside it. Each case is one
``read_auth_file`` first run (24 h window, 500 events at most) in a fresh interpreter,
the median of three; ``--versus SRC`` times another fleetstat's ``src`` first.

Target: a first run well inside the default host timeout (60 s; the events budget is
20 s), and no slower than before when nothing is rotated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from fleetstat.agent.authfile import read_auth_file
path, not_before = sys.argv[1], sys.argv[2]
started = time.perf_counter()
result = read_auth_file(path, {}, 500, not_before=not_before, budget=20.0)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "records": len(result["records"]), "truncated": result["truncated"]}))
"""


def write_log(path: Path, megabytes: int, newest: float) -> None:
    """``megabytes`` of auth lines ending at ``newest`` (epoch seconds), 20 h of them."""
    size, lines = megabytes * 1024 * 1024, []
    line_count = size // 100
    step = 20 * 3600 / line_count
    with path.open("w") as out:
        for n in range(line_count):
            at = time.localtime(newest - (line_count - n) * step)
            stamp, pid, ip = time.strftime("%b %e %H:%M:%S", at), n % 30000, n % 250
            if n % 5000 == 0:
                body = f"sshd[{pid}]: Failed password for root from 203.0.113.{ip} port 22 ssh2"
            elif n % 2:
                body = f"sshd[{pid}]: Connection closed by 198.51.100.{ip} port 22 [preauth]"
            else:
                body = f"CRON[{pid}]: pam_unix(cron:session): session closed for user root"
            lines.append(f"{stamp} bench {body}\n")
            if len(lines) == 10000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    os.utime(path, (newest, newest))


def first_read(src: Path, path: Path) -> dict[str, float]:
    not_before = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 86400))
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), not_before],
            env={**os.environ, "PYTHONPATH": str(src)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        runs.append(json.loads(done.stdout))
    return {**runs[-1], "seconds": statistics.median(r["seconds"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--versus", type=Path, help="another fleetstat's src folder")
    args = parser.parse_args()
    trees = ([("versus", args.versus)] if args.versus else []) + [("this", ROOT / "src")]
    with tempfile.TemporaryDirectory(prefix="fleetstat-authlog-bench.") as folder:
        log = Path(folder) / "auth.log"
        now = time.time()
        write_log(log, args.mb, now)
        for name, src in trees:
            found = first_read(src, log)
            print(f"{name:>7}: {args.mb} MB, nothing rotated: {found['seconds']:.2f} s, "
                  f"{found['records']} events", flush=True)  # fmt: skip
        write_log(Path(folder) / "auth.log.1", args.mb, now - 3 * 3600)
        os.utime(log, (now, now))
        for name, src in trees:
            found = first_read(src, log)
            print(f"{name:>7}: {args.mb} MB and a rotated {args.mb} MB inside the window: "
                  f"{found['seconds']:.2f} s, {found['records']} events", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
