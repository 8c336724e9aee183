"""One host over SSH: connect, make a private temp dir, upload the agent, run it, clean up.

``run_agent`` is the whole job for one client. Each failure is raised as one
``errors.HostError`` whose ``outcome`` is the ``model.Outcome`` it is recorded as;
asyncssh's exceptions are translated in one place, ``_translate``.

Remote commands live in one table per OS (``POSIX``, ``WINDOWS``); the first command
tells the two apart (``echo %OS%`` prints ``Windows_NT`` under ``cmd.exe`` and itself
under ``sh``), so a POSIX host needs one round trip before the upload.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import asyncssh

from fleetstat import model
from fleetstat.errors import HostError

#: Key exchange offered first: fast, and what the benchmark's plain ``ssh`` uses.
KEX_FIRST = "^curve25519-sha256"
#: Attempts at a connection dropped before authentication (sshd's ``MaxStartups``).
CONNECT_ATTEMPTS = 3
#: Seconds of the first back-off between attempts; doubled each time, with jitter.
BACKOFF = 0.2
#: Seconds allowed for removing the temp dir after the run (success, failure or timeout).
CLEANUP_GRACE = 5.0
TEMP_PREFIX = "fleetstat"
AGENT_NAME = "agent.pyz"

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------- per-OS commands (pure)


@dataclass(frozen=True)
class RemoteOS:
    """How to do each step on one kind of remote shell; every field builds a command string."""

    name: str
    make_dir: Callable[[str], str]  # unique suffix → command printing "dir=<path>"
    find_python: Callable[[str | None], str]  # configured python → command printing it
    upload: Callable[[str], str]  # file path → command storing stdin there
    run: Callable[[str, str], str]  # python, temp dir → command running the agent
    remove: Callable[[str], str]  # temp dir → command killing the agent and removing the dir
    join: Callable[[str, str], str]  # temp dir, name → path


def _posix_make_dir(_suffix: str) -> str:
    template = f'"${{TMPDIR:-/tmp}}/{TEMP_PREFIX}.XXXXXXXX"'
    return f'd=$(mktemp -d {template}) || exit 3; echo "dir=$d"; echo "mode=$(ls -ld "$d")"'


def _posix_find_python(python: str | None) -> str:
    if python:
        return f"echo python=$(command -v {shlex.quote(python)})"
    return "echo python=$(command -v python3 || command -v python)"


def _posix_run(python: str, folder: str) -> str:
    agent = shlex.quote(_posix_join(folder, AGENT_NAME))
    pidfile = shlex.quote(_posix_join(folder, "pid"))
    return f"echo $$ > {pidfile}; exec {shlex.quote(python)} {agent}"


def _posix_remove(folder: str) -> str:
    quoted = shlex.quote(folder)
    pidfile = shlex.quote(_posix_join(folder, "pid"))
    return f"test -s {pidfile} && kill -9 $(cat {pidfile}) 2>/dev/null; rm -rf {quoted}"


def _posix_join(folder: str, name: str) -> str:
    return str(PurePosixPath(folder) / name)


def _windows_make_dir(suffix: str) -> str:
    folder = f"%TEMP%\\{TEMP_PREFIX}-{suffix}"
    return f'mkdir "{folder}" && echo dir={folder}'


def _windows_find_python(python: str | None) -> str:
    if python:
        return f'"{python}" -c "import sys; print(\'python=\' + sys.executable)"'
    probe = "-c \"import sys; print('python=' + sys.executable)\""
    return f"python {probe} || py -3 {probe}"


def _windows_upload(path: str) -> str:
    copy = (
        "$i=[Console]::OpenStandardInput(); "
        f"$o=[IO.File]::Create('{path}'); $i.CopyTo($o); $o.Close()"
    )
    return f'powershell -NoProfile -NonInteractive -Command "{copy}"'


def _windows_run(python: str, folder: str) -> str:
    return f'"{python}" "{_windows_join(folder, AGENT_NAME)}"'


def _windows_remove(folder: str) -> str:
    return f'rmdir /s /q "{folder}"'


def _windows_join(folder: str, name: str) -> str:
    return str(PureWindowsPath(folder) / name)


POSIX = RemoteOS(
    name="posix",
    make_dir=_posix_make_dir,
    find_python=_posix_find_python,
    upload=lambda path: f"cat > {shlex.quote(path)}",
    run=_posix_run,
    remove=_posix_remove,
    join=_posix_join,
)
WINDOWS = RemoteOS(
    name="windows",
    make_dir=_windows_make_dir,
    find_python=_windows_find_python,
    upload=_windows_upload,
    run=_windows_run,
    remove=_windows_remove,
    join=_windows_join,
)

#: Prints "Windows_NT" under cmd.exe, "%OS%" under a POSIX shell.
OS_PROBE = "echo %OS%"


def probe_command(python: str | None) -> str:
    """The first command: tells the OS apart and, on POSIX, makes the dir and finds python."""
    return f"{OS_PROBE}; {POSIX.make_dir('')}; {POSIX.find_python(python)}"


def detect_os(first_line: str) -> RemoteOS:
    """The command table for the shell that printed ``first_line`` for ``OS_PROBE``."""
    return WINDOWS if first_line.strip().lower().startswith("windows_nt") else POSIX


def parse_fields(text: str) -> dict[str, str]:
    """The ``name=value`` lines of a probe's output (other lines are ignored)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.isidentifier():
            fields[name] = value.strip()
    return fields


def check_private(mode_line: str) -> bool:
    """True when an ``ls -ld`` line shows a directory only its owner can enter (0700)."""
    return mode_line.startswith("drwx------")


# ---------------------------------------------------------------- host keys


def known_hosts_name(client: model.Client) -> str:
    """The host's name in a known_hosts file: ``ip``, or ``[ip]:port`` off port 22."""
    return client.ip if client.port == 22 else f"[{client.ip}]:{client.port}"


def parse_known_hosts(text: str) -> dict[str, list[str]]:
    """Host name → public key lines (``type base64``) of an OpenSSH known_hosts text.

    Hashed names, markers (``@revoked``) and comments are skipped.
    """
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith(("#", "@", "|")):
            continue
        for name in parts[0].split(","):
            keys.setdefault(name, []).append(f"{parts[1]} {parts[2]}")
    return keys


def line_number_of(text: str, name: str, key_line: str) -> int | None:
    """The 1-based number of the first line of ``text`` recording ``key_line`` for ``name``."""
    wanted = key_line.split()
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if len(parts) >= 3 and name in parts[0].split(",") and parts[1:3] == wanted:
            return number
    return None


class KnownHosts:
    """fleetstat's own known_hosts file, read once and appended to on first use."""

    _cache: dict[Path, tuple[tuple[int, int], dict[str, list[str]]]] = {}  # noqa: RUF012

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()

    def keys_for(self, name: str) -> list[str]:
        """The key lines recorded for ``name`` (empty when it was never seen)."""
        return list(self._load().get(name, []))

    def add(self, name: str, key_line: str) -> None:
        """Record ``key_line`` for ``name`` (creates the folder and the file, mode 0600)."""
        entries = self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(f"{name} {key_line}\n")
        entries.setdefault(name, []).append(key_line)
        self._cache[self.path] = (self._signature(), entries)

    def _signature(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return (0, -1)
        return (stat.st_mtime_ns, stat.st_size)

    def _load(self) -> dict[str, list[str]]:
        signature = self._signature()
        cached = self._cache.get(self.path)
        if cached is None or cached[0] != signature:
            cached = (signature, parse_known_hosts(self.text()))
            self._cache[self.path] = cached
        return cached[1]

    def text(self) -> str:
        """The file's text ("" when it does not exist; undecodable bytes replaced)."""
        if not self.path.exists():
            return ""
        return self.path.read_text(encoding="utf-8", errors="replace")


class _HostKeyCheck(asyncssh.SSHClient):
    """Decides on a host key that is not already trusted: first use, or a mismatch."""

    def __init__(self, policy: str, known: KnownHosts, name: str, recorded: bool) -> None:
        self._policy = policy
        self._known = known
        self._name = name
        self._recorded = recorded
        self.refused: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        if self._policy == "off":
            return True
        line = key.export_public_key("openssh").decode().strip()
        if self._recorded:
            self.refused = f"host key changed: now {key.get_fingerprint()}"
            return False
        if self._policy == "strict":
            self.refused = f"unknown host key {key.get_fingerprint()} (host_keys is strict)"
            return False
        self._known.add(self._name, " ".join(line.split()[:2]))
        return True


def _trusted_keys(client: model.Client, settings: model.Settings) -> list[asyncssh.SSHKey]:
    """The keys recorded for the client, as asyncssh keys (empty when none or policy off).

    A recorded line that is not a valid key raises ``HostError`` (host_key_mismatch)
    naming the file and the line.
    """
    if settings.host_keys == "off":
        return []
    known = KnownHosts(settings.known_hosts)
    name = known_hosts_name(client)
    keys = []
    for line in known.keys_for(name):
        try:
            keys.append(asyncssh.import_public_key(line))
        except (asyncssh.KeyImportError, ValueError) as err:
            number = line_number_of(known.text(), name, line)
            where = f"{known.path}:{number}" if number else str(known.path)
            message = f"known_hosts {where} is not a valid key line: fix or delete it"
            raise _fail(client, model.Outcome.HOST_KEY_MISMATCH, message) from err
    return keys


# ---------------------------------------------------------------- errors, in one place


def _fail(client: model.Client, outcome: model.Outcome, message: str) -> HostError:
    transient = outcome in (model.Outcome.UNREACHABLE, model.Outcome.TIMEOUT)
    return HostError(message, outcome=outcome, transient=transient, host=client.address)


def _translate(
    client: model.Client, err: BaseException, checker: _HostKeyCheck | None
) -> HostError:
    """The one mapping from asyncssh / OS errors to an outcome."""
    outcome = model.Outcome
    if isinstance(err, HostError):
        return err
    if isinstance(err, asyncssh.PermissionDenied):
        return _fail(client, outcome.AUTH_FAILED, f"authentication failed: {err.reason}")
    if isinstance(err, asyncssh.HostKeyNotVerifiable):
        why = checker.refused if checker and checker.refused else err.reason
        return _fail(client, outcome.HOST_KEY_MISMATCH, why)
    if isinstance(err, TimeoutError):
        return _fail(client, outcome.UNREACHABLE, "no SSH answer within the connect timeout")
    if isinstance(err, asyncssh.DisconnectError):
        return _fail(client, outcome.UNREACHABLE, f"connection closed: {err.reason}")
    if isinstance(err, OSError):
        return _fail(client, outcome.UNREACHABLE, err.strerror or str(err) or type(err).__name__)
    if isinstance(err, asyncssh.ChannelOpenError | asyncssh.Error):
        return _fail(client, outcome.AGENT_FAILED, f"SSH: {err}")
    return _fail(client, outcome.AGENT_FAILED, f"{type(err).__name__}: {err}")


def _retry_now(err: BaseException) -> bool:
    """True for a connection dropped before authentication (reset, closed during key exchange)."""
    if isinstance(err, asyncssh.PermissionDenied | asyncssh.HostKeyNotVerifiable):
        return False
    if isinstance(err, ConnectionRefusedError | TimeoutError):
        return False
    return isinstance(err, ConnectionResetError | BrokenPipeError | asyncssh.ConnectionLost) or (
        isinstance(err, asyncssh.DisconnectError)
        and err.code in (asyncssh.DISC_CONNECTION_LOST, asyncssh.DISC_PROTOCOL_ERROR)
    )


# ---------------------------------------------------------------- connecting


def _check_key_file(client: model.Client) -> None:
    """Raise ``HostError`` (auth_failed) when the client's key file cannot be loaded.

    Key files are used without a passphrase, so an encrypted one cannot be read either.
    """
    if not client.keyfile:
        return
    path = Path(client.keyfile).expanduser()
    try:
        asyncssh.read_private_key(path)
    except OSError as err:
        message = f"key file {path} could not be read: {err.strerror or err}"
        raise _fail(client, model.Outcome.AUTH_FAILED, message) from err
    except ValueError as err:
        message = f"key file {path} could not be read (encrypted? wrong format?): {err}"
        raise _fail(client, model.Outcome.AUTH_FAILED, message) from err


def _auth_options(client: model.Client) -> dict[str, object]:
    """Password, key file, or (neither given) ssh-agent and the default keys."""
    if client.keyfile:
        return {
            "client_keys": [str(Path(client.keyfile).expanduser())],
            "agent_path": None,
            "password": client.password,
        }
    if client.password is not None:
        return {"client_keys": None, "agent_path": None, "password": client.password}
    return {"ignore_encrypted": True}


async def _connect_once(
    client: model.Client, settings: model.Settings
) -> tuple[asyncssh.SSHClientConnection, _HostKeyCheck]:
    known = KnownHosts(settings.known_hosts)
    name = known_hosts_name(client)
    trusted = _trusted_keys(client, settings)
    checker = _HostKeyCheck(settings.host_keys, known, name, recorded=bool(trusted))
    try:
        conn = await asyncssh.connect(
            client.ip,
            client.port,
            username=client.username,
            known_hosts=(trusted, [], []),
            client_factory=lambda: checker,
            connect_timeout=settings.connect_timeout,
            config=[settings.ssh_config] if settings.ssh_config else None,
            kex_algs=KEX_FIRST,
            **_auth_options(client),
        )
    except (OSError, asyncssh.Error, TimeoutError) as err:
        raise _Attempt(err, checker) from err
    return conn, checker


class _Attempt(Exception):
    """One failed connection attempt, with the checker that saw the host key."""

    def __init__(self, err: BaseException, checker: _HostKeyCheck) -> None:
        super().__init__(str(err))
        self.err = err
        self.checker = checker


async def connect(
    client: model.Client,
    settings: model.Settings,
    *,
    attempts: int = CONNECT_ATTEMPTS,
    rng: random.Random | None = None,
) -> asyncssh.SSHClientConnection:
    """An authenticated connection; drops before authentication are retried with back-off.

    Raises ``HostError`` (unreachable, auth_failed, host_key_mismatch). Authentication
    failures are never retried.
    """
    rng = rng or random.Random()
    _check_key_file(client)
    for attempt in range(1, attempts + 1):
        try:
            conn, _checker = await _connect_once(client, settings)
        except _Attempt as failed:
            if attempt == attempts or not _retry_now(failed.err):
                raise _translate(client, failed.err, failed.checker) from failed.err
            await asyncio.sleep(BACKOFF * 2 ** (attempt - 1) * (0.5 + rng.random()))
        else:
            return conn
    raise AssertionError("unreachable: the loop returns or raises")


# ---------------------------------------------------------------- the steps on one connection


@dataclass
class _Remote:
    """One connection and what we learnt about the host over it."""

    conn: asyncssh.SSHClientConnection
    client: model.Client
    os: RemoteOS = POSIX
    folder: str | None = None
    python: str | None = None

    async def exec(self, command: str, stdin: bytes | None = None) -> asyncssh.SSHCompletedProcess:
        """Run ``command``; return its completed process (stdout/stderr as bytes)."""
        return await self.conn.run(command, input=stdin, encoding=None, check=False)

    async def prepare(self) -> None:
        """Tell the OS apart, make the private temp dir, find the interpreter."""
        done = await self.exec(probe_command(self.client.python))
        text = _text(done.stdout)
        self.os = detect_os(text.partition("\n")[0])
        if self.os is WINDOWS:
            text = await self._prepare_windows()
        fields = parse_fields(text)
        if not fields.get("dir"):
            raise self._error(model.Outcome.AGENT_FAILED, "cannot make a temp dir", done)
        self.folder = fields["dir"]
        if self.os is POSIX and not check_private(fields.get("mode", "")):
            raise self._error(model.Outcome.AGENT_FAILED, "temp dir is not private (0700)", done)
        self.python = fields.get("python") or None
        if not self.python:
            wanted = self.client.python or "python3 or python"
            raise self._error(model.Outcome.NO_PYTHON, f"no Python interpreter ({wanted})", done)

    async def _prepare_windows(self) -> str:
        made = await self.exec(WINDOWS.make_dir(secrets.token_hex(8)))
        found = await self.exec(WINDOWS.find_python(self.client.python))
        return _text(made.stdout) + "\n" + _text(found.stdout)

    async def upload(self, payload: bytes) -> None:
        """Store the agent in the temp dir: SFTP when offered, else through an exec channel."""
        assert self.folder is not None
        path = self.os.join(self.folder, AGENT_NAME)
        try:
            async with self.conn.start_sftp_client() as sftp, sftp.open(path, "wb") as out:
                await out.write(payload)
            return
        except (asyncssh.ChannelOpenError, asyncssh.SFTPError):
            pass
        done = await self.exec(self.os.upload(path), stdin=payload)
        if done.exit_status != 0:
            raise self._error(model.Outcome.AGENT_FAILED, "upload failed", done)

    async def run_agent(self, request: bytes) -> bytes:
        """Run the agent with ``request`` on stdin; return its first stdout line."""
        assert self.folder is not None and self.python is not None
        done = await self.exec(self.os.run(self.python, self.folder), stdin=request)
        if done.exit_status != 0:
            why = f"agent exited with {done.exit_status}"
            raise self._error(model.Outcome.AGENT_FAILED, why, done)
        line = _text(done.stdout).encode().split(b"\n", 1)[0].strip()
        if not line:
            raise self._error(model.Outcome.AGENT_FAILED, "agent printed nothing", done)
        return line

    async def cleanup(self) -> str | None:
        """Kill the agent if it still runs and remove the temp dir, within ``CLEANUP_GRACE`` s.

        Returns why the temp dir was not removed ("temp dir not removed: …"), or None.
        """
        if self.folder is None:
            return None
        try:
            async with asyncio.timeout(CLEANUP_GRACE):
                done = await self.exec(self.os.remove(self.folder))
        except TimeoutError:
            why = f"no answer within {CLEANUP_GRACE:g} s"
        except (OSError, asyncssh.Error) as err:
            why = str(err) or type(err).__name__
        else:
            if done.exit_status == 0:
                return None
            detail = _last_line(_text(done.stderr))
            why = f"exited with {done.exit_status}" + (f": {detail}" if detail else "")
        return f"temp dir not removed: {self.folder} ({why})"

    async def close(self) -> str | None:
        """``cleanup`` (bounded on its own), then close the connection; ``cleanup``'s result."""
        try:
            return await self.cleanup()
        finally:
            self.conn.close()

    async def work(self, payload: bytes, request: bytes, deadline: float, limit: float) -> bytes:
        """Prepare, upload and run the agent by ``deadline`` (event-loop time); its line.

        Raises ``HostError``: ``timeout`` at the deadline (``limit`` seconds after the start).
        """
        try:
            async with asyncio.timeout_at(deadline):
                await self.prepare()
                await self.upload(payload)
                return await self.run_agent(request)
        except TimeoutError as err:
            raise _fail(
                self.client, model.Outcome.TIMEOUT, f"no answer within {limit:g} s"
            ) from err
        except (OSError, asyncssh.Error) as err:
            raise _translate(self.client, err, None) from err

    def _error(
        self, outcome: model.Outcome, message: str, done: asyncssh.SSHCompletedProcess
    ) -> HostError:
        detail = _last_line(_text(done.stderr))
        return _fail(self.client, outcome, f"{message}: {detail}" if detail else message)


def _text(data: object) -> str:
    """Remote output as text (bytes decoded as UTF-8, errors replaced)."""
    if isinstance(data, bytes | bytearray):
        return bytes(data).decode("utf-8", "replace")
    return str(data or "")


def _last_line(text: str) -> str:
    """The last non-empty line of ``text`` (where tools put the reason)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _noted(err: HostError, note: str) -> HostError:
    """``err`` with ``note`` added to its message."""
    return HostError(f"{err}; {note}", outcome=err.outcome, transient=err.transient, host=err.host)


async def _connect_by(
    client: model.Client, settings: model.Settings, deadline: float
) -> asyncssh.SSHClientConnection:
    """``connect``, given up at ``deadline`` (event-loop time) as unreachable."""
    try:
        async with asyncio.timeout_at(deadline):
            return await connect(client, settings)
    except (OSError, asyncssh.Error, TimeoutError) as err:
        raise _translate(client, err, None) from err


async def run_agent(
    client: model.Client, settings: model.Settings, payload: bytes, request: bytes
) -> bytes:
    """Run the agent on ``client``; return its stdout line (the encrypted answer).

    Connecting, preparing, uploading and running are bounded by ``client.timeout or
    settings.timeout`` seconds (then ``timeout``); the temp dir is removed after success,
    failure and timeout, within ``CLEANUP_GRACE`` seconds more. A temp dir left behind is
    added to the ``HostError`` message, or logged as a warning after an answer. Raises
    ``HostError`` with the outcome otherwise.
    """
    limit = client.timeout or settings.timeout
    deadline = asyncio.get_running_loop().time() + limit
    remote = _Remote(await _connect_by(client, settings, deadline), client)
    try:
        line = await remote.work(payload, request, deadline, limit)
    except BaseException as err:
        note = await remote.close()
        if note and isinstance(err, HostError):
            raise _noted(err, note) from err
        raise
    note = await remote.close()
    if note:
        _log.warning("%s: %s", client.address, note)
    return line
