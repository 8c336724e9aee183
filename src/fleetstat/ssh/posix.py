"""The one command of a POSIX host, what it prints, and the kill for when it stops answering.

``job_command`` is valid in cmd.exe, PowerShell and POSIX shells (see ``probe``): the
first line tells them apart, and only a POSIX shell runs the rest, which finds the
interpreter and hands the job to the supervisor (``supervisor.SOURCE``). The agent
and the request follow on stdin (``frame``), so the whole host costs one channel.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
from dataclasses import dataclass

from fleetstat.ssh import probe, supervisor
from fleetstat.ssh.supervisor import MARK

#: The oldest Python the agent runs on.
MIN_PYTHON = (3, 6)


def find_python(python: str | None) -> str:
    """Shell code setting ``$p`` to the interpreter, or failing with ``no-python``."""
    found = (
        f"command -v {shlex.quote(python)}" if python else "command -v python3 || command -v python"
    )
    missing = f'{{ echo "{MARK}no-python" >&2; exit {supervisor.EXIT_NO_PYTHON}; }}'
    return f"p=$({found}) || {missing}"


def run_supervisor(stale: float) -> str:
    """Shell code running the supervisor with ``-I -S``; Python 2 reports its version."""
    old = f'test $s = {supervisor.EXIT_OLD_PYTHON} && echo "{MARK}version $("$p" -V 2>&1)" >&2'
    source = shlex.quote(supervisor.SOURCE)
    return f'"$p" -I -S -c {source} {math.ceil(stale)} || {{ s=$?; {old}; exit $s; }}'


@functools.cache
def job_command(python: str | None, stale: float) -> str:
    """The whole job of one POSIX host: probe, find python, sweep, store, run, remove.

    ``stale`` is the age in seconds from which a fleetstat temp dir of this user counts
    as left behind. The command is the same for every host of one interpreter and
    timeout (built once: it is 5.5 KB); what differs goes on stdin (``frame``).
    """
    lines = [
        probe.PROBE,
        probe.HIDE_FROM_POWERSHELL,
        f'echo "{MARK}pid=$$" >&2',
        find_python(python),
        run_supervisor(stale),
        probe.END_HIDE,
    ]
    return "\n".join(lines)


def frame(agent: bytes, request: bytes, limit: float) -> tuple[bytes, bytes, bytes]:
    """What the supervisor reads on stdin, in three pieces (so the agent is never copied):
    both sizes and ``limit`` (the seconds the job may take) on one line, the agent, the
    request."""
    return f"{len(agent)} {len(request)} {limit:.3f}\n".encode(), agent, request


def kill_command(shell_pid: int | None, folder: str | None) -> str:
    """End the job's processes and remove its temp dir: for when its channel hangs.

    Kills the agent's own group (its PID is in the temp dir while the supervisor has
    not reaped it) and the group of the job's shell, then removes the dir.
    """
    steps = []
    if folder:
        pidfile = shlex.quote(f"{folder}/pid")
        steps.append(f"test -s {pidfile} && kill -KILL -- -$(cat {pidfile}) 2>/dev/null")
    if shell_pid:
        steps.append(f"kill -KILL -- -{shell_pid} 2>/dev/null")
    if folder:
        steps.append(f"rm -rf {shlex.quote(folder)}")
    return "; ".join([*steps, "true"])


@dataclass(frozen=True)
class Report:
    """What the job said on stderr: its ``fleetstat-job:`` lines, and the rest.

    ``version`` is the (major, minor) of a Python too old to run the agent.
    """

    shell_pid: int | None
    folder: str | None
    no_python: bool
    version: tuple[int, int] | None
    not_removed: str | None
    failure: str | None
    killed: bool
    detail: str


_VERSION = re.compile(r"Python (\d+)\.(\d+)")
#: The kinds of ``MARK`` line, by how their text starts.
_KINDS = (
    "pid=",
    "dir=",
    "no-python",
    "version ",
    "cannot make a temp dir: ",
    "temp dir not removed: ",
    "killed at the deadline",
)


def parse_report(stderr: str) -> Report:
    """Read the supervisor's and the shell's ``MARK`` lines out of ``stderr``."""
    marks: dict[str, str] = {}
    others: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        if not text.startswith(MARK):
            others += [text] if text else []
            continue
        text = text[len(MARK) :]
        kind = next((kind for kind in _KINDS if text.startswith(kind)), None)
        if kind is not None:
            marks.setdefault(kind, text[len(kind) :])
    version = _VERSION.search(marks.get("version ", ""))
    pid = marks.get("pid=", "")
    failure = marks.get("cannot make a temp dir: ")
    return Report(
        shell_pid=int(pid) if pid.isdigit() else None,
        folder=marks.get("dir="),
        no_python="no-python" in marks,
        version=(int(version[1]), int(version[2])) if version else None,
        not_removed=marks.get("temp dir not removed: "),
        failure=None if failure is None else f"cannot make a temp dir: {failure}",
        killed="killed at the deadline" in marks,
        detail=others[-1] if others else "",
    )


def answer_line(stdout: bytes) -> bytes:
    """The agent's answer: the first line after the probe's two lines (b"" when none)."""
    for line in stdout.split(b"\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith(probe.MARKER.encode()):
            return stripped
    return b""
