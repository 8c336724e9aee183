"""The steps of one host on an open connection, bounded by the host's deadline.

A POSIX host takes one channel (``posix.job_command``): the probe, the interpreter,
the sweep, the temp dir, the agent and its removal all happen in it. When that
channel's output shows cmd.exe or PowerShell instead, the host takes the steps of
its ``windows`` table, one channel each.

When the deadline passes or the pass is cancelled, the job's stdin is closed (the
supervisor then kills the agent's group and removes the temp dir itself); only when
the channel does not end within ``EOF_WAIT`` seconds does a second channel kill the
job's processes and remove the dir. Cleanup never takes more than ``CLEANUP_GRACE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass

import asyncssh

from fleetstat.core import model
from fleetstat.core.errors import HostError
from fleetstat.ssh import framing, posix, probe, session, supervisor, windows
from fleetstat.ssh.failures import fail, noted, translate
from fleetstat.ssh.framing import Output
from fleetstat.ssh.probe import Shell

#: Seconds allowed for cleanup after the run (success, failure, timeout or interruption).
CLEANUP_GRACE = 5.0
#: Seconds the job may take to end by itself once its stdin is closed.
EOF_WAIT = 1.0
MIB = 1024 * 1024
#: Bytes of a job's stdout in which the probe's lines are looked for (a noisy login
#: may print before them).
PROBE_WITHIN = 64 * 1024

_log = logging.getLogger("fleetstat.ssh")


@dataclass(frozen=True)
class Job:
    """One host's run: who, with what, and until when (``deadline`` is event-loop time)."""

    client: model.Client
    settings: model.Settings
    payload: bytes
    request: bytes
    deadline: float
    limit: float
    #: What the answers in flight share (None: only ``max-answer`` bounds this one).
    budget: session.Budget | None = None

    @property
    def left(self) -> float:
        """Seconds until the deadline (never below a tenth of a second)."""
        return max(0.1, self.deadline - asyncio.get_running_loop().time())


def size_text(size: int) -> str:
    """``16 MiB`` or ``256 KiB`` for a whole number of them, else the bytes."""
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} bytes"


async def run_on(
    conn: asyncssh.SSHClientConnection, job: Job, shell: Shell | None
) -> tuple[Output, Shell]:
    """Run the agent over ``conn``; its output (the answer, the login's noise) and the
    shell it ran in.

    ``shell`` is what an earlier pass learnt on this connection (None: not known yet).
    Raises ``HostError``: ``timeout`` at the deadline, the step's outcome otherwise.
    """
    notes: list[str] = []
    try:
        async with asyncio.timeout_at(job.deadline):
            if shell in (None, Shell.POSIX):
                output, shell = await _posix(conn, job, notes)
                if output is not None:
                    return output, shell
            assert shell is not None
            return await _windows(conn, job, windows.TABLES[shell]), shell
    except TimeoutError as err:
        why = "; ".join([f"no answer within {job.limit:g} s", *notes])
        raise fail(job.client, model.Outcome.TIMEOUT, why) from err
    except (OSError, asyncssh.Error) as err:
        raise translate(job.client, err, None) from err


# ---------------------------------------------------------------- POSIX: one channel


async def _posix(
    conn: asyncssh.SSHClientConnection, job: Job, notes: list[str]
) -> tuple[Output | None, Shell]:
    """The one-channel job; (None, the Windows shell) when the probe shows Windows.

    When the job is abandoned (deadline, cancellation), what its cleanup left behind
    is added to ``notes``.
    """
    command = posix.job_command(job.client.python, stale=job.limit)
    capture = await session.start(conn, command, job.settings.max_answer, job.budget)
    for piece in posix.frame(job.payload, job.request, job.left):
        capture.send(piece)
    try:
        await asyncio.shield(capture.ended)
    except BaseException:
        note = await _abandon(conn, capture)
        if note:
            notes.append(note)
            _log.warning("%s: %s", job.client.address, note)
        raise
    shell = probe.detect_shell(capture.out[:PROBE_WITHIN].decode("utf-8", "replace"))
    if shell not in (None, Shell.POSIX):
        return None, shell
    return _posix_answer(job, capture, probed=shell is Shell.POSIX), Shell.POSIX


def _posix_answer(job: Job, capture: session.Capture, *, probed: bool) -> Output:
    """The output of a finished job, or the ``HostError`` it means. ``probed``: the login
    shell ran the probe."""
    report = posix.parse_report(capture.stderr_text)
    try:
        output = _check_posix(job, capture, report, probed=probed)
    except HostError as err:
        if report.not_removed:
            raise noted(err, _not_removed(report.not_removed)) from err
        raise
    if report.not_removed:
        _log.warning("%s: %s", job.client.address, _not_removed(report.not_removed))
    return output


def _check_posix(
    job: Job, capture: session.Capture, report: posix.Report, *, probed: bool
) -> Output:
    outcome = model.Outcome
    client = job.client
    output = framing.unframe(bytes(capture.out), report.others)
    said = f": {output.noise}" if output.noise else ""
    if capture.too_large:
        raise fail(client, outcome.BAD_PAYLOAD, _too_large(job, capture))
    if report.no_python:
        wanted = client.python or "python3 or python"
        raise fail(client, outcome.NO_PYTHON, f"no Python interpreter ({wanted})")
    if report.version is not None and report.version < posix.MIN_PYTHON:
        major, minor = report.version
        found = f"Python {major}.{minor} found, the agent needs 3.6 or newer"
        raise fail(client, outcome.NO_PYTHON, found)
    if report.failure:
        raise fail(client, outcome.AGENT_FAILED, report.failure)
    if report.killed:
        raise fail(client, outcome.TIMEOUT, f"no answer within {job.limit:g} s")
    if capture.exit_status is None:
        raise fail(client, outcome.AGENT_FAILED, f"SSH channel closed before the end{said}")
    if report.shell_pid is None:
        raise fail(client, outcome.NO_SHELL, _no_shell(client, capture.exit_status, probed, said))
    if capture.exit_status != 0:
        detail = f": {report.detail}" if report.detail else said
        raise fail(client, outcome.AGENT_FAILED, f"agent exited with {capture.exit_status}{detail}")
    if output.short is not None:
        cut = f"answer cut short after {output.short} bytes"
        raise fail(client, outcome.BAD_PAYLOAD, cut)
    if not output.answer:
        raise fail(client, outcome.AGENT_FAILED, f"agent printed no answer{said}")
    return output


def _no_shell(client: model.Client, status: int, probed: bool, said: str) -> str:
    """Why the login of ``client`` ran no command, and the fix."""
    what = (
        f"its login shell ran, but could not start {probe.SH}"
        if probed
        else "no shell ran our command"
    )
    return (
        f"the login of {client.username} runs no command ({what}; exited with {status}"
        f"{said}): its shell is nologin or false, a ForceCommand (sftp only) or a restricted "
        f"shell. Give the account a shell that runs commands (usermod -s /bin/sh "
        f"{client.username}) or lift its ForceCommand"
    )


def _too_large(job: Job, capture: session.Capture) -> str:
    """Why an answer was cut: past ``max-answer``, or past its share while the answers in
    flight together had spent ``answers-in-flight``."""
    if capture.over_budget and job.budget is not None:
        return (
            f"answer cut past {size_text(session.SHARE)}: the answers in flight together "
            f"passed answers-in-flight ({size_text(job.budget.total)})"
        )
    return f"answer larger than {size_text(job.settings.max_answer)}"


def _not_removed(text: str) -> str:
    return f"temp dir not removed: {text}"


async def _abandon(conn: asyncssh.SSHClientConnection, capture: session.Capture) -> str | None:
    """Stop a job nobody waits for any more, within ``CLEANUP_GRACE``; why a dir is left."""
    capture.end_input()
    try:
        async with asyncio.timeout(EOF_WAIT):
            await asyncio.shield(capture.ended)
    except TimeoutError:
        capture.close()
        report = posix.parse_report(capture.stderr_text)
        return await _kill(conn, posix.kill_command(report.shell_pid, report.folder), report.folder)
    report = posix.parse_report(capture.stderr_text)
    return _not_removed(report.not_removed) if report.not_removed else None


async def _kill(conn: asyncssh.SSHClientConnection, command: str, folder: str | None) -> str | None:
    """Run ``command`` (a kill and remove) within the rest of the grace; why it failed."""
    try:
        async with asyncio.timeout(CLEANUP_GRACE - EOF_WAIT):
            done = await session.run(conn, command, 64 * 1024)
    except TimeoutError:
        why = f"no answer within {CLEANUP_GRACE:g} s"
    except (OSError, asyncssh.Error) as err:
        why = str(err) or type(err).__name__
    else:
        if done.exit_status == 0:
            return None
        detail = posix.parse_report(done.stderr_text).detail
        why = f"exited with {done.exit_status}" + (f": {detail}" if detail else "")
    return _not_removed(f"{folder or 'unknown'} ({why})")


# ---------------------------------------------------------------- Windows: one channel a step


def parse_fields(text: str) -> dict[str, str]:
    """The ``name=value`` lines of a command's output (other lines are ignored)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.isidentifier():
            fields[name] = value.strip()
    return fields


async def _windows(conn: asyncssh.SSHClientConnection, job: Job, table: windows.RemoteOS) -> Output:
    """Prepare, upload, run and remove, one channel each."""
    prepared = await session.run(
        conn, table.prepare(secrets.token_hex(8), job.client.python, job.limit), 64 * 1024
    )
    fields = parse_fields(prepared.out.decode("utf-8", "replace"))
    if not fields.get("dir"):
        raise _step_error(job, model.Outcome.AGENT_FAILED, "cannot make a temp dir", prepared)
    folder = fields["dir"]
    finished = False
    try:
        output = await _windows_run(conn, job, table, folder, fields)
        finished = True
        return output
    finally:
        await _windows_cleanup(conn, table, folder, kill=not finished)


async def _windows_run(
    conn: asyncssh.SSHClientConnection,
    job: Job,
    table: windows.RemoteOS,
    folder: str,
    fields: dict[str, str],
) -> Output:
    outcome = model.Outcome
    python = fields.get("python")
    version = tuple(int(part) for part in fields.get("version", "3.6").split(".")[:2])
    if not python:
        wanted = job.client.python or "python or py -3"
        raise fail(job.client, outcome.NO_PYTHON, f"no Python interpreter ({wanted})")
    if version < posix.MIN_PYTHON:
        found = f"Python {fields['version']} found, the agent needs 3.6 or newer"
        raise fail(job.client, outcome.NO_PYTHON, found)
    path = table.join(folder, supervisor.AGENT_NAME)
    uploaded = await session.run(conn, table.upload(path), 64 * 1024, job.payload)
    if uploaded.exit_status != 0:
        raise _step_error(job, outcome.AGENT_FAILED, "upload failed", uploaded)
    command = table.run(python, folder)
    ran = await session.run(conn, command, job.settings.max_answer, job.request, job.budget)
    if ran.too_large:
        raise fail(job.client, outcome.BAD_PAYLOAD, _too_large(job, ran))
    if ran.exit_status != 0:
        raise _step_error(job, outcome.AGENT_FAILED, f"agent exited with {ran.exit_status}", ran)
    output = framing.unframe(bytes(ran.out))
    if output.short is not None:
        cut = f"answer cut short after {output.short} bytes"
        raise fail(job.client, outcome.BAD_PAYLOAD, cut)
    if not output.answer:
        raise _step_error(job, outcome.AGENT_FAILED, "agent printed no answer", ran)
    return output


async def _windows_cleanup(
    conn: asyncssh.SSHClientConnection, table: windows.RemoteOS, folder: str, *, kill: bool
) -> None:
    """Kill the agent (when asked) and remove the temp dir, within ``CLEANUP_GRACE``."""
    commands = [table.kill(folder)] if kill else []
    with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
        async with asyncio.timeout(CLEANUP_GRACE):
            for command in [*commands, table.remove(folder)]:
                await session.run(conn, command, 64 * 1024)


def _step_error(job: Job, outcome: model.Outcome, message: str, done: session.Capture) -> HostError:
    lines = [line.strip() for line in done.stderr_text.splitlines() if line.strip()]
    return fail(job.client, outcome, f"{message}: {lines[-1]}" if lines else message)
