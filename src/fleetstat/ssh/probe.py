"""Which shell runs our commands: one probe valid in cmd.exe, PowerShell, and every login
shell of a POSIX host (sh, bash, dash, zsh, ksh, busybox ash, fish, csh, tcsh).

The first command on every host has three lines (``lines``):

1. ``PROBE`` prints ``fleetstat-shell:Windows_NT`` in cmd.exe (which expands ``%OS%``,
   prints the quotes too, and runs only this first line) and ``fleetstat-shell:%OS%``
   everywhere else;
2. ``through_sh(script)``: every POSIX login shell replaces itself with ``/bin/sh``
   running ``script``, so what runs is the same whatever the account's shell — its
   ``$$``, quoting, ``trap`` and ``exec`` never matter. PowerShell has no ``exec``: it
   reports the unknown command on stderr and goes on;
3. ``EDITION`` prints ``fleetstat-shell:ps:Desktop`` in Windows PowerShell 5.1 and
   ``fleetstat-shell:ps:Core`` in pwsh; no POSIX shell gets there.

``script`` travels in single quotes, on one line: the one form that bash, dash, zsh,
ksh, ash, fish, csh and tcsh all take as one word, untouched (fish reads ``\\'`` and
``\\\\`` in single quotes, csh ends a quoted word at a line feed: neither may occur).
"""

from __future__ import annotations

import enum

MARKER = "fleetstat-shell:"
PROBE = f'echo "{MARKER}%OS%"'
EDITION = f'echo "{MARKER}ps:$PSEdition"'
#: The shell the POSIX part runs in, on every POSIX host.
SH = "/bin/sh"


class Shell(enum.StrEnum):
    """The kinds of remote shell fleetstat speaks to."""

    POSIX = "posix"
    CMD = "cmd"
    POWERSHELL = "powershell"  # Windows PowerShell 5.1 (Desktop edition)
    PWSH = "pwsh"  # PowerShell 6 and newer (Core edition)


def through_sh(script: str) -> str:
    """A command that every POSIX login shell runs as ``/bin/sh -c script``."""
    if "'" in script or "\n" in script or "\\'" in script or "\\\\" in script:
        raise ValueError(f"not one line without quotes or escapes: {script[:80]!r}")
    return f"exec {SH} -c '{script}'"


def lines(script: str) -> str:
    """The probe around ``script``, the POSIX part of the first command of a host."""
    return "\n".join([PROBE, through_sh(script), EDITION])


def detect_shell(stdout: str) -> Shell | None:
    """The shell whose output for ``lines`` is in ``stdout`` (None: no probe line)."""
    seen = None
    for line in stdout.splitlines():
        text = line.strip().strip('"')
        if not text.startswith(MARKER):
            continue
        value = text[len(MARKER) :]
        if value.lower() == "windows_nt":
            return Shell.CMD
        if value == "ps:Desktop":
            return Shell.POWERSHELL
        if value == "ps:Core":
            return Shell.PWSH
        if value == "%OS%":
            seen = Shell.POSIX
    return seen
