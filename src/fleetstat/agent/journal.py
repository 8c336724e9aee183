"""Reading the systemd journal through ``journalctl -o json``.

The cursor is ``{"journal": C, "time": T}``: ``C`` is the journal cursor of the
newest auth entry returned, ``T`` its ``__REALTIME_TIMESTAMP`` (microseconds). A
cursor the journal no longer knows (its file was vacuumed, or it is corrupt) does not
stall the host: reading starts again at ``T``, or at the first-run time window.

Standard library only; runs on Python 3.6+.
"""

import enum
import json
import os
import subprocess

from .authfile import Budget
from .events_common import EventsError, empty_events
from .events_linux import PROGRAMS, SOURCE, parse_journal_entry

JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")


class JournalState(str, enum.Enum):
    """What ``Journal.state`` found (``str`` and ``Enum``: Python 3.6 has no StrEnum)."""

    MISSING = "missing"  # no journalctl, or no journal files at all
    EMPTY = "empty"  # journal files this user may open, holding no entry
    DENIED = "denied"  # journal files this user may not open
    ENTRIES = "entries"  # entries this user can see


class Journal(object):
    """The system journal through ``journalctl``; ``command`` may name another binary,
    ``extra_args`` select another journal (``--directory=...``, ``--namespace=...``)."""

    def __init__(self, command="journalctl", extra_args=(), dirs=JOURNAL_DIRS):
        self.command = command
        self.extra_args = list(extra_args)
        self.dirs = dirs

    def state(self):
        """One of ``JournalState``'s values, telling an empty journal from a denied one."""
        command = [self.command, "-o", "json", "--no-pager", "-n", "1"] + self.extra_args
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError:
            return JournalState.MISSING
        out, err = proc.communicate()
        if b"insufficient permissions" in err:
            return JournalState.DENIED
        if proc.returncode == 0 and out.strip():
            return JournalState.ENTRIES
        if self.extra_args or _journal_files(self.dirs):
            return JournalState.EMPTY
        return JournalState.MISSING

    def newest(self, since_usec=None):
        """JSON lines of the auth programs, newest first, from ``since_usec`` on."""
        since = [] if since_usec is None else ["--since=@%.6f" % (since_usec / 1e6)]
        return self._stream(["--reverse"] + since + _matches())

    def oldest(self, since_usec):
        """JSON lines of the auth programs, oldest first, from ``since_usec`` on."""
        return self._stream(["--since=@%.6f" % (since_usec / 1e6)] + _matches())

    def at(self, cursor):
        """JSON lines of the auth programs, oldest first, from the entry ``cursor`` on."""
        return self._stream(["--cursor=" + cursor] + _matches())

    def _stream(self, args):
        command = [self.command, "-o", "json", "--no-pager", "-q"] + self.extra_args + args
        return stream_lines(command)


def _matches():
    """journalctl matches for the auth programs, by the name they claim or their command."""
    matches = ["SYSLOG_IDENTIFIER=" + name for name in PROGRAMS] + ["+"]
    return matches + ["_COMM=" + name[:15] for name in PROGRAMS]


def _journal_files(dirs):
    """Whether any ``*.journal`` file lies under ``dirs``."""
    for top in dirs:
        for _, _, names in os.walk(top):
            if any(name.endswith(".journal") for name in names):
                return True
    return False


def stream_lines(command):
    """Lines ``command`` prints, read as they come; stopping early ends the process.

    Raises ``EventsError`` with the command's message when it exits non-zero.
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finished = False
    try:
        for raw in proc.stdout:
            yield raw.decode("utf-8", "replace")
        finished = True
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        error = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise EventsError("auth events: %s failed: %s" % (command[0], error or "exit %d" % code))


def read_journal(journal, cursor, max_events, not_before_usec=None, budget=None):
    """Events from the journal, oldest first, and the cursor for the next run.

    ``cursor`` is what this function returned last time (``{}`` on a first run). A
    first run returns the newest ``max_events`` records from ``not_before_usec``
    (microseconds since the epoch; ``None``: no time bound). Later runs return the
    records after the cursor, at most ``max_events`` and for at most ``budget``
    seconds (``truncated`` then says more are waiting). A cursor the journal cannot
    find makes the run read again from the cursor's time and name the source in
    ``resets``, with the reason in ``gaps``.
    """
    limit = Budget(max_events, budget)
    if not cursor:
        return _newest(journal, limit, not_before_usec)
    try:
        return _after(journal, cursor.get("journal"), limit)
    except (EventsError, _Unknown) as err:
        return _again(journal, cursor, limit, not_before_usec, str(err))


class _Unknown(Exception):
    """The journal does not hold the cursor's entry."""


def _newest(journal, limit, not_before_usec):
    records, newest, truncated = [], None, False
    for count, line in enumerate(journal.newest(not_before_usec)):
        entry = json.loads(line)
        newest = newest or entry
        record = parse_journal_entry(line)
        if limit.stop(len(records), record, count):
            truncated = True
            break
        if record is not None:
            records.append(record)
    records.reverse()
    return _events(records, newest, truncated, {})


def _after(journal, after, limit):
    """Records after the entry ``after``; raises ``_Unknown`` when it is not there."""
    if not after:
        raise _Unknown("the last run left no journal cursor")
    lines = journal.at(after)
    first = next(lines, None)
    if first is None or json.loads(first).get("__CURSOR") != after:
        lines.close()
        raise _Unknown("the journal holds no entry at the cursor of the last run")
    return _forward(lines, limit, None, json.loads(first))


def _forward(lines, limit, skip, start):
    """Records of ``lines`` (oldest first) within ``limit``; the entry ``skip`` (a
    cursor) is left out; ``start`` is the entry the cursor stays at when none follows."""
    records, last, truncated = [], start, False
    for count, line in enumerate(lines):
        entry = json.loads(line)
        if entry.get("__CURSOR") == skip:
            continue
        record = parse_journal_entry(line)
        if limit.stop(len(records), record, count):
            truncated = True
            lines.close()
            break
        if record is not None:
            records.append(record)
        last = entry
    return _events(records, last, truncated, {})


def _again(journal, cursor, limit, not_before_usec, why):
    """Read again from the cursor's time (or the first-run window) after a lost cursor."""
    stamp = cursor.get("time")
    gap = {"source": SOURCE, "file": "journal", "bytes": None, "reason": why}
    if stamp is None:
        result = _newest(journal, limit, not_before_usec)
    else:
        result = _forward(journal.oldest(int(stamp)), limit, cursor.get("journal"), None)
        result["cursor"] = result["cursor"] or {SOURCE: {"time": int(stamp)}}
    result["resets"] = [SOURCE]
    result["gaps"] = [dict(gap, reason=gap["reason"] + "; read again from its time")]
    return result


def _cursor_of(entry):
    """The cursor naming ``entry`` (a parsed journal line)."""
    return {"journal": entry["__CURSOR"], "time": int(entry["__REALTIME_TIMESTAMP"])}


def _events(records, newest, truncated, cursor):
    result = empty_events()
    result.update(records=records, truncated=truncated)
    if newest is not None:
        cursor = _cursor_of(newest)
    result["cursor"] = {SOURCE: cursor} if cursor.get("journal") else {}
    return result
