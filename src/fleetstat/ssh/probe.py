"""Which shell runs our commands: one probe valid in cmd.exe, PowerShell 5.1, pwsh and sh.

``PROBE`` is the first line of the first command on every host:

- cmd.exe expands ``%OS%`` (``Windows_NT``), prints the quotes, leaves ``$PSEdition``,
  and runs only the first line of a command (it stops at the line feed);
- PowerShell leaves ``%OS%`` and expands ``$PSEdition`` (``Desktop`` in Windows
  PowerShell 5.1, ``Core`` in pwsh) inside the double-quoted string;
- a POSIX shell leaves ``%OS%`` and expands the unset ``$PSEdition`` to nothing.

The lines between ``HIDE_FROM_POWERSHELL`` and ``END_HIDE`` are for POSIX shells
only: for sh, ```# <#``` is a command substitution holding a comment (empty) and
``#>`` a comment; for PowerShell, ```#`` is an escaped ``#`` and ``<#`` opens a block
comment that ``#>`` closes.
"""

from __future__ import annotations

import enum

MARKER = "fleetstat-shell:"
PROBE = f'echo "{MARKER}%OS%:$PSEdition"'
HIDE_FROM_POWERSHELL = "echo `# <#`"
END_HIDE = "#>"


class Shell(enum.StrEnum):
    """The kinds of remote shell fleetstat speaks to."""

    POSIX = "posix"
    CMD = "cmd"
    POWERSHELL = "powershell"  # Windows PowerShell 5.1 (Desktop edition)
    PWSH = "pwsh"  # PowerShell 6 and newer (Core edition)


def detect_shell(stdout: str) -> Shell | None:
    """The shell whose output for ``PROBE`` is in ``stdout`` (None: no probe line found)."""
    for line in stdout.splitlines():
        text = line.strip().strip('"')
        if text.startswith(MARKER):
            return _shell_of(text[len(MARKER) :])
    return None


def _shell_of(fields: str) -> Shell:
    os_name, _, edition = fields.partition(":")
    if os_name.lower() == "windows_nt":
        return Shell.CMD
    if edition == "Desktop":
        return Shell.POWERSHELL
    if edition == "Core":
        return Shell.PWSH
    return Shell.POSIX
