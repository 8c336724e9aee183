"""The supervisor program on every interpreter from 3.6 up (run locally, as the client would)."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

import pytest

from fleetstat.ssh import posix, supervisor
from tests.test_ssh import pyz

PYTHONS = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3"))
REPORT = (
    "import sys\n"
    "sys.stdout.write('%d.%d:' % sys.version_info[:2] + sys.stdin.read().strip()"
    " + ' isolated=%d\\n' % sys.flags.isolated)\n"
)


HANG = "import time\nwhile True:\n    time.sleep(1)\n"


def start(
    python: str = "python3", main: str = REPORT, request: bytes = b"hello\n", limit: float = 5.0
) -> subprocess.Popen[bytes]:
    """The supervisor under ``python`` running ``main``; the frame is on its stdin, left open."""
    proc = subprocess.Popen(
        [python, "-I", "-S", "-c", supervisor.SOURCE, "60"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(b"".join(posix.frame(pyz(main, framed=False), request, limit)))
    proc.stdin.flush()
    return proc


@pytest.mark.skipif(not PYTHONS, reason="no pyenv Pythons in /root/.pyenv/versions")
@pytest.mark.parametrize("python", PYTHONS)
def test_the_supervisor_runs_the_agent_isolated_and_removes_its_dir(python: str) -> None:
    proc = start(python)
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    out, err = proc.stdout.read(), proc.stderr.read()  # stdin stays open meanwhile
    proc.wait(timeout=30)
    proc.stdin.close()
    version = Path(python).parent.parent.name.rsplit(".", 1)[0]
    assert (proc.returncode, out) == (0, f"{version}:hello isolated=1\n".encode())
    folder = posix.parse_report(err.decode()).folder
    assert folder is not None
    assert not Path(folder).exists()


def test_the_supervisor_stops_and_cleans_up_when_its_stdin_ends() -> None:
    proc = start(main=HANG)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == supervisor.EXIT_ABANDONED
    folder = posix.parse_report(err.decode()).folder
    assert folder is not None and not Path(folder).exists()


def test_the_supervisor_kills_the_agent_at_the_limit_the_frame_gives() -> None:
    proc = start(main=HANG, limit=0.5)  # stdin stays open: only the limit can end the job
    assert proc.stdin is not None and proc.stderr is not None
    err = proc.stderr.read()
    proc.wait(timeout=10)
    proc.stdin.close()
    assert proc.returncode == supervisor.EXIT_DEADLINE
    report = posix.parse_report(err.decode())
    assert report.killed
    assert report.folder is not None and not Path(report.folder).exists()
