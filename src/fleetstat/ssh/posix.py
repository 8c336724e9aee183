"""The one command of a POSIX host, what it prints, and the kill for when it stops answering.

``job_command`` is valid in cmd.exe, PowerShell and every POSIX login shell (see
``probe``): the probe tells them apart, and every POSIX shell hands one line to
``/bin/sh``, which finds the interpreter and starts the supervisor
(``supervisor.SOURCE``, compressed into one base64 argument, so no shell's quoting
touches it). The agent and the request follow on stdin (``frame``), so the whole host
costs one channel.
"""

from __future__ import annotations

import base64
import functools
import math
import re
import zlib
from dataclasses import dataclass

from fleetstat.ssh import probe, supervisor
from fleetstat.ssh.supervisor import MARK

#: The oldest Python the agent runs on.
MIN_PYTHON = (3, 6)
#: Runs the supervisor from its base64 argument; valid in Python 2 too, which then
#: exits 2 on ``-I`` (so its version can be reported).
BOOTSTRAP = "import base64,sys,zlib;exec(zlib.decompress(base64.b64decode(sys.argv[2])))"
#: What a path must be made of to travel in a command (nothing any shell expands).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+@%,:=-]+")


def find_python(python: str | None) -> str:
    """Shell code setting ``$p`` to the interpreter, or failing with ``no-python``."""
    found = f'command -v "{python}"' if python else "command -v python3 || command -v python"
    missing = f'{{ echo "{MARK}no-python" >&2; exit {supervisor.EXIT_NO_PYTHON}; }}'
    return f"p=$({found}) || {missing}"


@functools.cache
def packed_supervisor() -> str:
    """The supervisor's source, compressed and in base64: one word in every shell."""
    return base64.b64encode(zlib.compress(supervisor.SOURCE.encode(), 9)).decode()


def run_supervisor(stale: float) -> str:
    """Shell code running the supervisor with ``-I -S``; Python 2 reports its version."""
    old = f'test $s = {supervisor.EXIT_OLD_PYTHON} && echo "{MARK}version $("$p" -V 2>&1)" >&2'
    run = f'"$p" -I -S -c "{BOOTSTRAP}" {math.ceil(stale)} {packed_supervisor()}'
    return f"{run} || {{ s=$?; {old}; exit $s; }}"


@functools.cache
def job_command(python: str | None, stale: float) -> str:
    """The whole job of one POSIX host: probe, find python, sweep, store, run, remove.

    ``stale`` is the age in seconds from which a fleetstat temp dir of this user counts
    as left behind. The command is the same for every host of one interpreter and
    timeout (built once); what differs goes on stdin (``frame``).
    """
    script = [f'echo "{MARK}pid=$$" >&2', find_python(python), run_supervisor(stale)]
    return probe.lines("; ".join(script))


def frame(agent: bytes, request: bytes, limit: float) -> tuple[bytes, bytes, bytes]:
    """What the supervisor reads on stdin, in three pieces (so the agent is never copied):
    both sizes and ``limit`` (the seconds the job may take) on one line, the agent, the
    request."""
    return f"{len(agent)} {len(request)} {limit:.3f}\n".encode(), agent, request


def kill_command(shell_pid: int | None, folder: str | None) -> str:
    """End the job's processes and remove its temp dir: for when its channel hangs.

    Kills the agent's own group (its PID is in the temp dir while the supervisor has
    not reaped it) and the group of the job's shell, then removes the dir; in
    ``/bin/sh``, whatever the login shell (``kill -KILL -PGID``: dash refuses the
    ``--`` that bash takes). A folder whose name holds anything but plain path
    characters is left alone (it came from the client's output).
    """
    steps = []
    if folder and not _PLAIN_PATH.fullmatch(folder):
        folder = None
    if folder:
        steps.append(f'test -s "{folder}/pid" && kill -KILL -$(cat "{folder}/pid") 2>/dev/null')
    if shell_pid:
        steps.append(f"kill -KILL -{shell_pid} 2>/dev/null")
    if folder:
        steps.append(f'rm -rf "{folder}"')
    return probe.through_sh("; ".join([*steps, "true"]))


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
    #: Every line that is not the job's own, as printed.
    others: str = ""


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
        others="\n".join(others),
    )
