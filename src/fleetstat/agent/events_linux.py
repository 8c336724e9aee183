"""Linux authentication events: what one line of an auth program means.

``parse_auth_message`` recognises what one program wrote (sshd logins, sudo commands,
su sessions, user and group changes); ``parse_auth_line`` does the same for one
syslog line; ``parse_journal_entry`` for one ``journalctl -o json`` line, where the
journal's trusted fields (``_EXE``, ``_COMM``, ``_UID``) tell a real program's line
from a forgery. The readers are ``journal`` (the systemd journal) and ``authfile``
(``/var/log/auth.log``, ``/var/log/secure``); ``read_auth_events`` picks one.

Standard library only; runs on Python 3.6+.
"""

import datetime
import hashlib
import json
import pwd
import re
import time

from .events_common import epoch_utc, iso_utc

SOURCE = "linux-auth"
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
# Who may write each program's lines: (executable names, root only); see ``forgery``.
_SSHD_NAMES = ("sshd", "sshd-session", "sshd-auth")
TRUSTED_PROGRAMS = {
    "sshd": (_SSHD_NAMES, True),
    "sshd-session": (_SSHD_NAMES, True),
    "sudo": (("sudo",), False),
    "su": (("su",), False),
    "passwd": (("passwd",), False),
    "gpasswd": (("gpasswd",), False),
}
SYSTEM_FOLDERS = frozenset(
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib/openssh", "/usr/libexec/openssh",
     "/usr/libexec", "/usr/local/sbin", "/usr/local/bin"]
)  # fmt: skip
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

SSHD_PROGRAMS = _SSHD = frozenset(["sshd", "sshd-session"])
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
     r"(?:\(uid=\d+\))? by (?P<user>[^\s(]*)(?:\(uid=(?P<by_uid>\d+)\))?"),
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

# What an account-management line is about, tried in order: (pattern, user group,
# group group). A line about a group alone ("removed group 'x' owned by 'y'", "new
# group: name=x") names no user: the group is its target.
_ACCOUNT_NAMES = (
    (re.compile(r"^(?:new|delete|change|remove[d]?) (?:shadow )?group:? .*?\bname=([^,\s]+)"),
     0, 1),
    (re.compile(r"^group added to \S+: name=([^,\s]+)"), 0, 1),
    (re.compile(r"^(?:removed|delete|change) (?:shadow )?group '([^']+)'(?: owned by '([^']+)')?"),
     2, 1),
    (re.compile(r"\bname=([^,\s]+)"), 1, 0),
    (re.compile(r"password changed for (\S+)"), 1, 0),
    (re.compile(r"^(?:delete|change|lock|unlock) user '([^']+)'"), 1, 0),
    (re.compile(r"^add '([^']+)' to (?:shadow )?group '([^']+)'"), 1, 2),
    (re.compile(r"^delete '([^']+)' from (?:shadow )?group '([^']+)'"), 1, 2),
    (re.compile(r"^user (\S+) (?:added|removed) by (?:\S+) (?:to|from) group (\S+)"), 1, 2),
    (re.compile(r"\buser '?([^'\s,]+)'?"), 1, 0),
    (re.compile(r"\bgroup '([^']+)'"), 0, 1),
)  # fmt: skip
_BY_UID = re.compile(r"^\(uid=(\d+)\)$")
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
    body = unescape_octal(body.strip())
    if program == "sudo":
        return _sudo(body)
    if program in _ACCOUNT_PROGRAMS:
        return _account(program, body)
    for programs, event, level, pattern in _RULES:
        match = pattern.match(body) if program in programs else None
        if match:
            return _meaning(event, level, match.groupdict())
    return None


_OCTAL_RUN = re.compile(r"(?:\\[0-3][0-7]{2})+")


def unescape_octal(text):
    """``text`` with sshd's octal escapes of non-ASCII bytes (``j\\303\\266rg``) turned
    back into the UTF-8 they stand for (``jörg``); a run of escapes that is not UTF-8
    stays escaped, as written."""
    if "\\" not in text:
        return text

    def decoded(match):
        octets = bytes(int(code, 8) for code in match.group(0).split("\\")[1:])
        try:
            return octets.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)

    return _OCTAL_RUN.sub(decoded, text)


def decode_line(raw):
    """A log line's bytes as text: UTF-8, with any byte that is not UTF-8 kept visible
    as an escape (``\\xe9``), never a replacement character."""
    return raw.decode("utf-8", "backslashreplace")


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

    The program a line claims is ``SYSLOG_IDENTIFIER`` (else ``_COMM``); the program that
    really wrote it is what journald recorded itself (``_EXE``, ``_COMM``, ``_UID``;
    see ``forgery``). A line that claims an auth program but came from another
    program or user is the event ``log.forged`` (level ``warning``; the real uid,
    command and executable in its fields), never the event it claims to be. The time
    is ``__REALTIME_TIMESTAMP`` (microseconds since the epoch), the record id
    ``journal_record_id(__CURSOR)``. Lines of other programs, or that say nothing,
    give ``None``.
    """
    entry = json.loads(line)
    program = _journal_text(entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM"))
    body = _journal_text(entry.get("MESSAGE"))
    meaning = parse_auth_message(program, body)
    if meaning is None:
        return None
    why = forgery(program, entry)
    if why is not None:
        meaning = _forged(program, meaning, entry, why)
    tail = {
        "host": _journal_text(entry.get("_HOSTNAME")),
        "prog": program,
        "pid": _journal_text(entry.get("_PID") or entry.get("SYSLOG_PID")) or None,
        "body": body,
    }
    stamp = epoch_utc(int(entry["__REALTIME_TIMESTAMP"]) / 1e6)
    return _record(meaning, tail, stamp, journal_record_id(entry["__CURSOR"]))


def forgery(program, entry):
    """Why a journal entry claiming ``program`` was not written by it, or ``None``.

    ``_EXE`` (the executable, which a process cannot change) must be the program's own
    file in a system folder; without it (the process ended before journald looked)
    ``_COMM`` must be its name. sshd, login and the account tools run as root, so their
    ``_UID`` must be 0; su, sudo and passwd are set-uid programs that any user runs.
    With neither ``_EXE`` nor ``_COMM`` only a root line is believed.
    """
    names, root_only = TRUSTED_PROGRAMS.get(program, ((program,), True))
    uid = _journal_text(entry.get("_UID"))
    exe = _journal_text(entry.get("_EXE"))
    comm = _journal_text(entry.get("_COMM"))
    if root_only and uid != "0":
        return "written by uid %s, not root" % (uid or "unknown")
    if exe:
        folder, _, name = exe.rpartition("/")
        if name not in names or folder not in SYSTEM_FOLDERS:
            return "written by %s" % exe
        return None
    if comm:
        return None if comm in names else "written by %s" % comm
    return None if uid == "0" else "written by uid %s with no command recorded" % uid


def _forged(program, claimed, entry, why):
    """The ``log.forged`` meaning of an entry that claimed to be ``claimed``."""
    uid = _journal_text(entry.get("_UID"))
    fields = {
        "claimed_program": program,
        "claimed_event": claimed["event_id"],
        "reason": why,
        "uid": uid,
        "comm": _journal_text(entry.get("_COMM")),
        "exe": _journal_text(entry.get("_EXE")),
    }
    unit = _journal_text(entry.get("_SYSTEMD_UNIT"))
    if unit:
        fields["unit"] = unit
    actor = _uid_name(uid)
    meaning = {"event_id": "log.forged", "level": "warning", "user": actor, "source_ip": None}
    meaning.update(fields=fields, actor=actor, target=None)
    return meaning


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
    user = fields.pop("user", None) or _uid_name(fields.get("by_uid"))
    source_ip = fields.pop("ip", None)
    if "invalid" in groups:
        fields["invalid_user"] = bool(fields.pop("invalid", None))
    method = re.sub(r"\W+", "_", fields.get("method", "")).strip("_")
    target = fields.pop("target_user", None)
    meaning = {"event_id": event.format(method=method), "level": level, "source_ip": source_ip}
    if target is None:  # a login: the account logged in to is the target
        meaning.update(user=user, fields=fields, actor=None, target=user)
        return meaning
    fields["target_user"] = target
    meaning.update(user=user or target, fields=fields, actor=user, target=target)
    return meaning


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
        return _meaning(event, "audit_failure", _sudo_roles(fields, match.group("user")))
    return _meaning("sudo.command", "audit_success", _sudo_roles(fields, match.group("user")))


def _sudo_roles(fields, user):
    """sudo's caller is the user and actor; the account it runs as (USER=) the target."""
    fields = dict(fields, user=user)
    if "run_as" in fields:
        fields["target_user"] = fields["run_as"]
    return fields


def _account(program, body):
    """An account or group change: the account is the user and target; a group alone is
    the target (``group`` in the fields), never the user."""
    user = group = None
    for pattern, user_at, group_at in _ACCOUNT_NAMES:
        match = pattern.search(body)
        if match:
            user = match.group(user_at) if user_at else None
            group = match.group(group_at) if group_at else None
            break
    level = "audit_failure" if re.search(r"fail", body, re.IGNORECASE) else "information"
    fields = {"group": group} if group else {}
    meaning = {"event_id": program, "level": level, "user": user, "source_ip": None}
    meaning.update(fields=fields, actor=None, target=user or group)
    return meaning


def _uid_name(uid):
    """The account name of a numeric uid (text), the uid itself when unknown, or None."""
    if uid is None or uid == "":
        return None
    try:
        return pwd.getpwuid(int(uid)).pw_name
    except (KeyError, ValueError):
        return "uid " + str(uid)


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
        "actor": meaning.get("actor"),
        "target": meaning.get("target"),
        "source_ip": meaning["source_ip"],
        "message": unescape_octal(tail["body"].strip()),
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
        return decode_line(bytes(value))
    return value if isinstance(value, str) else ("" if value is None else str(value))
