"""Accounts with every login shell a fleet has, quiet or noisy, for the loopback ``sshd``.

``accounts(folder, kinds)`` makes one Unix user per kind (its own home, key and
password) and removes them all at the end. A kind is a login shell from ``SHELLS``
(``noisy`` adds rc files that print to stdout and stderr on every login, as real ones
do), or one of ``REFUSING``: a shell that runs nothing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.sshd import SshUser, own_user

#: Login shells by name; busybox runs as ash through a link named ``ash``.
SHELLS = {
    "bash": "/bin/bash",
    "dash": "/bin/dash",
    "zsh": "/usr/bin/zsh",
    "ksh": "/usr/bin/ksh",
    "fish": "/usr/bin/fish",
    "tcsh": "/usr/bin/tcsh",
    "csh": "/usr/bin/csh",
    "busybox": "ash",
}
#: Accounts whose login runs no command.
REFUSING = {"nologin": "/usr/sbin/nologin", "false": "/bin/false", "rbash": "/bin/rbash"}
#: The file each shell reads on a non-interactive login (``.ssh/rc``, which sshd runs
#: before any command, for the shells that read none).
RC_FILES = {
    "bash": ".bashrc",
    "zsh": ".zshenv",
    "fish": ".config/fish/config.fish",
    "tcsh": ".cshrc",
    "csh": ".cshrc",
}
#: What a noisy login prints: valid in every shell (one plain command).
NOISE = (
    "/bin/sh -c 'echo Welcome to the noisy login; echo rc says hello on stderr >&2; stty sane'\n"
)
NOISE_TEXT = "Welcome to the noisy login"


@dataclass(frozen=True)
class Account:
    """A test account: its user, the kind of login it has, whether it is noisy."""

    user: SshUser
    kind: str
    noisy: bool = False


def missing(kinds: list[str]) -> list[str]:
    """The shells of ``kinds`` not installed here."""
    paths = {**SHELLS, **REFUSING, "busybox": "busybox"}
    return [kind for kind in kinds if kind in paths and shutil.which(paths[kind]) is None]


@contextlib.contextmanager
def accounts(folder: Path, kinds: list[tuple[str, bool]]) -> Iterator[list[Account]]:
    """One account per (kind, noisy) of ``kinds``; all removed on exit."""
    # busybox's ash as a login shell: a link named ash, where every account may reach it
    links = Path(tempfile.mkdtemp(prefix="fleetstat-test-shells-", dir="/tmp"))
    links.chmod(0o755)
    ash = links / "ash"
    ash.symlink_to(shutil.which("busybox") or "/bin/busybox")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, links, ignore_errors=True)
        made = []
        for index, (kind, noisy) in enumerate(kinds):
            home = folder / f"user-{index}"
            home.mkdir(exist_ok=True)
            user = stack.enter_context(own_user(home))
            shell = str(ash) if kind == "busybox" else {**SHELLS, **REFUSING}[kind]
            usermod = ["usermod", "--shell", shell, user.name]
            subprocess.run(usermod, check=True, capture_output=True)
            if noisy:
                _make_noisy(user, kind)
            made.append(Account(user, kind, noisy))
        yield made


def _make_noisy(user: SshUser, kind: str) -> None:
    """Give ``user`` rc files that print a line to stdout and one to stderr at each login."""
    entry = pwd.getpwnam(user.name)
    for name in {RC_FILES.get(kind, ".ssh/rc"), ".ssh/rc"}:
        path = user.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(NOISE)
        for item in (path, path.parent):
            os.chown(item, entry.pw_uid, entry.pw_gid)
