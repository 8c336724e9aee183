"""Linux authentication events: pick the journal or an auth file, and mark our own login.

Standard library only; runs on Python 3.6+.
"""

import grp
import os

from . import authfile, become, journal
from .events_common import EventsError, mark_own_session, ssh_client
from .events_linux import SOURCE, SSHD_PROGRAMS

AUTH_FILES = ("/var/log/auth.log", "/var/log/secure")
JOURNAL_GROUPS = frozenset(["systemd-journal", "adm", "wheel"])
JOURNAL_ADVICE = "add the user to the systemd-journal group (usermod -aG systemd-journal USER)"


def read_auth_events(since, options, reader=None, files=AUTH_FILES, session=None):
    """The protocol's events object for ``linux-auth``, oldest record first.

    Reads the journal (a ``journal.Journal``; the system's by default) when it shows
    this user the system's entries, else the first of ``files`` that exists; the
    journal is preferred because only it records which program really wrote a line.
    ``options`` is ``events_common.Options`` (cap, first-run window, time budget).
    ``since`` is the request's ``events.since``; a cursor of the other kind (the host
    moved between journal and file) counts as a first run. Records of this agent's
    own SSH login (``session``, by default ``session_identity()``) get
    ``own_session: true``.
    """
    reader = reader or journal.Journal()
    cursor = (since or {}).get(SOURCE) or {}
    result = _read(reader, cursor, options, files)
    ip_port, pids = session if session is not None else session_identity()
    mark_own_session(result["records"], ip_port, pids, SSHD_PROGRAMS)
    return result


def _read(reader, cursor, options, files):
    """The events from the journal or the first auth file; errors that say why not."""
    state = reader.state()
    partial = state == journal.JournalState.ENTRIES and not journal_readable(
        os.geteuid(), _group_names()
    )
    unprivileged = partial or state in (journal.JournalState.DENIED, journal.JournalState.EMPTY)
    readable = any(os.access(p, os.R_OK) for p in files)
    if options.become and unprivileged and not readable:
        reader = become.BecomeJournal(
            options.become, _user(), _journalctl(), getattr(reader, "extra_args", ())
        )
        state, partial = reader.state(), False
    if state == journal.JournalState.ENTRIES and not partial:
        since = cursor if "journal" in cursor or "time" in cursor else {}
        usec = None if options.window is None else int(options.not_before_epoch() * 1e6)
        return journal.read_journal(reader, since, options.max_events, usec, options.budget)
    path = next((p for p in files if os.path.exists(p)), None)
    if path is not None:
        since = cursor if cursor.get("file") == path else {}
        return authfile.read_auth_file(
            path, since, options.max_events, options.not_before(), options.budget
        )
    if partial:
        raise EventsError(
            "auth events: the journal shows this user only its own entries (%s)" % JOURNAL_ADVICE
        )
    if state == journal.JournalState.DENIED:
        raise EventsError("auth events: this user may not read the journal (%s)" % JOURNAL_ADVICE)
    if state == journal.JournalState.EMPTY:
        return journal.read_journal(reader, {}, options.max_events, None, options.budget)
    raise EventsError("auth events: no systemd journal and none of %s exists" % ", ".join(files))


def _user():
    """This account's name, for the rule a refusal asks for."""
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _journalctl():
    """The journalctl the fixed command names (one path, as sudoers wants it)."""
    for path in ("/usr/bin/journalctl", "/bin/journalctl"):
        if os.path.exists(path):
            return path
    return "journalctl"


def journal_readable(euid, group_names):
    """True when the journal shows this user the system's entries: root, or a member
    of ``systemd-journal``, ``adm`` or ``wheel`` (the groups journald grants read to)."""
    return euid == 0 or bool(JOURNAL_GROUPS & set(group_names))


def _group_names():
    """Names of the groups this process is in."""
    names = []
    for gid in set(os.getgroups()) | {os.getegid()}:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names


def session_identity(environ=None, pid=None, proc="/proc"):
    """``((client ip, client port) or None, ancestor pids)`` of this agent's SSH login.

    The address is the first two words of ``SSH_CONNECTION`` (what sshd logs as
    "from IP port PORT"); the pids are the agent's ancestors up to the first process
    whose parent is not an sshd (so the listening sshd, which logs for everyone, is not
    one of them).
    """
    return ssh_client(environ), _sshd_ancestors(os.getpid() if pid is None else pid, proc)


def _sshd_ancestors(pid, proc):
    """The sshd processes among ``pid``'s ancestors, the listener left out."""
    chain = []
    while pid > 1:
        name, parent = _stat(proc, pid)
        if name is None:
            break
        chain.append((pid, name))
        pid = parent
    sshd = [p for p, name in chain if name.startswith("sshd")]
    return frozenset(sshd[:-1]) if len(sshd) > 1 else frozenset(sshd)


def _stat(proc, pid):
    """``(command name, parent pid)`` from ``/proc/PID/stat``, or ``(None, 0)``."""
    try:
        with open("%s/%d/stat" % (proc, pid)) as handle:
            text = handle.read()
    except OSError:
        return None, 0
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, int(text[text.rindex(")") + 2 :].split()[1])
