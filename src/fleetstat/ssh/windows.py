"""The command tables of Windows shells: cmd.exe, and PowerShell (5.1 and pwsh).

OpenSSH for Windows runs a command in the account's default shell (cmd.exe unless
``HKLM\\SOFTWARE\\OpenSSH\\DefaultShell`` names PowerShell). Each table builds the
commands of the steps a Windows host takes after the probe: ``prepare`` (remove stale
temp dirs, make the temp dir, find Python; prints ``dir=``, ``python=``, ``version=``
lines), ``upload`` (stdin into a file), ``run`` (the agent, with the request on stdin),
``kill`` (the agent and its children) and ``remove`` (the temp dir). All are pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PureWindowsPath

from fleetstat.ssh.probe import Shell
from fleetstat.ssh.supervisor import AGENT_NAME

TEMP_PREFIX = "fleetstat-"
#: Python code printing what ``prepare`` reports about the interpreter (no ``%``, no ``"``).
PYTHON_FACTS = (
    "import sys; print('python=' + sys.executable); "
    "print('version=' + '.'.join(map(str, sys.version_info[:2])))"
)


@dataclass(frozen=True)
class RemoteOS:
    """How to do each step in one kind of Windows shell; every field builds a command."""

    shell: Shell
    prepare: Callable[[str, str | None, float], str]  # suffix, python, stale seconds
    upload: Callable[[str], str]  # file path → command storing stdin there
    run: Callable[[str, str], str]  # python, temp dir → command running the agent
    kill: Callable[[str], str]  # temp dir → command ending the agent and its children
    remove: Callable[[str], str]  # temp dir → command removing it

    def join(self, folder: str, name: str) -> str:
        """``folder\\name``."""
        return str(PureWindowsPath(folder) / name)


def ps_quote(text: str) -> str:
    """``text`` as a PowerShell single-quoted (verbatim) string."""
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- PowerShell


def _ps_sweep(stale: float) -> str:
    old = f"(Get-Date).AddSeconds(-{int(stale)})"
    return (
        f"Get-ChildItem -LiteralPath $env:TEMP -Directory -Filter '{TEMP_PREFIX}*' "
        f"-ErrorAction SilentlyContinue | Where-Object {{ $_.LastWriteTime -lt {old} }} "
        "| Remove-Item -Recurse -Force -ErrorAction SilentlyContinue"
    )


def _ps_find_python(python: str | None) -> str:
    facts = ps_quote(PYTHON_FACTS)
    if python:
        return f"& {ps_quote(python)} -c {facts}"
    return (
        "if (Get-Command python -ErrorAction SilentlyContinue) "
        f"{{ & python -c {facts} }} else {{ & py -3 -c {facts} }}"
    )


def ps_prepare(suffix: str, python: str | None, stale: float) -> str:
    """Sweep stale dirs, make ``$env:TEMP\\fleetstat-<suffix>``, report the interpreter."""
    make = (
        f"$d = Join-Path $env:TEMP {ps_quote(TEMP_PREFIX + suffix)}; "
        "New-Item -ItemType Directory -Path $d -ErrorAction Stop | Out-Null; "
        '"dir=$d"'
    )
    return f"{_ps_sweep(stale)}; {make}; {_ps_find_python(python)}"


def ps_upload(path: str) -> str:
    """Copy stdin, byte for byte, into ``path``."""
    return (
        "$i = [Console]::OpenStandardInput(); "
        f"$o = [IO.File]::Create({ps_quote(path)}); $i.CopyTo($o); $o.Close()"
    )


def ps_run(python: str, folder: str) -> str:
    """Run the agent in isolated mode; it inherits the channel's stdin (the request)."""
    return f"& {ps_quote(python)} -I -S {ps_quote(_join(folder, AGENT_NAME))}"


def ps_kill(folder: str) -> str:
    """End every process running this temp dir's agent, with its children (``taskkill /T``).

    The pattern is built from two pieces, so this command's own command line never
    matches it.
    """
    agent = _join(folder, "agent")
    pattern = f"('*' + {ps_quote(agent)} + '.pyz*')"
    return (
        "Get-CimInstance Win32_Process | "
        f"Where-Object {{ $_.CommandLine -like {pattern} }} | "
        "ForEach-Object { taskkill /F /T /PID $_.ProcessId }"
    )


def ps_remove(folder: str) -> str:
    """Remove the temp dir and everything in it."""
    return f"Remove-Item -LiteralPath {ps_quote(folder)} -Recurse -Force"


# ---------------------------------------------------------------- cmd.exe


def _powershell(command: str) -> str:
    """``command`` run by Windows PowerShell from cmd.exe (no ``"`` may be inside)."""
    return f'powershell -NoProfile -NonInteractive -Command "{command}"'


def cmd_make_dir(suffix: str) -> str:
    """Make ``%TEMP%\\fleetstat-<suffix>`` and print ``dir=`` with its path."""
    folder = f"%TEMP%\\{TEMP_PREFIX}{suffix}"
    return f'mkdir "{folder}" && echo dir={folder}'


def cmd_find_python(python: str | None) -> str:
    """Print the interpreter's facts: ``python`` on PATH, else the ``py -3`` launcher."""
    facts = f'-c "{PYTHON_FACTS}"'
    if python:
        return f'"{python}" {facts}'
    return f"python {facts} || py -3 {facts}"


def cmd_prepare(suffix: str, python: str | None, stale: float) -> str:
    """Sweep stale dirs (through PowerShell), make the temp dir, report the interpreter."""
    sweep = _powershell(_ps_sweep(stale))
    return f"{sweep} & {cmd_make_dir(suffix)} && ({cmd_find_python(python)})"


def cmd_upload(path: str) -> str:
    """Copy stdin into ``path`` (cmd.exe has no binary-safe copy of its own)."""
    return _powershell(ps_upload(path))


def cmd_run(python: str, folder: str) -> str:
    """Run the agent in isolated mode with the channel's stdin."""
    return f'"{python}" -I -S "{_join(folder, AGENT_NAME)}"'


def cmd_kill(folder: str) -> str:
    """``ps_kill`` through PowerShell."""
    return _powershell(ps_kill(folder))


def cmd_remove(folder: str) -> str:
    """Remove the temp dir and everything in it."""
    return f'rmdir /s /q "{folder}"'


def _join(folder: str, name: str) -> str:
    return str(PureWindowsPath(folder) / name)


CMD = RemoteOS(
    shell=Shell.CMD,
    prepare=cmd_prepare,
    upload=cmd_upload,
    run=cmd_run,
    kill=cmd_kill,
    remove=cmd_remove,
)
POWERSHELL = RemoteOS(
    shell=Shell.POWERSHELL,
    prepare=ps_prepare,
    upload=ps_upload,
    run=ps_run,
    kill=ps_kill,
    remove=ps_remove,
)
#: The table for each Windows shell the probe tells apart.
TABLES = {Shell.CMD: CMD, Shell.POWERSHELL: POWERSHELL, Shell.PWSH: POWERSHELL}
