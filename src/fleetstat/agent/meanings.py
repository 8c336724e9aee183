"""What a security event means: one table for the agent, the stored record and the mail.

``MEANINGS`` maps an event id (a Windows Security event number, or a Linux auth event
name of ``events_linux``) to ``(category, what happened, what a failure of it is)``.
The Windows ids are the audit-relevant ones of Microsoft's "Appendix L: Events to
Monitor" and of the "Advanced security audit policy" subcategories. ``describe``
turns a record (the agent's dict or the server's ``Event``) into one line: the
meaning, worded as a failure when it failed with its status decoded, then who did it
to what.

Standard library only; runs on Python 3.6+ (the server imports it too, so the
functions it calls carry type annotations).
"""

from typing import Any, Optional, Tuple

from .meaning_table import (  # noqa: F401 - the categories are the module's names too
    ACCOUNT,
    DIRECTORY,
    FORGED,
    GROUP,
    KERBEROS,
    LOG,
    LOGON,
    MEANINGS,
    NETWORK,
    NTLM,
    OBJECT,
    POLICY,
    PRIVILEGE,
    PROCESS,
    SERVICE,
    SYSTEM,
    TASK,
)

LOGON_TYPES = {
    "0": "system", "2": "interactive", "3": "network", "4": "batch", "5": "service",
    "7": "unlock", "8": "network cleartext", "9": "new credentials",
    "10": "remote interactive", "11": "cached interactive", "12": "cached remote interactive",
    "13": "cached unlock",
}  # fmt: skip

# NTSTATUS of 4625, 4776 and 4771's siblings (Status and SubStatus), by number: Windows
# writes them zero-padded (0xC000006A, 0x00000000) or not, in either case.
NT_STATUS = {
    "0xc0000064": "no such user",
    "0xc000006a": "wrong password",
    "0xc000006d": "bad user name or authentication information",
    "0xc000006e": "account restriction",
    "0xc000006f": "logon outside allowed hours",
    "0xc0000070": "workstation not allowed",
    "0xc0000071": "password expired",
    "0xc0000072": "account disabled",
    "0xc00000dc": "server in the wrong state",
    "0xc0000133": "clocks out of sync",
    "0xc000015b": "logon type not granted",
    "0xc000018c": "trust relationship failed",
    "0xc0000192": "Netlogon service not started",
    "0xc0000193": "account expired",
    "0xc0000224": "password must change",
    "0xc0000225": "Windows bug",
    "0xc0000234": "account locked out",
    "0xc00002ee": "an error during logon",
    "0xc0000371": "local account store lacks secret",
    "0xc0000413": "authentication firewall refused",
    "0xc000005e": "no logon servers",
    "0xc0000022": "access denied",
    "0xc000006c": "password policy not met",
    "0xc0000073": "no such user or group",
    "0xc000009a": "out of resources",
    "0xc0000190": "trust failure",
    "0xc0000380": "smart card logon required",
    "0xc00002f9": "NTLM blocked",
}

# Kerberos result codes (RFC 4120 section 7.5.9) of 4768, 4769, 4771, 4772, 4773.
KERBEROS_RESULTS = {
    "0x1": "client entry expired", "0x2": "server entry expired",
    "0x3": "protocol version not supported", "0x6": "client unknown",
    "0x7": "server unknown", "0x8": "principal not unique", "0x9": "no key for the principal",
    "0xc": "policy refused the ticket", "0xd": "option not allowed",
    "0xe": "encryption type not supported",
    "0xf": "checksum type not supported", "0x10": "PKINIT not supported",
    "0x12": "client revoked (disabled, expired or locked out)",
    "0x17": "password expired", "0x18": "pre-authentication failed (wrong password)",
    "0x19": "pre-authentication required", "0x1b": "server may only be used user-to-user",
    "0x1f": "integrity check failed", "0x20": "ticket expired", "0x21": "ticket not yet valid",
    "0x22": "replay", "0x25": "clocks out of sync", "0x29": "message stream modified",
    "0x3c": "generic error", "0x3e": "client certificate not trusted",
}  # fmt: skip
_KERBEROS_IDS = frozenset(["4768", "4769", "4771", "4772", "4773"])
#: Events whose Status, not their audit keyword, says whether they failed.
_STATUS_DECIDES = _KERBEROS_IDS | {"4776"}
_NT_BY_NUMBER = {int(code, 16): text for code, text in NT_STATUS.items()}
_KERBEROS_BY_NUMBER = {int(code, 16): text for code, text in KERBEROS_RESULTS.items()}


def code_number(text):
    """The number of a status or result code as Windows writes it (``0x18``,
    ``0x00000018``, ``0xC000006A``, ``24``); None for none (``-``, empty, not a number)."""
    text = str(text or "").strip().lower()
    try:
        return int(text, 16) if text.startswith("0x") else int(text, 10)
    except ValueError:
        return None


def meaning(event_id: str) -> Optional[Tuple[str, str, Optional[str]]]:
    """``(category, meaning, failure wording)`` of an event id, or ``None``.

    A Linux name with a login method (``sshd.accepted_publickey``) is found by the
    part before its ``_``.
    """
    found = MEANINGS.get(event_id)
    if found is None and "." in event_id:
        found = MEANINGS.get(event_id.split("_", 1)[0])
    return found


def category(event_id: str) -> Optional[str]:
    """The category (``logon``, ``account``, ``group``, ...) of an id, or ``None``."""
    found = meaning(event_id)
    return found[0] if found else None


def failed(event):
    """Whether the event is a failure: audit failure, or a non-zero result code (Kerberos,
    NTLM credential validation)."""
    if _get(event, "level") == "audit_failure":
        return True
    fields = _get(event, "fields") or {}
    if _get(event, "event_id") in _STATUS_DECIDES:
        return code_number(fields.get("Status")) not in (None, 0)
    return False


def failure_reason(event):
    """The decoded status of a failure (``wrong password``), or ``""``."""
    fields = _get(event, "fields") or {}
    if _get(event, "event_id") in _KERBEROS_IDS:
        code = fields.get("Status") or fields.get("FailureCode")
        return _decoded(code, _KERBEROS_BY_NUMBER, "Kerberos result")
    reasons, seen = [], set()
    for name in ("Status", "SubStatus"):
        number = code_number(fields.get(name))
        if number not in (None, 0) and number not in seen:
            seen.add(number)
            reasons.append(_decoded(fields.get(name), _NT_BY_NUMBER, "status"))
    return "; ".join(reasons)


def describe(event: Any) -> str:
    """One line of what ``event`` means: the meaning (worded as a failure, with its
    decoded status, when it failed), then who did it (``by``), to whom or what, and
    the telling details (logon type, workstation, privilege, object, task, old and
    new name). ``event`` is a record dict or an object with the same attributes.
    """
    event_id = _get(event, "event_id") or ""
    found = meaning(event_id)
    if found is None:
        head = "event %s (no meaning known)" % event_id
    elif failed(event) and found[2]:
        head = found[2]
    else:
        head = found[1]
    reason = failure_reason(event) if failed(event) else ""
    parts = [head + (": " + reason if reason else "")]
    actor, target = _get(event, "actor"), _get(event, "target")
    if actor:
        parts.append("by " + actor)
    if target:
        parts.append(("account " if found and found[0] != GROUP else "member ") + target)
    parts += details(_get(event, "fields") or {})
    return "; ".join(parts)


# EventData fields worth a word, in the order shown: (field, label).
_DETAILS = (
    ("OldTargetUserName", "old name"),
    ("NewTargetUserName", "new name"),
    ("group", "group"),
    ("TaskName", "task"),
    ("ServiceName", "service"),
    ("LogonType", "logon type"),
    ("WorkstationName", "workstation"),
    ("Workstation", "workstation"),
    ("PrivilegeList", "privileges"),
    ("ObjectDN", "object"),
    ("ObjectName", "object"),
    ("AttributeLDAPDisplayName", "attribute"),
    ("ShareName", "share"),
    ("RelativeTargetName", "file"),
    ("NewProcessName", "process"),
    ("Application", "application"),
    ("DestAddress", "to"),
    ("DestPort", "port"),
    ("claimed_program", "claims to be"),
    ("reason", "why"),
    ("run_as", "as"),
    ("command", "command"),
)


def details(fields):
    """``label value`` texts of the telling fields present (placeholders ``-`` left out)."""
    parts = []
    for name, label in _DETAILS:
        value = " ".join(str(fields.get(name) or "").split())
        if value and value != "-":
            if name == "LogonType":
                value = "%s (%s)" % (LOGON_TYPES.get(value, "type " + value), value)
            parts.append("%s %s" % (label, value))
    return parts


def _decoded(code, table, what):
    """``wrong password (0xC000006A)``: the words of ``code`` (looked up by number in
    ``table``) and the code as written; ``what`` and the code when it is not known."""
    number = code_number(code)
    if number is None:
        return ""
    text = table.get(number)
    return "%s (%s)" % (text, code) if text else "%s %s" % (what, code)


def _get(event, name):
    """A record dict's item or an object's attribute (``None`` when absent)."""
    if isinstance(event, dict):
        return event.get(name)
    return getattr(event, name, None)
