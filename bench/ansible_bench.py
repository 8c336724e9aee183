"""Time fleetstat's collector against ``ansible -m setup`` on the same loopback hosts.

    .venv/bin/python bench/ansible_bench.py 50 200 --ansible /tmp/ansible-venv/bin/ansible

ansible-core is not a dependency of fleetstat; its controller needs Python >= 3.12.
Install it in a throwaway virtualenv outside the repository:

    /root/.pyenv/versions/3.12.1/bin/python3 -m venv /tmp/ansible-venv
    /tmp/ansible-venv/bin/pip install ansible-core

and name the ``ansible`` executable with ``--ansible PATH`` or ``ANSIBLE=PATH``
(otherwise the one on ``PATH`` is used). Run as root.

For each size N the hosts are those of ``bench/run_bench.py``: N addresses 127.0.x.y
served by one ``sshd`` per 16 addresses (``MaxStartups`` raised), a test
user of its own with its ed25519 key. On the same hosts in the same run:

- fleetstat: one ``collect`` (key login, ``cpu_interval`` 0, ``--forks`` at a time) in a
  fresh interpreter; the time is the child's wall clock, interpreter start included, and
  the collect alone is shown beside it;
- ansible: ``ansible all -m setup -f FORKS -o`` over an inventory of the same addresses,
  key login, ``KexAlgorithms=curve25519-sha256``, host key checking off,
  ``ansible_python_interpreter=/usr/bin/python3``, ansible's own SSH defaults otherwise
  (ControlMaster/ControlPersist, no pipelining unless ``--pipelining``).

Target: ansible / fleetstat >= 4.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from run_bench import addresses, run_fleetstat  # noqa: E402
from tests.support.sshd import SshdFactory, SshdServer, SshUser, own_user  # noqa: E402

RATIO_TARGET = 4.0  # ansible seconds / fleetstat seconds
TARGET_PYTHON = "/usr/bin/python3"  # the test user cannot read /root, so no pyenv Python
KEX = "KexAlgorithms=curve25519-sha256"
INSTALL_HINT = (
    "ansible is not installed. Install ansible-core (its controller needs Python >= 3.12) "
    "in a virtualenv outside the repository:\n"
    "    /root/.pyenv/versions/3.12.1/bin/python3 -m venv /tmp/ansible-venv\n"
    "    /tmp/ansible-venv/bin/pip install ansible-core\n"
    "then run with --ansible /tmp/ansible-venv/bin/ansible "
    "(or ANSIBLE=/tmp/ansible-venv/bin/ansible in the environment)."
)


@dataclass(frozen=True)
class AnsibleRun:
    """One ``ansible -m setup`` run: wall seconds and how many hosts ended each way."""

    seconds: float
    states: dict[str, int]
    returncode: int
    stderr_tail: str


# ---------------------------------------------------------------- ansible


def find_ansible(option: str | None) -> Path:
    """The ``ansible`` executable from ``--ansible``, ``$ANSIBLE`` or ``PATH``; exit when none."""
    named = option or os.environ.get("ANSIBLE") or shutil.which("ansible")
    if named and os.access(named, os.X_OK) and Path(named).is_file():
        return Path(named)
    if named:
        sys.exit(f"{named} is not an executable file.\n\n{INSTALL_HINT}")
    sys.exit(INSTALL_HINT)


def inventory_text(server: SshdServer, user: SshUser) -> str:
    """An INI inventory: every address of ``server`` in group ``lab``, with the login vars."""
    ssh_args = f"-o {KEX} -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null"
    lines = ["[lab]", *server.addresses, "", "[lab:vars]"]
    lines += [
        f"ansible_port={server.port}",
        f"ansible_user={user.name}",
        f"ansible_ssh_private_key_file={user.key_path}",
        f"ansible_python_interpreter={TARGET_PYTHON}",
        f"ansible_ssh_common_args='{ssh_args}'",
    ]
    return "\n".join(lines) + "\n"


def ansible_environment(home: Path, pipelining: bool) -> dict[str, str]:
    """The environment for ansible: its state under ``home``, no host key checks, no config."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE")}
    env.update(
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(home / "cp"),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_PIPELINING=str(pipelining),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="False",
    )
    return env


def count_states(output: str) -> dict[str, int]:
    """Hosts per state in ``-o`` output (``127.0.1.1 | SUCCESS => {...}``, one line each)."""
    states: Counter[str] = Counter()
    for line in output.splitlines():
        host, bar, rest = line.partition(" | ")
        if bar and host.startswith("127."):
            states[rest.split(maxsplit=1)[0].rstrip("!:")] += 1
    return dict(states)


def close_control_masters(control_dir: Path) -> None:
    """Ask every ssh control master ansible left in ``control_dir`` to exit."""
    if not control_dir.is_dir():
        return
    for socket_path in control_dir.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "lab"],
            capture_output=True,
            check=False,
            timeout=10,
        )


def run_ansible(
    ansible: Path,
    server: SshdServer,
    user: SshUser,
    folder: Path,
    *,
    forks: int,
    pipelining: bool,
) -> AnsibleRun:
    """``ansible all -m setup -f forks -o`` over ``server``'s addresses; wall seconds."""
    folder.mkdir(parents=True)
    inventory = folder / "inventory.ini"
    inventory.write_text(inventory_text(server, user))
    home = folder / "ansible-home"
    env = ansible_environment(home, pipelining)
    command = [str(ansible), "all", "-i", str(inventory), "-m", "setup", "-f", str(forks), "-o"]
    try:
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
    finally:
        close_control_masters(home / "cp")
    return AnsibleRun(
        seconds=seconds,
        states=count_states(done.stdout),
        returncode=done.returncode,
        stderr_tail=done.stderr.strip()[-600:],
    )


# ---------------------------------------------------------------- fleetstat


def time_fleetstat(
    server: SshdServer, user: SshUser, folder: Path, forks: int
) -> tuple[float, dict[str, object]]:
    """Wall seconds of one collect in a fresh interpreter, and the child's own report."""
    spec: dict[str, object] = {
        "addresses": list(server.addresses),
        "port": server.port,
        "user": user.name,
        "key": str(user.key_path),
        "known_hosts": str(folder / "known_hosts"),
        "concurrency": forks,
    }
    started = time.perf_counter()
    report = run_fleetstat(spec)
    return time.perf_counter() - started, report


# ---------------------------------------------------------------- one size


@dataclass(frozen=True)
class Row:
    """The figures for one size."""

    hosts: int
    fleetstat_seconds: float
    collect_seconds: float
    fleetstat_outcomes: dict[str, int]
    ansible: AnsibleRun
    ansible_pipelined: AnsibleRun | None

    @property
    def ratio(self) -> float:
        """ansible seconds / fleetstat seconds (wall clock, both with interpreter start)."""
        return self.ansible.seconds / self.fleetstat_seconds


def bench_size(
    count: int, user: SshUser, folder: Path, ansible: Path, *, forks: int, pipelining: bool
) -> Row:
    """Start servers for ``count`` hosts, time fleetstat then ansible on them, stop them."""
    factory = SshdFactory(folder / f"sshd-{count}")
    try:
        server = factory(addresses(count), options={"MaxStartups": "2000:30:2000"})
        wall, report = time_fleetstat(server, user, folder / f"fleetstat-{count}", forks)
        if report["errors"]:
            print(f"  fleetstat errors at {count}: {report['errors']}", flush=True)
        plain = run_ansible(
            ansible, server, user, folder / f"ansible-{count}", forks=forks, pipelining=False
        )
        piped = None
        if pipelining:
            piped = run_ansible(
                ansible, server, user, folder / f"ansible-p-{count}", forks=forks, pipelining=True
            )
    finally:
        factory.close()
    for run in (plain, piped):
        if run and run.states.get("SUCCESS", 0) != count:
            print(f"  ansible at {count}: rc {run.returncode}\n{run.stderr_tail}", flush=True)
    return Row(
        hosts=count,
        fleetstat_seconds=wall,
        collect_seconds=float(str(report["seconds"])),
        fleetstat_outcomes=dict(report["outcomes"]),  # type: ignore[call-overload]
        ansible=plain,
        ansible_pipelined=piped,
    )


def print_row(row: Row) -> None:
    """One line of the table."""
    ok = row.fleetstat_outcomes.get("ok", 0)
    good = row.ansible.states.get("SUCCESS", 0)
    line = (
        f"{row.hosts:5d}  {row.fleetstat_seconds:9.2f}  ({row.collect_seconds:6.2f})  "
        f"{ok:4d} ok  {row.ansible.seconds:9.2f}  {good:4d} ok  {row.ratio:6.1f}x"
    )
    if row.ansible_pipelined:
        piped = row.ansible_pipelined
        line += (
            f"  {piped.seconds:9.2f}  {piped.states.get('SUCCESS', 0):4d} ok"
            f"  {piped.seconds / row.fleetstat_seconds:6.1f}x"
        )
    print(line, flush=True)


def print_header(forks: int, pipelining: bool) -> None:
    """The table's heading."""
    print(f"concurrency {forks} (fleetstat) = -f {forks} (ansible); seconds are wall clock")
    head = "hosts  fleetstat  (collect)    ok     ansible    ok      ratio"
    if pipelining:
        head += "  pipelined    ok      ratio"
    print(head, flush=True)


def main() -> None:
    """Parse the sizes, run each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[50, 200])
    parser.add_argument("--ansible", help="the ansible executable (default: $ANSIBLE, PATH)")
    parser.add_argument("--forks", type=int, default=50, help="ansible -f, fleetstat concurrency")
    parser.add_argument(
        "--pipelining", action="store_true", help="also time ansible with pipelining on"
    )
    args = parser.parse_args()
    ansible = find_ansible(args.ansible)
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark starts sshd and makes a test user of its own")
    with tempfile.TemporaryDirectory(prefix="fleetstat-ansible-bench-") as tmp:
        folder = Path(tmp)
        with own_user(folder) as user:
            rows = []
            print_header(args.forks, args.pipelining)
            for count in args.sizes:
                rows.append(
                    bench_size(
                        count, user, folder, ansible, forks=args.forks, pipelining=args.pipelining
                    )
                )
                print_row(rows[-1])
            worst = min(row.ratio for row in rows)
            verdict = "met" if worst >= RATIO_TARGET else "NOT met"
            target = f"target >= {RATIO_TARGET:.0f}x: {verdict}"
            print(f"fleetstat is {worst:.1f}x faster at worst ({target})")


if __name__ == "__main__":
    main()
