"""The Windows Security event log, read with ``wevtutil`` and normalised to records.

``wevtutil qe Security /f:xml`` prints one ``<Event>`` element per record, one after
another with no enclosing root. ``parse_wevtutil_xml`` turns that text into records;
``read_security_log`` picks what to ask ``wevtutil`` for from the cursor.

Standard library only; runs on Python 3.6+.
"""

import re
import subprocess
import xml.etree.ElementTree as ET

from . import meanings
from .events_common import EventsError, empty_events, iso_utc, plain_address

SOURCE = "windows-security"
_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"

# Reserved keyword bits of the Windows event schema (winmeta.xml).
_KEYWORD_AUDIT_FAILURE = 0x0010000000000000
_KEYWORD_AUDIT_SUCCESS = 0x0020000000000000
# Event levels 1-4 of winmeta.xml; 0 (log always) and 5 (verbose) read as information.
_LEVELS = {"1": "critical", "2": "error", "3": "warning", "4": "information"}

# ERROR_ACCESS_DENIED: wevtutil exits with the Win32 error code of what failed.
_ACCESS_DENIED = 5

# Group membership events: TargetUserName names the group, MemberName the account.
_GROUP_EVENTS = frozenset(["4728", "4729", "4732", "4733", "4746", "4747", "4751", "4752",
                           "4756", "4757", "4761", "4762", "4785", "4786", "4787",
                           "4788"])  # fmt: skip
_NULL_SIDS = frozenset(["S-1-0-0", "-", ""])


# Characters XML 1.0 forbids (C0 controls but tab, newline and return; U+FFFE/U+FFFF;
# lone surrogates), raw or as character references; Windows writes them when an
# event's data holds them, and one of them would make the whole answer unparsable.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_FORBIDDEN_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")
_EVENT = re.compile(r"<Event[\s>].*?</Event>", re.DOTALL)


def xml_safe(text):
    """``text`` with every character XML forbids, raw or as ``&#...;``, made U+FFFD."""
    return _FORBIDDEN_REF.sub(_safe_reference, _FORBIDDEN.sub("\ufffd", text))


def _safe_reference(match):
    value = match.group(1)
    code = int(value[1:], 16) if value[0] in "xX" else int(value)
    allowed = code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
    return match.group(0) if allowed or code > 0xFFFF and code <= 0x10FFFF else "\ufffd"


def parse_wevtutil_xml(text):
    """Records of the ``<Event>`` elements in ``text``, in the order given.

    ``text`` is what ``wevtutil qe ... /f:xml`` prints (elements with no enclosing
    root, single-quoted attributes) or the same elements as python-evtx writes them.
    Each record is the protocol's dict: ``source`` (``windows-security``),
    ``record_id`` (``event_record_id``), ``event_id`` (``"4624"``),
    ``time`` (ISO 8601 UTC with ``Z``), ``level``, ``user``, ``source_ip``,
    ``message`` (one line) and ``fields`` (the EventData or UserData name/value pairs).
    """
    body = xml_safe(re.sub(r"<\?xml[^>]*\?>", "", text))
    try:
        root = ET.fromstring("<Events>" + body + "</Events>")
    except ET.ParseError:
        records = [_one_record(piece) for piece in _EVENT.findall(body)]
        return [record for record in records if record is not None]
    return [event_record(event) for event in root.iter(_NS + "Event")]


def _one_record(piece):
    """The record of one ``<Event>`` text, parsed on its own so that one bad event
    cannot hold back the ones after it: an event that still does not parse keeps
    its number, id and time (read from the text) and says why in its message."""
    try:
        return event_record(ET.fromstring(piece))
    except ET.ParseError as err:
        found = {name: re.search(pattern, piece) for name, pattern in _BARE.items()}
        if not all(found.values()):
            return None
        stamp = iso_utc(found["time"].group(1))
        return {
            "source": SOURCE,
            "record_id": event_record_id(found["number"].group(1), stamp),
            "event_id": found["id"].group(1),
            "time": stamp,
            "level": "information",
            "user": None,
            "actor": None,
            "target": None,
            "source_ip": None,
            "message": "event XML does not parse (%s); its data is left out" % err,
            "fields": {},
        }


_BARE = {
    "number": r"<EventRecordID>(\d+)</EventRecordID>",
    "id": r"<EventID[^>]*>(\d+)</EventID>",
    "time": r"SystemTime=[\'\"]([^\'\"]+)[\'\"]",
}


def event_record(event):
    """The protocol's record for one parsed ``<Event>`` element."""
    system = event.find(_NS + "System")
    event_id = _text(system, "EventID")
    fields = event_fields(event)
    stamp = iso_utc(_attribute(system, "TimeCreated", "SystemTime"))
    record = {
        "source": SOURCE,
        "record_id": event_record_id(_text(system, "EventRecordID"), stamp),
        "event_id": event_id,
        "time": stamp,
        "level": event_level(_text(system, "Keywords"), _text(system, "Level")),
        "user": event_user(event_id, fields),
        "actor": event_actor(fields),
        "target": event_target(event_id, fields),
        "source_ip": _source_ip(fields),
        "fields": fields,
    }
    if event_id in _GROUP_EVENTS and _value(fields, "TargetUserName"):
        fields["group"] = account_name(fields, "Target")
    record["message"] = meanings.describe(record)
    return record


def account_name(fields, prefix):
    """``DOMAIN\\name`` of ``<prefix>UserName``/``<prefix>DomainName``, or ``None``.

    The domain is left off when the name already carries it (``bob@CORP.EXAMPLE``,
    ``CORP\\bob``), so a realm is never written twice.
    """
    name = _value(fields, prefix + "UserName")
    if not name:
        return None
    domain = _value(fields, prefix + "DomainName")
    if not domain or "@" in name or "\\" in name:
        return name
    return domain + "\\" + name


def event_actor(fields):
    """Who did it: the Subject account (``None`` when the event names none)."""
    if _value(fields, "SubjectUserSid") in _NULL_SIDS and not _value(fields, "SubjectUserName"):
        return None
    return account_name(fields, "Subject")


def event_target(event_id, fields):
    """What it was done to: the member for group changes, the new name for a rename,
    else the Target account (for logons, the account that logged on)."""
    if event_id in _GROUP_EVENTS:
        return _value(fields, "MemberName") or _value(fields, "MemberSid") or None
    if event_id == "4781":
        return _value(fields, "NewTargetUserName") or None
    return account_name(fields, "Target")


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
        name = account_name(fields, prefix)
        if name:
            return name
    return None


def read_security_log(since, options, run=None):
    """The protocol's events object for the Security log, oldest record first.

    ``since`` is the request's ``events.since``; its ``windows-security`` entry is
    ``{"record_id": N}``, the newest record returned last time. ``options`` is an
    ``events_common.Options``. A first run returns the newest ``max_events`` records
    of the last ``window`` seconds; later runs the records after ``N``, oldest
    first, at most ``max_events`` (``truncated`` says more are waiting). When the
    newest record in the log is older than ``N`` the log was cleared: the run starts
    over and ``resets`` names the source. ``run(args, timeout) -> (exit_code,
    stdout_bytes, stderr_bytes)`` runs a command (``run_command`` by default); each
    ``wevtutil`` is given the time ``budget``.
    """
    run = run or run_command
    query = _Query(run, options)
    last = ((since or {}).get(SOURCE) or {}).get("record_id")
    resets = []
    if last is not None:
        newest = query.newest(1, None)
        newest_id = record_number(newest[-1]) if newest else -1
        if newest_id >= int(last):
            records = query.after(int(last)) if newest_id > int(last) else []
            kept = records[: options.max_events]
            return _events(kept, len(records) > options.max_events, int(last), resets)
        resets.append(SOURCE)
    records = query.newest(options.max_events + 1, options.window)
    kept = records[max(len(records) - options.max_events, 0) :]
    return _events(kept, len(records) > options.max_events, 0, resets)


class _Query(object):
    """``wevtutil`` runs with one request's bounds."""

    def __init__(self, run, options):
        self.run = run
        self.options = options

    def newest(self, count, window):
        """The newest ``count`` records (of the last ``window`` seconds), oldest first."""
        args = wevtutil_args(count, window=window)
        records = parse_wevtutil_xml(_wevtutil(self.run, args, self.options.budget))
        records.reverse()
        return records

    def after(self, record_id):
        """Up to ``max_events + 1`` records after ``record_id``, oldest first."""
        args = wevtutil_args(self.options.max_events + 1, after=record_id)
        return parse_wevtutil_xml(_wevtutil(self.run, args, self.options.budget))


def _events(records, truncated, position, resets):
    """The events object; the cursor is the last record's id, else ``position``."""
    if records:
        position = record_number(records[-1])
    result = empty_events()
    result.update(records=records, truncated=truncated, resets=resets)
    result["cursor"] = {SOURCE: {"record_id": position}}
    return result


def wevtutil_args(count, after=None, window=None):
    """``wevtutil`` arguments for ``count`` records: the newest, or those after a record id.

    With ``after`` the XPath query ``*[System[EventRecordID>after]]`` reads oldest
    first; without it ``/rd:true`` reads newest first, within the last ``window``
    seconds when given (``timediff(@SystemTime)`` is in milliseconds). ``/uni:true``
    makes wevtutil write UTF-16, so names outside the console's code page survive.
    """
    args = ["wevtutil", "qe", "Security", "/f:xml", "/uni:true", "/c:%d" % count]
    if after is not None:
        return args + ["/q:*[System[EventRecordID>%d]]" % after]
    if window is not None:
        args.append("/q:*[System[TimeCreated[timediff(@SystemTime) <= %d]]]" % (window * 1000))
    return args + ["/rd:true"]


def _wevtutil(run, args, budget=None):
    """What ``wevtutil`` printed, as text; raises ``EventsError`` saying what went wrong."""
    try:
        code, out, err = run(args, budget)
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
    """Text of a command's output bytes: UTF-16 when it starts with a BOM or looks like
    UTF-16 little-endian (``/uni:true`` writes no BOM: every other byte of ASCII text
    is 0), else UTF-8. Bytes that are not UTF-8 (an ANSI code page) are kept as
    replacement characters.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    if len(data) >= 2 and data[1:2] == b"\x00" and data[0:1] != b"\x00":
        return data.decode("utf-16-le", "replace")
    return data.decode("utf-8-sig", "replace")


def run_command(args, timeout=None):
    """Run ``args`` without a shell within ``timeout`` seconds; ``(exit_code, stdout_bytes,
    stderr_bytes)``. A command past its time is killed and raises ``EventsError``."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise EventsError("Security log: %s took longer than %ss" % (args[0], timeout)) from exc
    return proc.returncode, out, err


def _source_ip(fields):
    """IpAddress (an IPv4-mapped IPv6 address as its IPv4 form); ``None`` for ``-``."""
    return plain_address(_value(fields, "IpAddress")) or None


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
