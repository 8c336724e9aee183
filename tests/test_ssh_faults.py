"""Hostile and broken clients on real OpenSSH: caps, stale dirs, process groups, old Pythons."""

from __future__ import annotations

import os
import pwd
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetstat.core import model
from tests.support.sshd import (
    SshdFactory,
    SshdServer,
    SshUser,
    client_for,
    count_in_log,
    leftover_temp_dirs,
    processes_of,
)
from tests.test_ssh import ECHO, HANG, outcome_of, run, settings_in

#: Starts a child that sleeps (in the agent's own group), then hangs.
HANG_WITH_CHILD = (
    "import subprocess, time\nsubprocess.Popen(['sleep', '617'])\nwhile True:\n    time.sleep(1)\n"
)
#: Starts a child that sleeps and answers at once.
ANSWER_LEAVING_CHILD = (
    "import subprocess, sys\n"
    "subprocess.Popen(['sleep', '618'], stdout=subprocess.DEVNULL)\n"
    "sys.stdout.write('left a child\\n')\n"
)
#: Writes 8 MB to stderr, then answers.
CHATTY = (
    "import sys\n"
    "for _ in range(128):\n"
    "    sys.stderr.write('x' * 65535 + '\\n')\n"
    "sys.stdout.write('still here\\n')\n"
)
ISOLATION = (
    "import sys\n"
    "sys.stdout.write('isolated=%d no_site=%d\\n' % (sys.flags.isolated, sys.flags.no_site))\n"
)


@pytest.fixture
def user_tools(ssh_user: SshUser) -> Iterator[Path]:
    """A folder the test user may read and run files in (removed at the end)."""
    folder = Path(f"/tmp/fleetstat-test-tools-{os.getpid()}-{time.monotonic_ns()}")
    folder.mkdir(mode=0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def script(folder: Path, name: str, text: str) -> str:
    """An executable shell script ``name`` in ``folder``; its path."""
    path = folder / name
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


# ---------------------------------------------------------------- bounded reads (8.1)


@pytest.mark.parametrize(
    "printer",
    [
        "exec cat /dev/zero\n",  # one line that never ends
        "head -c 400000000 /dev/zero | tr '\\0' a\n",  # a 400 MB line
    ],
)
def test_an_answer_past_max_answer_is_bad_payload_at_once(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, user_tools: Path, printer: str
) -> None:
    python = script(user_tools, "python", printer)
    started = time.monotonic()
    error = outcome_of(client_for(ssh_user, sshd, python=python), settings_in(tmp_path))
    assert error.outcome == model.Outcome.BAD_PAYLOAD
    assert str(error) == "answer larger than 16 MiB"
    assert time.monotonic() - started < 10
    assert processes_of(ssh_user) == []


def test_max_answer_is_the_cap(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, user_tools: Path
) -> None:
    python = script(user_tools, "python", "head -c 2000000 /dev/zero\n")
    settings = settings_in(tmp_path, max_answer=1024 * 1024)
    error = outcome_of(client_for(ssh_user, sshd, python=python), settings)
    assert str(error) == "answer larger than 1 MiB"


def test_a_flood_on_stderr_neither_blocks_nor_fails_the_agent(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    assert run(client_for(ssh_user, sshd), settings_in(tmp_path), CHATTY) == b"still here"


# ---------------------------------------------------------------- stale temp dirs (8.11)


def test_the_first_command_removes_this_users_temp_dirs_older_than_the_timeout(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    entry = pwd.getpwnam(ssh_user.name)
    made = {}
    for name, age, owner in [
        ("old", 120, entry.pw_uid),
        ("young", 5, entry.pw_uid),
        ("others", 120, 0),
    ]:
        path = Path(f"/tmp/fleetstat.{name}{os.getpid()}")
        (path / "inner").mkdir(parents=True)
        (path / "inner" / "agent.pyz").write_text("x")
        for item in (path, path / "inner", path / "inner" / "agent.pyz"):
            os.chown(item, owner, entry.pw_gid if owner else 0)
            os.utime(item, (time.time() - age, time.time() - age))
        made[name] = path
    try:
        client = client_for(ssh_user, sshd, timeout=60.0)
        assert run(client, settings_in(tmp_path, timeout=60.0)) == b"echo:hello"
        assert not made["old"].exists()
        assert made["young"].exists()
        assert made["others"].exists()
    finally:
        for path in made.values():
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- process groups (8.12)


def test_a_hung_agent_and_its_child_are_ended_at_the_timeout(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    error = outcome_of(
        client_for(ssh_user, sshd, timeout=2.0), settings_in(tmp_path), HANG_WITH_CHILD
    )
    assert error.outcome == model.Outcome.TIMEOUT
    assert processes_of(ssh_user) == []
    assert leftover_temp_dirs(ssh_user) == []


def test_a_child_left_by_an_agent_that_answered_is_ended(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    answer = run(client_for(ssh_user, sshd), settings_in(tmp_path), ANSWER_LEAVING_CHILD)
    assert answer == b"left a child"
    assert processes_of(ssh_user) == []


def test_a_hung_interpreter_without_the_supervisor_is_killed_over_a_second_channel(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path, user_tools: Path
) -> None:
    server = sshd_factory(["127.0.0.27"], options={"LogLevel": "DEBUG1"})
    python = script(user_tools, "python", "exec sleep 619\n")
    client = client_for(ssh_user, server, python=python, timeout=2.0)
    assert outcome_of(client, settings_in(tmp_path), HANG).outcome == model.Outcome.TIMEOUT
    assert processes_of(ssh_user) == []
    assert count_in_log(server, "ctype session") == 2


# ---------------------------------------------------------------- the interpreter (11.12)


@pytest.fixture
def python27(user_tools: Path) -> str:
    """Python 2.7 (pyenv's) as the test user can run it: binary and library copied."""
    home = Path("/root/.pyenv/versions/2.7.18")
    if not (home / "bin" / "python2.7").exists():
        pytest.skip("pyenv's Python 2.7.18 is not installed")
    shutil.copy(home / "bin" / "python2.7", user_tools / "python2.7")
    shutil.copy(home / "lib" / "libpython2.7.so.1.0", user_tools / "libpython2.7.so.1.0")
    return script(
        user_tools, "python", f'LD_LIBRARY_PATH={user_tools} exec {user_tools}/python2.7 "$@"\n'
    )


def test_a_host_whose_python_is_27_is_no_python_with_its_version(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, python27: str
) -> None:
    error = outcome_of(client_for(ssh_user, sshd, python=python27), settings_in(tmp_path))
    assert error.outcome == model.Outcome.NO_PYTHON
    assert str(error) == "Python 2.7 found, the agent needs 3.6 or newer"


def test_the_agent_runs_in_isolated_mode(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    answer = run(client_for(ssh_user, sshd), settings_in(tmp_path), ISOLATION)
    assert answer == b"isolated=1 no_site=1"


def test_the_default_interpreter_is_found_and_runs_the_agent(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    assert run(client_for(ssh_user, sshd, python=None), settings_in(tmp_path), ECHO) == (
        b"echo:hello"
    )
