"""Linux authentication events, from the systemd journal or the syslog auth file.

``parse_auth_message`` recognises what one program wrote (sshd logins, sudo commands,
su sessions, user and group changes); ``parse_auth_line`` does the same for one
syslog line; ``parse_journal_entry`` for one ``journalctl -o json`` line. The readers
around them take their paths and command runners as parameters.

Standard library only; runs on Python 3.6+.
"""

import datetime
import grp
import hashlib
import json
import os
import re
import subprocess
import time
import zlib

from .events_common import EventsError, empty_events, epoch_utc, iso_utc

SOURCE = "linux-auth"
AUTH_FILES = ("/var/log/auth.log", "/var/log/secure")
JOURNAL_GROUPS = frozenset(["systemd-journal", "adm", "wheel"])
PROGRAMS = (
    "sshd",
    "sshd-session",
    "sudo",
    "su",
    "useradd",
    "groupadd",
    "usermod",
    "userdel",
    "groupdel",
    "passwd",
    "chpasswd",
    "gpasswd",
    "login",
)
_ACCOUNT_PROGRAMS = frozenset(
    ["useradd", "groupadd", "usermod", "userdel", "groupdel", "passwd", "chpasswd", "gpasswd"]
)
_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_DAY = 86400.0

# "Nov 27 12:00:00 host prog[123]: body" and "2026-11-27T12:00:00.123+01:00 host prog: body"
_CLASSIC = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d) (?P<rest>.*)$"
)
_RFC3339 = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (?P<rest>.*)$"
)
_TAIL = re.compile(r"^(?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<body>.*)$")

_SSHD = frozenset(["sshd", "sshd-session"])
_SU = frozenset(["su"])
_LOGIN = frozenset(["login"])
_FROM_PORT = r" from (?P<ip>\S+) port (?P<port>\d+)"
_PAM_SU = r"^pam_unix\(su(?:-l)?:"

# (programs, event id, level, pattern); "{method}" in the id is the login method.
_RULES = (
    (_SSHD, "sshd.accepted_{method}", "audit_success",
     r"^Accepted (?P<method>\S+) for (?P<user>.*?)" + _FROM_PORT),
    (_SSHD, "sshd.failed_{method}", "audit_failure",
     r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?)" + _FROM_PORT),
    (_SSHD, "sshd.invalid_user", "audit_failure",
     r"^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?\s*$"),
    (_SSHD, "sshd.user_not_allowed", "audit_failure",
     r"^User (?P<user>\S+) from (?P<ip>\S+) not allowed because (?P<reason>.*)$"),
    (_SSHD, "sshd.max_auth_attempts", "audit_failure",
     r"^error: maximum authentication attempts exceeded for "
     r"(?P<invalid>invalid user )?(?P<user>.*?)" + _FROM_PORT),
    (_SU, "su.session_opened", "audit_success",
     _PAM_SU + r"session\): session opened for user (?P<target_user>[^\s(]+)"
     r"(?:\(uid=\d+\))? by (?P<user>[^\s(]*)"),
    (_SU, "su.session_closed", "information",
     _PAM_SU + r"session\): session closed for user (?P<target_user>[^\s(]+)"),
    (_SU, "su.auth_failure", "audit_failure",
     _PAM_SU + r"auth\): authentication failure;.*?\bruser=(?P<user>\S*)"
     r".*?\buser=(?P<target_user>\S+)"),
    (_SU, "su.failed", "audit_failure",
     r"^FAILED SU \(to (?P<target_user>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"),
    (_SU, "su.switch_user", "audit_success",
     r"^\(to (?P<target_user>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"),
    (_LOGIN, "login.failed", "audit_failure",
     r"^FAILED LOGIN \(\d+\) (?:on|ON) '(?P<tty>[^']*)'(?: FROM '(?P<ip>[^']*)')?"
     r" FOR '(?P<user>[^']*)', (?P<reason>.*)$"),
    (_LOGIN, "login.root", "audit_success",
     r"^ROOT LOGIN +(?:on|ON) '(?P<tty>[^']*)'"),
    (_LOGIN, "login.session_opened", "audit_success",
     r"^pam_unix\(login:session\): session opened for user (?P<user>[^\s(]+)"),
)  # fmt: skip
_RULES = tuple(
    (programs, event, level, re.compile(text)) for programs, event, level, text in _RULES
)

# Who an account-management line is about, tried in order.
_ACCOUNT_NAMES = (
    re.compile(r"\bname=([^,\s]+)"),
    re.compile(r"password changed for (\S+)"),
    re.compile(r"^(?:delete|change|lock|unlock) user '([^']+)'"),
    re.compile(r"^add '([^']+)' to "),
    re.compile(r"^user (\S+) (?:added|removed) by"),
    re.compile(r"\buser '?([^'\s,]+)'?"),
    re.compile(r"\bgroup '([^']+)'"),
)
# sudo's USER= is the account the command runs as; "user" is who ran sudo.
_SUDO_FIELDS = {"USER": "run_as", "TTY": "tty", "PWD": "pwd"}
_SUDO = re.compile(r"^\s*(?P<user>\S+) : (?P<rest>.*)$")


def parse_auth_message(program, body):
    """What one auth program's message means, or ``None`` for lines that say nothing.

    ``program`` is the syslog identifier (``sshd``, ``sudo``, ...), ``body`` the text
    after ``prog[pid]: ``. Returns ``{"event_id", "level", "user", "source_ip",
    "fields"}``: ``event_id`` is a stable name (``sshd.failed_password``,
    ``sudo.command``, ``su.session_opened``, ...; account changes are named after the
    program: ``useradd``, ``usermod``, ...), ``level`` is ``audit_failure`` for
    failures, ``audit_success`` for successes and ``information`` for changes.
    """
    body = body.strip()
    if program == "sudo":
        return _sudo(body)
    if program in _ACCOUNT_PROGRAMS:
        return _account(program, body)
    for programs, event, level, pattern in _RULES:
        match = pattern.match(body) if program in programs else None
        if match:
            return _meaning(event, level, match.groupdict())
    return None


def parse_auth_line(line, year, tz=None, not_after=None, record_id=None):
    """The protocol's record for one syslog line of an auth program, or ``None``.

    Accepts the classic form (``Nov 27 12:00:00 host sshd[123]: ...``) and RFC 3339
    (``2026-11-27T12:00:00.123456+01:00 host sshd[123]: ...``, rsyslog's high precision
    format, read as written). Classic stamps carry neither year nor zone: ``year`` is
    the year to assume (the auth file's modification year), ``tz`` the zone (a
    ``tzinfo``; ``None`` for the host's local time); a stamp that would fall more than
    a day after ``not_after`` (epoch seconds, the file's mtime) is taken from the
    year before, for December lines in a file written in January.
    """
    prefix = _CLASSIC.match(line) or _RFC3339.match(line)
    tail = _TAIL.match(prefix.group("rest")) if prefix else None
    if not tail:
        return None
    meaning = parse_auth_message(tail.group("prog"), tail.group("body"))
    if meaning is None:
        return None
    if "stamp" in prefix.groupdict():
        stamp = iso_utc(prefix.group("stamp"))
    else:
        stamp = _classic_time(prefix.groupdict(), year, tz, not_after)
    return _record(meaning, tail.groupdict(), stamp, record_id)


def parse_journal_entry(line):
    """The protocol's record for one line of ``journalctl -o json``, or ``None``.

    The program is ``SYSLOG_IDENTIFIER`` (else ``_COMM``), the time
    ``__REALTIME_TIMESTAMP`` (microseconds since the epoch), the record id
    ``journal_record_id(__CURSOR)``. Lines of other programs, or that say nothing,
    give ``None``.
    """
    entry = json.loads(line)
    program = _journal_text(entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM"))
    meaning = parse_auth_message(program, _journal_text(entry.get("MESSAGE")))
    if meaning is None:
        return None
    tail = {
        "host": _journal_text(entry.get("_HOSTNAME")),
        "prog": program,
        "pid": _journal_text(entry.get("_PID") or entry.get("SYSLOG_PID")) or None,
        "body": _journal_text(entry.get("MESSAGE")),
    }
    stamp = epoch_utc(int(entry["__REALTIME_TIMESTAMP"]) / 1e6)
    return _record(meaning, tail, stamp, journal_record_id(entry["__CURSOR"]))


def journal_record_id(cursor):
    """A short id that names one journal entry for good: ``s=<seqnum id>;i=<seqnum>``.

    Taken from the cursor's ``s`` and ``i`` parts (a journal file's sequence id and
    the entry's number); a cursor without them gives 16 hex digits of its SHA-256.
    """
    parts = dict(item.split("=", 1) for item in cursor.split(";") if "=" in item)
    if parts.get("s") and parts.get("i"):
        return "s=%s;i=%s" % (parts["s"], parts["i"])
    return hashlib.sha256(cursor.encode("utf-8")).hexdigest()[:16]


def _meaning(event, level, groups):
    """The parsed meaning: event id, level, user, source IP and the other fields."""
    fields = {key: value for key, value in groups.items() if value is not None}
    user = fields.pop("user", None)
    source_ip = fields.pop("ip", None)
    if "invalid" in groups:
        fields["invalid_user"] = bool(fields.pop("invalid", None))
    method = re.sub(r"\W+", "_", fields.get("method", "")).strip("_")
    return {
        "event_id": event.format(method=method),
        "level": level,
        "user": user,
        "source_ip": source_ip,
        "fields": fields,
    }


def _sudo(body):
    """``alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls``, and its refusals."""
    match = _SUDO.match(body)
    if not match or "COMMAND=" not in match.group("rest"):
        return None
    head, command = match.group("rest").split("COMMAND=", 1)
    fields = {"command": command.strip()}
    reasons = []
    for item in head.split(" ; "):
        name, equals, value = item.strip().partition("=")
        if equals:
            fields[_SUDO_FIELDS.get(name, name.lower())] = value
        elif name:
            reasons.append(name)
    if reasons:
        fields["reason"] = "; ".join(reasons)
        failed = "incorrect password" in fields["reason"]
        event = "sudo.auth_failure" if failed else "sudo.refused"
        return _meaning(event, "audit_failure", dict(fields, user=match.group("user")))
    return _meaning("sudo.command", "audit_success", dict(fields, user=match.group("user")))


def _account(program, body):
    """An account or group change; the user is the account or group it names."""
    user = None
    for pattern in _ACCOUNT_NAMES:
        match = pattern.search(body)
        if match:
            user = match.group(1)
            break
    level = "audit_failure" if re.search(r"fail", body, re.IGNORECASE) else "information"
    return {"event_id": program, "level": level, "user": user, "source_ip": None, "fields": {}}


def _record(meaning, tail, stamp, record_id):
    """The protocol's record from the parsed meaning and the line's prefix."""
    fields = dict(meaning["fields"], program=tail["prog"])
    if tail.get("host"):
        fields["host"] = tail["host"]
    if tail.get("pid"):
        fields["pid"] = tail["pid"]
    return {
        "source": SOURCE,
        "record_id": record_id,
        "event_id": meaning["event_id"],
        "time": stamp,
        "level": meaning["level"],
        "user": meaning["user"],
        "source_ip": meaning["source_ip"],
        "message": tail["body"].strip(),
        "fields": fields,
    }


def _classic_time(parts, year, tz, not_after):
    """UTC ISO time of a classic syslog stamp (no year, local time); see parse_auth_line."""
    epoch = _classic_epoch(parts, year, tz)
    if not_after is not None and epoch > not_after + _DAY:
        epoch = _classic_epoch(parts, year - 1, tz)
    return epoch_utc(epoch)


def _classic_epoch(parts, year, tz):
    hour, minute, second = (int(n) for n in parts["hms"].split(":"))
    month, day = _MONTHS[parts["mon"]], int(parts["day"])
    if tz is None:
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
    stamp = datetime.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    return (stamp - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()


def _journal_text(value):
    """A journal field as text: JSON gives a list of byte values for non-UTF-8 data."""
    if isinstance(value, list):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else ("" if value is None else str(value))


# ---------------------------------------------------------------- the readers


def read_auth_events(since, max_events, journal=None, files=AUTH_FILES):
    """The protocol's events object for ``linux-auth``, oldest record first.

    Reads the journal when ``journal`` (a ``Journal``; the system's by default) works,
    else the first of ``files`` that exists. ``since`` is the request's
    ``events.since``; a cursor of the other kind (the host moved between journal and
    file) counts as a first run.
    """
    journal = journal or Journal()
    cursor = (since or {}).get(SOURCE) or {}
    if journal.works():
        if not journal_readable(os.geteuid(), _group_names()):
            raise EventsError(
                "auth events: the journal shows this user only its own entries "
                "(add the user to the systemd-journal or adm group)"
            )
        return read_journal(journal, cursor.get("journal"), max_events)
    for path in files:
        if os.path.exists(path):
            return read_auth_file(path, cursor if cursor.get("file") == path else {}, max_events)
    raise EventsError("auth events: no systemd journal and none of %s exists" % ", ".join(files))


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


def read_journal(journal, after, max_events):
    """Events from the journal: the newest ``max_events`` records, or those after ``after``.

    ``after`` is the journal cursor of the last entry read last time (``None`` on a
    first run). Returns the events object with cursor ``{"linux-auth": {"journal": C}}``.
    """
    records, position, truncated = [], after, False
    for line in journal.lines(after):
        entry_cursor = json.loads(line).get("__CURSOR")
        record = parse_journal_entry(line)
        if record is not None and len(records) == max_events:
            truncated = True
            break
        if record is not None:
            records.append(record)
        if after is not None or position is None:
            position = entry_cursor
    if after is None:
        records.reverse()
    result = empty_events()
    result.update(records=records, truncated=truncated)
    result["cursor"] = {SOURCE: {"journal": position}} if position else {}
    return result


class Journal(object):
    """The system journal through ``journalctl``; ``command`` may name another binary."""

    def __init__(self, command="journalctl", extra_args=()):
        self.command = command
        self.extra_args = list(extra_args)

    def works(self):
        """True when ``journalctl`` runs and the journal holds at least one entry."""
        lines = None
        try:
            lines = self._stream(["-n", "1"])
            return next(lines, None) is not None
        except (OSError, EventsError):
            return False
        finally:
            if lines is not None:
                lines.close()

    def lines(self, after):
        """JSON lines of the auth programs: newest first, or oldest first after a cursor."""
        matches = ["SYSLOG_IDENTIFIER=" + name for name in PROGRAMS] + ["+"]
        matches += ["_COMM=" + name[:15] for name in PROGRAMS]
        order = ["--reverse"] if after is None else ["--after-cursor=" + after]
        return self._stream(order + matches)

    def _stream(self, args):
        command = [self.command, "-o", "json", "--no-pager", "-q"] + self.extra_args + args
        return stream_lines(command)


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


def read_auth_file(path, cursor, max_events):
    """Events from a syslog auth file (``/var/log/auth.log``, ``/var/log/secure``).

    ``cursor`` is ``{"file": path, "inode": n, "offset": n}`` from the last run, or
    ``{}`` on a first run, which returns the newest ``max_events`` records. When the
    inode changed (the file was rotated) or the file is shorter than the offset (it
    was truncated), reading starts over at the beginning and ``resets`` names the
    source. Record ids are ``file_record_id`` of each line. Classic stamps take the
    year of the file's modification time (see ``parse_auth_line``).
    """
    try:
        with open(path, "rb") as handle:
            return _read_auth_handle(handle, path, cursor, max_events)
    except PermissionError as err:
        message = "auth events: cannot read %s (add the user to the adm group)" % path
        raise EventsError(message) from err


def _read_auth_handle(handle, path, cursor, max_events):
    """``read_auth_file`` on an open file."""
    info = os.fstat(handle.fileno())
    resets = []
    start = 0
    if cursor:
        if cursor.get("inode") == info.st_ino and cursor.get("offset", 0) <= info.st_size:
            start = cursor.get("offset", 0)
        else:
            resets.append(SOURCE)
    handle.seek(start)
    lines = _complete_lines(handle, start)
    records, end, truncated = _scan(lines, start, info, max_events, not cursor)
    result = empty_events()
    result.update(records=records, truncated=truncated, resets=resets)
    result["cursor"] = {SOURCE: {"file": path, "inode": info.st_ino, "offset": end}}
    return result


def file_record_id(inode, offset, raw):
    """``<inode>:<byte offset>:<CRC-32 of the line, 8 hex digits>`` for one auth-file line.

    ``raw`` is the line's bytes as read, newline included. The checksum keeps ids
    apart when a position is used again: logrotate's ``copytruncate`` keeps the inode
    and starts the offsets over, and a deleted file's inode can be given to a new one.
    """
    return "%d:%d:%08x" % (inode, offset, zlib.crc32(raw) & 0xFFFFFFFF)


def _complete_lines(handle, offset):
    """``(offset, next_offset, raw)`` for every whole line from ``offset`` (``raw`` the
    bytes, newline included); a partial last line, still being written, is left for
    the next run."""
    for raw in handle:
        if not raw.endswith(b"\n"):
            return
        yield offset, offset + len(raw), raw
        offset += len(raw)


def _scan(lines, start, info, max_events, keep_newest):
    """Records of ``lines``, the offset where reading stopped, and whether it was cut.

    Keeps the newest ``max_events`` when ``keep_newest`` (a first run reads it all),
    else stops after the oldest ``max_events`` (the next run resumes there).
    """
    year = time.localtime(info.st_mtime).tm_year
    records, end, truncated = [], start, False
    for offset, next_offset, raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        record_id = file_record_id(info.st_ino, offset, raw)
        record = parse_auth_line(line, year, not_after=info.st_mtime, record_id=record_id)
        if record is not None and len(records) == max_events and not keep_newest:
            return records, offset, True
        if record is not None:
            records.append(record)
        if keep_newest and len(records) > max_events:
            records.pop(0)
            truncated = True
        end = next_offset
    return records, end, truncated
