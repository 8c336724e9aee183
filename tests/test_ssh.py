"""ssh.run_agent against real OpenSSH servers on loopback, and the per-OS command tables."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import shutil
import socket
import string
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetstat import ssh
from fleetstat.core import model
from fleetstat.core.errors import HostError
from fleetstat.ssh import posix, probe, steps, supervisor, windows
from fleetstat.ssh.probe import Shell
from tests.support.sshd import (
    SshdFactory,
    SshdServer,
    SshUser,
    client_for,
    count_in_log,
    free_port,
    leftover_temp_dirs,
    processes_of,
)

ECHO = "import sys\nsys.stdout.write('echo:' + sys.stdin.read().strip() + '\\n')\n"
HANG = "import time\nwhile True:\n    time.sleep(1)\n"
FAIL = "import sys\nsys.stderr.write('cannot read /proc\\n')\nsys.exit(1)\n"
#: Answers at the wall-clock time (seconds since the epoch) given on stdin.
ANSWER_AT = (
    "import sys, time\n"
    "time.sleep(max(0.0, float(sys.stdin.readline()) - time.time()))\n"
    "sys.stdout.write('late\\n')\n"
)
#: Leaves a file in a read-only folder inside the temp dir, so ``rm -rf`` cannot remove it.
LOCK = (
    "import os, sys\n"
    "locked = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), 'locked')\n"
    "os.mkdir(locked)\n"
    "open(os.path.join(locked, 'stuck'), 'w').close()\n"
    "os.chmod(locked, 0o500)\n"
)
LOCK_AND_ANSWER = LOCK + "sys.stdout.write('locked\\n')\n"
LOCK_AND_FAIL = LOCK + "sys.exit(1)\n"


#: Runs a test's ``MAIN`` and frames what it printed, as the real agent frames its answer.
FRAMED = (
    "import io, sys\n"
    "_out, sys.stdout = sys.stdout, io.StringIO()\n"
    "try:\n"
    "    exec(compile(MAIN, '__main__.py', 'exec'), {'__name__': '__main__'})\n"
    "finally:\n"
    "    _text, sys.stdout = sys.stdout.getvalue().strip(), _out\n"
    "    if _text:\n"
    "        sys.stdout.write('\\nfleetstat-answer: %d\\n%s\\n' % (len(_text), _text))\n"
)


def pyz(main: str, *, framed: bool = True) -> bytes:
    """A zipapp whose ``__main__.py`` runs ``main``; ``framed``: what it prints comes out
    in the agent's frame."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__main__.py", f"MAIN = {main!r}\n{FRAMED}" if framed else main)
    return buffer.getvalue()


def settings_in(folder: Path, **changes: object) -> model.Settings:
    """Settings with their own known_hosts file under ``folder`` and short timeouts."""
    fields: dict[str, object] = {
        "known_hosts": folder / "state" / "known_hosts",
        "connect_timeout": 3.0,
        "timeout": 20.0,
    }
    return model.Settings(**{**fields, **changes})  # type: ignore[arg-type]


def run(client: model.Client, settings: model.Settings, main: str = ECHO) -> bytes:
    """``ssh.run_agent`` with a small payload and the request ``hello``."""
    return asyncio.run(ssh.run_agent(client, settings, pyz(main), b"hello\n")).answer


def outcome_of(client: model.Client, settings: model.Settings, main: str = ECHO) -> HostError:
    """The ``HostError`` ``run_agent`` raises for ``client``."""
    with pytest.raises(HostError) as caught:
        run(client, settings, main)
    return caught.value


@pytest.fixture(autouse=True)
def no_temp_dir_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that logs in, the user has no fleetstat temp dir left."""
    yield
    if "ssh_user" in request.fixturenames:
        user: SshUser = request.getfixturevalue("ssh_user")
        assert leftover_temp_dirs(user) == []


def test_password_login_runs_the_agent(ssh_user: SshUser, sshd: SshdServer, tmp_path: Path) -> None:
    assert run(client_for(ssh_user, sshd), settings_in(tmp_path)) == b"echo:hello"


def test_key_login_runs_the_agent(ssh_user: SshUser, sshd: SshdServer, tmp_path: Path) -> None:
    client = client_for(ssh_user, sshd, auth="key")
    assert run(client, settings_in(tmp_path)) == b"echo:hello"


def test_first_use_records_the_host_key(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    run(client_for(ssh_user, sshd), settings)
    recorded = settings.known_hosts.read_text()
    assert recorded == f"[127.0.0.1]:{sshd.port} {sshd.host_public_key.rsplit(' ', 1)[0]}\n"
    assert (settings.known_hosts.stat().st_mode & 0o777) == 0o600


def test_wrong_password_is_auth_failed_and_tried_once(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.21"])
    error = outcome_of(client_for(ssh_user, server, password="wrong"), settings_in(tmp_path))
    assert error.outcome == model.Outcome.AUTH_FAILED
    assert not error.transient
    assert count_in_log(server, "Failed password") == 1


def test_closed_port_is_unreachable_and_says_connection_refused(tmp_path: Path) -> None:
    port = free_port(["127.0.0.22"])
    client = model.Client(ip="127.0.0.22", port=port, username="nobody", password="x")
    error = outcome_of(client, settings_in(tmp_path))
    assert error.outcome == model.Outcome.UNREACHABLE
    assert error.transient
    assert str(error) == "connection refused"


def test_silent_listener_is_unreachable_after_the_connect_timeout(tmp_path: Path) -> None:
    with socket.socket() as hole:
        hole.bind(("127.0.0.23", 0))
        hole.listen(8)
        client = model.Client(
            ip="127.0.0.23", port=hole.getsockname()[1], username="nobody", password="x"
        )
        error = outcome_of(client, settings_in(tmp_path, connect_timeout=0.5))
    assert error.outcome == model.Outcome.UNREACHABLE
    assert "connect timeout" in str(error)


def test_missing_interpreter_is_no_python(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    client = client_for(ssh_user, sshd, python="/nonexistent/python")
    assert outcome_of(client, settings_in(tmp_path)).outcome == model.Outcome.NO_PYTHON


def test_failing_agent_is_agent_failed_with_its_stderr(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    error = outcome_of(client_for(ssh_user, sshd), settings_in(tmp_path), FAIL)
    assert error.outcome == model.Outcome.AGENT_FAILED
    assert "cannot read /proc" in str(error)


def test_hanging_agent_times_out_and_leaves_nothing_behind(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    client = client_for(ssh_user, sshd, timeout=2.0)
    error = outcome_of(client, settings_in(tmp_path), HANG)
    assert error.outcome == model.Outcome.TIMEOUT
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []


def test_temp_dir_is_removed_when_the_deadline_falls_during_cleanup(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    limit = 4.0
    settings = settings_in(tmp_path)
    client = client_for(ssh_user, sshd, timeout=limit)
    payload = pyz(ANSWER_AT)
    # The agents answer from 0.15 s before the host deadline up to just before it, so for
    # some of them the deadline passes while their temp dir is being removed.
    early = [0.15 - 0.005 * step for step in range(30)]

    async def spread() -> list[bytes | BaseException]:
        deadline = time.time() + limit
        jobs = [
            ssh.run_agent(client, settings, payload, f"{deadline - ahead}\n".encode())
            for ahead in early
        ]
        return await asyncio.gather(*jobs, return_exceptions=True)

    for result in asyncio.run(spread()):
        if isinstance(result, HostError):
            assert result.outcome == model.Outcome.TIMEOUT
        else:
            assert result.answer == b"late"
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []


def remove_locked_temp_dirs(user: SshUser) -> list[Path]:
    """Remove (as root) the user's temp dirs that hold the ``LOCK`` folder; return them."""
    locked = [path for path in leftover_temp_dirs(user) if (path / "locked").exists()]
    for path in locked:
        shutil.rmtree(path)
    return locked


def test_temp_dir_left_after_an_answer_is_logged_as_a_warning(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fleetstat.ssh"):
        answer = run(client_for(ssh_user, sshd), settings_in(tmp_path), LOCK_AND_ANSWER)
    left = remove_locked_temp_dirs(ssh_user)
    assert answer == b"locked"
    assert len(left) == 1
    warnings = [r for r in caplog.records if r.name == "fleetstat.ssh"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert f"temp dir not removed: {left[0]}" in warnings[0].getMessage()
    assert "Permission denied" in warnings[0].getMessage()


def test_temp_dir_left_after_a_failure_is_in_the_error(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    error = outcome_of(client_for(ssh_user, sshd), settings_in(tmp_path), LOCK_AND_FAIL)
    left = remove_locked_temp_dirs(ssh_user)
    assert error.outcome == model.Outcome.AGENT_FAILED
    assert str(error).startswith("agent exited with 1")
    assert f"temp dir not removed: {left[0]}" in str(error)
    assert "Permission denied" in str(error)


def test_encrypted_key_file_without_passphrase_is_auth_failed(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    key = tmp_path / "id_locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(key)], check=True
    )
    error = outcome_of(client_for(ssh_user, sshd, auth="key", keyfile=key), settings_in(tmp_path))
    assert error.outcome == model.Outcome.AUTH_FAILED
    assert not error.transient
    assert f"key file {key} could not be read (encrypted? wrong format?)" in str(error)


def test_corrupt_known_hosts_line_is_host_key_mismatch_naming_the_line(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    settings.known_hosts.parent.mkdir(parents=True)
    settings.known_hosts.write_text(
        "# fleetstat\n"
        f"127.0.0.9 {sshd.host_public_key}\n"
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 AAAA-not-base64\n"
    )
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert not error.transient
    assert str(error) == (
        f"known_hosts {settings.known_hosts}:3 is not a valid key line: fix or delete it"
    )


def test_changed_host_key_is_refused_under_accept_new_and_strict(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    first = sshd_factory(["127.0.0.24"])
    settings = settings_in(tmp_path)
    assert run(client_for(ssh_user, first), settings) == b"echo:hello"
    first.stop()
    second = sshd_factory(["127.0.0.24"], port=first.port)
    for policy in ("accept-new", "strict"):
        error = outcome_of(client_for(ssh_user, second), settings_in(tmp_path, host_keys=policy))
        assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
        assert not error.transient
    assert count_in_log(second, "Accepted") == 0


def test_strict_refuses_an_unknown_host_key(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    error = outcome_of(client_for(ssh_user, sshd), settings_in(tmp_path, host_keys="strict"))
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert "unknown host key" in str(error)


def test_off_accepts_a_changed_host_key(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path, host_keys="off")
    settings.known_hosts.parent.mkdir(parents=True)
    settings.known_hosts.write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIHfUiVRiP8cYnJQ4Ti2sDSOTuhH3rJVCqeqzh3zx2TmA\n"
    )
    assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"


def test_a_server_without_sftp_runs_the_agent_on_one_channel(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.25"], options={"Subsystem": "", "LogLevel": "DEBUG1"})
    assert run(client_for(ssh_user, server), settings_in(tmp_path)) == b"echo:hello"
    assert count_in_log(server, "subsystem") == 0
    assert count_in_log(server, "ctype session") == 1


@pytest.mark.slow
def test_retry_turns_maxstartups_drops_into_successes(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.26"], options={"MaxStartups": "10:30:100"})
    settings = settings_in(tmp_path, connect_timeout=10.0, timeout=60.0)
    client = client_for(ssh_user, server, auth="key")
    payload = pyz(ECHO)

    async def burst() -> list[bytes | BaseException]:
        jobs = [ssh.run_agent(client, settings, payload, b"hello\n") for _ in range(40)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(burst())
    assert [r.answer if isinstance(r, ssh.Output) else r for r in results] == [b"echo:hello"] * 40
    assert count_in_log(server, "drop connection") > 0


# ---------------------------------------------------------------- pure command building


def test_probe_output_tells_the_four_shells_apart() -> None:
    assert probe.detect_shell('"fleetstat-shell:Windows_NT"\r\n') is Shell.CMD
    powershell = "fleetstat-shell:%OS%\r\nfleetstat-shell:ps:Desktop\r\n"
    assert probe.detect_shell(powershell) is Shell.POWERSHELL
    assert probe.detect_shell("fleetstat-shell:%OS%\nfleetstat-shell:ps:Core\n") is Shell.PWSH
    noisy = "Welcome!\nfleetstat-shell:%OS%\n\nfleetstat-answer: 8\ngAAAA...\n"
    assert probe.detect_shell(noisy) is Shell.POSIX
    # a shell that could not exec /bin/sh goes on to the edition line with nothing in it
    assert probe.detect_shell("fleetstat-shell:%OS%\nfleetstat-shell:ps:\n") is Shell.POSIX
    assert probe.detect_shell("Welcome!\n") is None


def test_the_probe_line_holds_no_operator_of_cmd_or_sh() -> None:
    # cmd.exe runs only the first line; it must be one plain echo in every shell.
    assert probe.PROBE == 'echo "fleetstat-shell:%OS%"'
    assert not set("&|<>;`()$") & set(probe.PROBE)


def test_the_posix_part_is_one_single_quoted_line_for_sh() -> None:
    command = posix.job_command("/usr/bin/python3", 20.0)
    first, middle, last = command.splitlines()
    assert (first, last) == (probe.PROBE, probe.EDITION)
    assert middle.startswith("exec /bin/sh -c '") and middle.endswith("'")
    inner = middle.removeprefix("exec /bin/sh -c '")[:-1]
    # fish reads \' and \\ inside single quotes; csh ends a quoted word at a line feed
    assert "'" not in inner and "\\" not in inner
    with pytest.raises(ValueError, match="not one line"):
        probe.through_sh("echo 'quoted'")


LOGIN_SHELLS = ["sh", "dash", "bash", "zsh", "ksh", "fish", "tcsh", "csh", "busybox ash"]


@pytest.mark.parametrize("shell", LOGIN_SHELLS)
def test_every_login_shell_hands_the_posix_part_to_sh(shell: str) -> None:
    if shutil.which(shell.split(maxsplit=1)[0]) is None:
        pytest.fail(f"{shell} is not installed (.ci/run installs it)")
    script = 'echo "ran in $0 as $$" ; echo "fleetstat-job: pid=$$" >&2'
    done = subprocess.run(
        [*shell.split(), "-c", probe.lines(script)], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "fleetstat-shell:%OS%"
    assert lines[1].startswith("ran in /bin/sh as ")
    assert len(lines) == 2  # the edition line is never reached
    assert probe.detect_shell(done.stdout) is Shell.POSIX


def test_posix_job_quotes_the_interpreter_and_keeps_the_request_off_the_command_line() -> None:
    command = posix.job_command("/opt/py 3/bin/python", 19.5)
    assert 'p=$(command -v "/opt/py 3/bin/python")' in command
    assert f'"$p" -I -S -c "{posix.BOOTSTRAP}" 20 {posix.packed_supervisor()} ||' in command
    assert command.splitlines()[1].endswith(
        '|| { s=$?; test $s = 2 && echo "fleetstat-job: version $("$p" -V 2>&1)" >&2; exit $s; }\''
    )
    assert "command -v python3 || command -v python" in posix.job_command(None, 1.0)


def test_the_packed_supervisor_is_its_source() -> None:
    packed = posix.packed_supervisor()
    assert zlib.decompress(base64.b64decode(packed)).decode() == supervisor.SOURCE
    assert set(packed) <= set(string.ascii_letters + string.digits + "+/=")


def test_the_frame_gives_both_sizes_and_the_limit_before_the_agent_and_the_request() -> None:
    assert b"".join(posix.frame(b"PK-agent", b"{}\n", 19.5)) == b"8 3 19.500\nPK-agent{}\n"


def test_kill_command_ends_both_groups_and_removes_the_dir_in_sh() -> None:
    assert posix.kill_command(4242, "/tmp/fleetstat.0a1b") == (
        'exec /bin/sh -c \'test -s "/tmp/fleetstat.0a1b/pid" && kill -KILL '
        '-$(cat "/tmp/fleetstat.0a1b/pid") 2>/dev/null; kill -KILL -4242 2>/dev/null; '
        'rm -rf "/tmp/fleetstat.0a1b"; true\''
    )
    # a folder name from the client that holds anything a shell could read is left alone
    assert posix.kill_command(7, "/tmp/x'; rm -rf ~; '") == (
        "exec /bin/sh -c 'kill -KILL -7 2>/dev/null; true'"
    )
    assert posix.kill_command(None, None) == "exec /bin/sh -c 'true'"


def test_job_report_reads_the_marks_and_the_last_other_line() -> None:
    report = posix.parse_report(
        "fleetstat-job: pid=77\n"
        "fleetstat-job: dir=/tmp/fleetstat.0a1b2c\n"
        "cannot read /proc\n"
        "fleetstat-job: temp dir not removed: /tmp/fleetstat.0a1b2c (Permission denied)\n"
    )
    assert report.shell_pid == 77
    assert report.folder == "/tmp/fleetstat.0a1b2c"
    assert report.not_removed == "/tmp/fleetstat.0a1b2c (Permission denied)"
    assert report.detail == "cannot read /proc"
    old = posix.parse_report("Unknown option: -I\nfleetstat-job: version Python 2.7.18\n")
    assert old.version == (2, 7)


def test_cmd_table_uses_temp_python_rmdir_and_isolated_mode() -> None:
    folder = r"C:\Users\ops\AppData\Local\Temp\fleetstat-0a1b"
    assert windows.cmd_make_dir("0a1b") == (
        r'mkdir "%TEMP%\fleetstat-0a1b" && echo dir=%TEMP%\fleetstat-0a1b'
    )
    assert "py -3" in windows.cmd_find_python(None)
    assert windows.cmd_find_python(None).startswith("python ")
    assert windows.CMD.run(r"C:\Python312\python.exe", folder) == (
        rf'"C:\Python312\python.exe" -I -S "{folder}\agent.pyz"'
    )
    assert windows.CMD.remove(folder) == rf'rmdir /s /q "{folder}"'
    assert windows.CMD.join(folder, "agent.pyz") == folder + r"\agent.pyz"
    prepare = windows.CMD.prepare("0a1b", None, 60.0)
    assert prepare.startswith('powershell -NoProfile -NonInteractive -Command "Get-ChildItem')
    # cmd.exe expands %NAME% and ends a quoted argument at the next ": the PowerShell
    # code it hands on holds neither.
    for command in (windows.CMD.kill(folder), windows.CMD.upload(folder + r"\agent.pyz")):
        inner = command.removeprefix('powershell -NoProfile -NonInteractive -Command "')
        assert inner.endswith('"')
        assert '"' not in inner[:-1] and "%" not in inner


def test_powershell_table_quotes_paths_verbatim() -> None:
    folder = r"C:\Users\o'brien\AppData\Local\Temp\fleetstat-0a1b"
    table = windows.TABLES[Shell.POWERSHELL]
    assert table is windows.TABLES[Shell.PWSH]
    quoted = r"'C:\Users\o''brien\AppData\Local\Temp\fleetstat-0a1b"
    assert table.run(r"C:\Python312\python.exe", folder) == (
        rf"& 'C:\Python312\python.exe' -I -S {quoted}\agent.pyz'"
    )
    assert table.remove(folder) == f"Remove-Item -LiteralPath {quoted}' -Recurse -Force"
    assert table.upload(r"C:\t\agent.pyz") == (
        "$i = [Console]::OpenStandardInput(); "
        r"$o = [IO.File]::Create('C:\t\agent.pyz'); $i.CopyTo($o); $o.Close()"
    )
    kill = table.kill(folder)
    assert "taskkill /F /T /PID $_.ProcessId" in kill
    # The pattern is split, so the kill's own command line never matches it.
    assert "agent.pyz" not in kill
    prepare = table.prepare("0a1b", None, 90.0)
    assert "Join-Path $env:TEMP 'fleetstat-0a1b'" in prepare
    assert "(Get-Date).AddSeconds(-90)" in prepare
    assert "& py -3 -c" in prepare


def test_windows_prepare_output_is_parsed_into_fields() -> None:
    text = "dir=C:\\Users\\ops\\AppData\\Local\\Temp\\fleetstat-0a1b\r\n\r\n" + (
        "python=C:\\Python312\\python.exe\r\nversion=3.12\r\n"
    )
    fields = steps.parse_fields(text)
    assert fields["dir"].endswith("fleetstat-0a1b")
    assert fields["python"] == r"C:\Python312\python.exe"
    assert fields["version"] == "3.12"


def test_a_full_temp_dir_leaves_nothing_and_says_the_disk_is_full(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    full = Path(tempfile.mkdtemp(prefix="fleetstat-test-full-"))  # reachable by the user
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)], check=True)
    try:
        os.chown(full, ssh_user.uid, -1)
        filler = full / "filler"
        with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"x" * 4096)
        server = sshd_factory(["127.0.0.61"], options={"SetEnv": f"TMPDIR={full}"})
        settings = settings_in(tmp_path)
        for _ in range(2):  # the next run leaves nothing either
            error = outcome_of(client_for(ssh_user, server), settings)
            assert error.outcome == "agent_failed"
            assert f"the disk of {full} is full" in str(error)
            assert [p.name for p in full.iterdir()] == ["filler"]
    finally:
        subprocess.run(["umount", "-l", str(full)], check=True)
        full.rmdir()


ESCAPES = (
    "import os, subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c',"
    " 'import os, time; os.setsid(); time.sleep(600)  # escaped-exec'])\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(600)\n"
    "    os._exit(0)\n"
    "time.sleep(0.5)\n"
)


@pytest.mark.parametrize("then", ["answers", "hangs"])
def test_a_child_that_leaves_the_jobs_session_dies_with_the_job(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, then: str
) -> None:
    main = ESCAPES + (ECHO if then == "answers" else HANG)
    settings = settings_in(tmp_path, timeout=4.0)
    if then == "answers":
        assert run(client_for(ssh_user, sshd), settings, main) == b"echo:hello"
    else:
        assert outcome_of(client_for(ssh_user, sshd), settings, main).outcome == "timeout"
    assert processes_of(ssh_user) == []
