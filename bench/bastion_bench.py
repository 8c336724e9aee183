"""Hosts behind one bastion: logins on the bastion and the pass time, side by side.

    .venv/bin/python bench/bastion_bench.py [--hosts 50] [--versus SRC]

Root only. A jump host (``sshd -i``, one per connection) in front of ``--hosts`` targets
in a network namespace that only it reaches (``tests/support/jump.py``); the clients
reach them through ``ProxyJump`` of an OpenSSH config, which every fleetstat follows.
One cold ``fleetstat run`` per tree (``--versus SRC`` first): its wall time and the
logins the bastion's log shows for it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.support import jump  # noqa: E402
from tests.support.sshd import own_user  # noqa: E402


def write_config(folder: Path, pair: jump.JumpPair, user: object, hosts: int) -> Path:
    key, name = user.key_path, user.name  # type: ignore[attr-defined]
    (folder / "ssh_config").write_text(
        f"Host bastion\n    HostName {pair.jump_address}\n    Port {pair.jump_port}\n"
        f"    User {name}\n    IdentityFile {key}\n"
        f"    UserKnownHostsFile {folder / 'jump_known_hosts'}\n"
        f"Host 127.0.3.*\n    User {name}\n    IdentityFile {key}\n    ProxyJump bastion\n"
    )
    (folder / "jump_known_hosts").write_text(
        f"[{pair.jump_address}]:{pair.jump_port} {pair.jump_host_key}\n"
    )
    clients = "\n".join(
        f'  <client ip="127.0.3.{n}" port="{pair.target_port}"/>' for n in range(1, hosts + 1)
    )
    path = folder / "clients.xml"
    path.write_text(
        f'<clients>\n  <settings db="sqlite:///{folder}/fleet.db" known-hosts='
        f'"{folder}/known_hosts" ssh-config="{folder}/ssh_config" cpu-interval="0.1" '
        f'timeout="120" connect-timeout="60"/>\n{clients}\n</clients>\n'
    )
    path.chmod(0o600)
    return path


def logins(pair: jump.JumpPair) -> int:
    """The logins the bastion's log shows so far."""
    log = pair.jump_log
    return log.read_text().count("Accepted publickey") if log.exists() else 0


def run(src: Path, config: Path, pair: jump.JumpPair) -> tuple[float, int, str]:
    before = logins(pair)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "fleetstat.cli", "run", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout else done.stderr[-300:]
    return wall, logins(pair) - before, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--versus", type=Path, help="another fleetstat's src folder")
    args = parser.parse_args()
    trees = ([("versus", args.versus)] if args.versus else []) + [("this", ROOT / "src")]
    with tempfile.TemporaryDirectory(prefix="fleetstat-bastion-bench.") as tmp:
        folder = Path(tmp)
        addresses = [f"127.0.3.{n}" for n in range(1, args.hosts + 1)]
        with own_user(folder) as user, jump.jump_to(folder, addresses) as pair:
            for name, src in trees:
                own = folder / name
                own.mkdir()
                wall, count, summary = run(src, write_config(own, pair, user, args.hosts), pair)
                print(f"{name:>7}: {args.hosts} hosts behind one bastion: {wall:.1f} s, "
                      f"{count} logins on the bastion; {summary}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
