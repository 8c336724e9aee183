"""Reading the journal with privileges: one fixed command that one sudoers line allows.

With ``become`` (``sudo`` or ``doas``) an account that may not read the system journal
runs exactly this, and nothing else, with privileges — never the agent, never a shell::

    sudo -n /usr/bin/journalctl -o json --no-pager -q --since=-7d \\
        SYSLOG_IDENTIFIER=sshd … + _COMM=sshd …

Its arguments never change (no cursor, no time of ours: the agent keeps what follows its
cursor itself), so the sudoers line needs no wildcard. ``-n``: a password is never
asked for; a refusal is an error that gives the line to add. The figures never need
privileges. ``WINDOW`` is how far back the command reads: a host unread for longer
loses what is older, and says so.

Standard library only; runs on Python 3.6+.
"""

import json
import subprocess
from typing import List, Sequence

from .events_common import EventsError
from .journal import JournalState, _matches

TOOLS = ("sudo", "doas")
#: How far back the fixed command reads the journal.
WINDOW = "-7d"
#: What sudo and doas say when ``-n`` meets a rule that is missing.
_REFUSED = ("password is required", "not allowed", "authorization required", "not permitted",
            "terminal is required", "a password")  # fmt: skip


def command(
    tool: str, journalctl: str = "/usr/bin/journalctl", extra_args: Sequence[str] = ()
) -> List[str]:
    """The one command ``tool`` runs with privileges (typed: the server calls it too)."""
    fixed = [journalctl, "-o", "json", "--no-pager", "-q", "--since=" + WINDOW]
    return [tool, "-n"] + fixed + list(extra_args) + _matches()


def rule(tool: str, user: str, cmd: List[str]) -> str:
    """The sudoers or doas.conf line that allows ``cmd`` (from ``command``) to ``user``."""
    allowed = " ".join(cmd[2:])
    if tool == "doas":
        return "permit nopass %s as root cmd %s args %s" % (user, cmd[2], " ".join(cmd[3:]))
    return "%s ALL=(root) NOPASSWD: %s" % (user, allowed)


class BecomeJournal(object):
    """The system journal through ``command``: ``journal.Journal``'s reads, each answered
    from the one output of the fixed command (run once per agent run)."""

    def __init__(self, tool, user, journalctl="/usr/bin/journalctl", extra_args=()):
        self.command = command(tool, journalctl, extra_args)
        self.tool, self.user = tool, user
        self._lines = None

    def state(self):
        """``ENTRIES`` or ``EMPTY``; ``EventsError`` with the rule to add when refused."""
        return JournalState.ENTRIES if self.lines() else JournalState.EMPTY

    def lines(self):
        """The fixed command's JSON lines, oldest first."""
        if self._lines is None:
            try:
                proc = subprocess.Popen(
                    self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            except OSError as err:
                raise EventsError("auth events: %s cannot run: %s" % (self.tool, err)) from err
            out, err = proc.communicate()
            text = err.decode("utf-8", "replace").strip()
            if proc.returncode != 0:
                why = text.splitlines()[-1] if text else "exit %d" % proc.returncode
                if any(word in text.lower() for word in _REFUSED) or not out:
                    raise EventsError(
                        "auth events: %s refused (%s): add this line (visudo, or "
                        "/etc/doas.conf): %s" % (self.tool, why, rule(self.tool, self.user,
                                                                     self.command))
                    )  # fmt: skip
                raise EventsError("auth events: %s failed: %s" % (" ".join(self.command[:3]), why))
            self._lines = out.decode("utf-8", "replace").splitlines()
        return self._lines

    def newest(self, since_usec=None):
        """Lines from ``since_usec`` on, newest first (a generator: readers close it)."""
        for line in list(self._since(since_usec))[::-1]:
            yield line

    def oldest(self, since_usec):
        """Lines from ``since_usec`` on, oldest first."""
        for line in self._since(since_usec):
            yield line

    def at(self, cursor):
        """Lines from the entry ``cursor`` on, oldest first (none when it is not there)."""
        lines = self.lines()
        start = next(
            (i for i, line in enumerate(lines) if json.loads(line).get("__CURSOR") == cursor),
            len(lines),
        )
        for line in lines[start:]:
            yield line

    def _since(self, since_usec):
        for line in self.lines():
            if since_usec is None or int(json.loads(line)["__REALTIME_TIMESTAMP"]) >= since_usec:
                yield line
