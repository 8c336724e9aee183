"""The Windows Security event log, read with ``wevtutil`` and normalised to records.

``wevtutil qe Security /f:xml`` prints one ``<Event>`` element per record, one after
another with no enclosing root. ``parse_wevtutil_xml`` turns that text into records;
``read_security_log`` picks what to ask ``wevtutil`` for from the cursor.

Standard library only; runs on Python 3.6+.
"""

import re
import subprocess
import xml.etree.ElementTree as ET

from .events_common import EventsError, empty_events, iso_utc

SOURCE = "windows-security"
_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"

# Reserved keyword bits of the Windows event schema (winmeta.xml).
_KEYWORD_AUDIT_FAILURE = 0x0010000000000000
_KEYWORD_AUDIT_SUCCESS = 0x0020000000000000
# Event levels 1-4 of winmeta.xml; 0 (log always) and 5 (verbose) read as information.
_LEVELS = {"1": "critical", "2": "error", "3": "warning", "4": "information"}

# ERROR_ACCESS_DENIED: wevtutil exits with the Win32 error code of what failed.
_ACCESS_DENIED = 5

_TITLES = {
    "1100": "Event logging service shut down",
    "1102": "Audit log cleared",
    "4608": "Windows starting up",
    "4616": "System time changed",
    "4624": "Logon",
    "4625": "Failed logon",
    "4634": "Logoff",
    "4647": "User-initiated logoff",
    "4648": "Logon with explicit credentials",
    "4672": "Special privileges assigned to new logon",
    "4688": "Process created",
    "4697": "Service installed",
    "4698": "Scheduled task created",
    "4719": "Audit policy changed",
    "4720": "User account created",
    "4722": "User account enabled",
    "4723": "Password change attempted",
    "4724": "Password reset attempted",
    "4725": "User account disabled",
    "4726": "User account deleted",
    "4728": "Member added to global group",
    "4729": "Member removed from global group",
    "4732": "Member added to local group",
    "4733": "Member removed from local group",
    "4738": "User account changed",
    "4740": "User account locked out",
    "4756": "Member added to universal group",
    "4757": "Member removed from universal group",
    "4767": "User account unlocked",
    "4768": "Kerberos ticket (TGT) requested",
    "4769": "Kerberos service ticket requested",
    "4771": "Kerberos pre-authentication failed",
    "4776": "Credential validation (NTLM)",
    "4778": "Session reconnected",
    "4779": "Session disconnected",
    "5140": "Network share accessed",
    "5145": "Network share object checked",
    "5156": "Connection permitted by Windows Filtering Platform",
    "5157": "Connection blocked by Windows Filtering Platform",
    "5158": "Bind permitted by Windows Filtering Platform",
}

# Group membership events: TargetUserName names the group, not an account.
_GROUP_EVENTS = frozenset(["4728", "4729", "4732", "4733", "4756", "4757"])

# EventData fields worth a word in the one-line message, in the order shown.
_DETAILS = (
    ("LogonType", "logon type"),
    ("TargetUserName", "group"),
    ("MemberName", "member"),
    ("MemberSid", "member SID"),
    ("NewProcessName", "process"),
    ("ProcessName", "process"),
    ("Application", "application"),
    ("SourceAddress", "from"),
    ("DestAddress", "to"),
    ("DestPort", "port"),
    ("ShareName", "share"),
    ("Workstation", "workstation"),
    ("Status", "status"),
)


def parse_wevtutil_xml(text):
    """Records of the ``<Event>`` elements in ``text``, in the order given.

    ``text`` is what ``wevtutil qe ... /f:xml`` prints (elements with no enclosing
    root, single-quoted attributes) or the same elements as python-evtx writes them.
    Each record is the protocol's dict: ``source`` (``windows-security``),
    ``record_id`` (``event_record_id``), ``event_id`` (``"4624"``),
    ``time`` (ISO 8601 UTC with ``Z``), ``level``, ``user``, ``source_ip``,
    ``message`` (one line) and ``fields`` (the EventData or UserData name/value pairs).
    """
    body = re.sub(r"<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring("<Events>" + body + "</Events>")
    except ET.ParseError as err:
        raise EventsError(
            "Security log: wevtutil printed XML that does not parse: %s" % err
        ) from err
    return [event_record(event) for event in root.iter(_NS + "Event")]


def event_record(event):
    """The protocol's record for one parsed ``<Event>`` element."""
    system = event.find(_NS + "System")
    event_id = _text(system, "EventID")
    fields = event_fields(event)
    user = event_user(event_id, fields)
    source_ip = _source_ip(fields)
    stamp = iso_utc(_attribute(system, "TimeCreated", "SystemTime"))
    return {
        "source": SOURCE,
        "record_id": event_record_id(_text(system, "EventRecordID"), stamp),
        "event_id": event_id,
        "time": stamp,
        "level": event_level(_text(system, "Keywords"), _text(system, "Level")),
        "user": user,
        "source_ip": source_ip,
        "message": event_message(event_id, fields, user, source_ip),
        "fields": fields,
    }


def event_record_id(number, stamp):
    """``<EventRecordID>@<time>``, as in ``137222@2020-09-09T13:18:23.627951Z``.

    ``number`` is the EventRecordID as a string, ``stamp`` the record's time
    (``iso_utc`` of TimeCreated's SystemTime, so both XML forms give the same id).
    Clearing the log starts the numbers over; the time keeps the new records' ids
    apart from those read before.
    """
    return "%s@%s" % (number, stamp)


def record_number(record):
    """The EventRecordID (an int) of a record made by ``event_record``."""
    return int(record["record_id"].split("@", 1)[0])


def event_fields(event):
    """Name/value pairs of ``<EventData>`` (``<Data Name=...>``) or of ``<UserData>``.

    Unnamed ``<Data>`` elements (classic events) are called ``Data1``, ``Data2``, ...;
    ``<UserData>`` holds one element whose children are the pairs (event 1102).
    Values are stripped strings (empty for an empty element).
    """
    fields = {}
    data = event.find(_NS + "EventData")
    if data is not None:
        for index, item in enumerate(data.findall(_NS + "Data"), 1):
            fields[item.get("Name") or "Data%d" % index] = (item.text or "").strip()
        return fields
    user_data = event.find(_NS + "UserData")
    for payload in user_data if user_data is not None else ():
        for item in payload:
            fields[_local_name(item.tag)] = (item.text or "").strip()
    return fields


def event_level(keywords, level):
    """``audit_success``/``audit_failure`` from the keywords, else the level's name.

    ``keywords`` is the ``<Keywords>`` hex string (the audit bits are 0x0020... for
    success and 0x0010... for failure, as in ``0x8020000000000000``); ``level`` the
    ``<Level>`` number as a string.
    """
    try:
        bits = int(keywords or "0", 16)
    except ValueError:
        bits = 0
    if bits & _KEYWORD_AUDIT_FAILURE:
        return "audit_failure"
    if bits & _KEYWORD_AUDIT_SUCCESS:
        return "audit_success"
    return _LEVELS.get((level or "").strip(), "information")


def event_user(event_id, fields):
    """``DOMAIN\\name`` (or ``name`` with no domain) of the account the event is about.

    TargetUserName (with TargetDomainName) when present, else SubjectUserName (with
    SubjectDomainName); for group membership changes, whose TargetUserName is the
    group, the subject who made the change. ``None`` when neither is given.
    """
    prefixes = ("Subject",) if event_id in _GROUP_EVENTS else ("Target", "Subject")
    for prefix in prefixes:
        name = _value(fields, prefix + "UserName")
        if name:
            domain = _value(fields, prefix + "DomainName")
            return domain + "\\" + name if domain else name
    return None


def event_message(event_id, fields, user, source_ip):
    """One line: the event's title, its account and address, then the telling fields."""
    parts = [_TITLES.get(event_id, "Event %s" % event_id)]
    if user:
        parts.append("user " + user)
    if source_ip:
        parts.append("from " + source_ip)
    for name, label in _DETAILS:
        value = _value(fields, name)
        if value and not (name == "TargetUserName" and event_id not in _GROUP_EVENTS):
            parts.append("%s %s" % (label, value))
    return "; ".join(parts)


def read_security_log(since, max_events, run=None):
    """The protocol's events object for the Security log, oldest record first.

    ``since`` is the request's ``events.since``; its ``windows-security`` entry is
    ``{"record_id": N}``, the newest record returned last time. A first run returns
    the newest ``max_events`` records; later runs the records after ``N``, oldest
    first, at most ``max_events`` (``truncated`` says more are waiting). When the
    newest record in the log is older than ``N`` the log was cleared: the run starts
    over and ``resets`` names the source. ``run(args) -> (exit_code, stdout_bytes,
    stderr_bytes)`` runs a command (``run_command`` by default).
    """
    run = run or run_command
    last = ((since or {}).get(SOURCE) or {}).get("record_id")
    resets = []
    if last is not None:
        newest = _newest(run, 1)
        newest_id = record_number(newest[-1]) if newest else -1
        if newest_id >= int(last):
            records = _after(run, int(last), max_events) if newest_id > int(last) else []
            return _events(records[:max_events], len(records) > max_events, int(last), resets)
        resets.append(SOURCE)
    records = _newest(run, max_events + 1)
    kept = records[max(len(records) - max_events, 0) :]
    return _events(kept, len(records) > max_events, 0, resets)


def _events(records, truncated, position, resets):
    """The events object; the cursor is the last record's id, else ``position``."""
    if records:
        position = record_number(records[-1])
    result = empty_events()
    result.update(records=records, truncated=truncated, resets=resets)
    result["cursor"] = {SOURCE: {"record_id": position}}
    return result


def wevtutil_args(count, after=None):
    """``wevtutil`` arguments for ``count`` records: the newest, or those after a record id.

    With ``after`` the XPath query ``*[System[EventRecordID>after]]`` reads oldest
    first; without it ``/rd:true`` reads newest first.
    """
    args = ["wevtutil", "qe", "Security", "/f:xml", "/c:%d" % count]
    if after is None:
        return args + ["/rd:true"]
    return args + ["/q:*[System[EventRecordID>%d]]" % after]


def _newest(run, count):
    """The newest ``count`` records, oldest first."""
    records = parse_wevtutil_xml(_wevtutil(run, wevtutil_args(count)))
    records.reverse()
    return records


def _after(run, record_id, count):
    """Up to ``count + 1`` records after ``record_id``, oldest first."""
    return parse_wevtutil_xml(_wevtutil(run, wevtutil_args(count + 1, after=record_id)))


def _wevtutil(run, args):
    """What ``wevtutil`` printed, as text; raises ``EventsError`` saying what went wrong."""
    try:
        code, out, err = run(args)
    except OSError as exc:
        raise EventsError("Security log: cannot run wevtutil: %s" % exc) from exc
    message = decode_output(err).strip()
    if code == _ACCESS_DENIED or "access is denied" in message.lower():
        raise EventsError("Security log: access denied (add the user to Event Log Readers)")
    if code != 0:
        first = message.splitlines()[0] if message else "no message"
        raise EventsError("Security log: wevtutil failed with exit %d: %s" % (code, first))
    return decode_output(out)


def decode_output(data):
    """Text of a command's output bytes: UTF-16 when it starts with a BOM, else UTF-8.

    Bytes that are not UTF-8 (an ANSI code page) are kept as replacement characters.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    return data.decode("utf-8-sig", "replace")


def run_command(args):
    """Run ``args`` without a shell; ``(exit_code, stdout_bytes, stderr_bytes)``."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    return proc.returncode, out, err


def _source_ip(fields):
    """IpAddress as written (``::1`` and ``127.0.0.1`` too); ``None`` for ``-`` or none."""
    return _value(fields, "IpAddress") or None


def _value(fields, name):
    """A field's value, with Windows' placeholder ``-`` read as empty."""
    value = fields.get(name) or ""
    return "" if value == "-" else value


def _text(parent, name):
    node = parent.find(_NS + name) if parent is not None else None
    return (node.text or "").strip() if node is not None else ""


def _attribute(parent, name, attribute):
    node = parent.find(_NS + name) if parent is not None else None
    return node.get(attribute, "") if node is not None else ""


def _local_name(tag):
    return tag.rsplit("}", 1)[-1]
