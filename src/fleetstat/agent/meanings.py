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

LOGON, ACCOUNT, GROUP, PRIVILEGE, KERBEROS, NTLM = (
    "logon", "account", "group", "privilege", "kerberos", "ntlm"
)  # fmt: skip
TASK, SERVICE, POLICY, LOG, DIRECTORY, OBJECT, SYSTEM, PROCESS, NETWORK, FORGED = (
    "task", "service", "policy", "log", "directory", "object", "system", "process",
    "network", "forged",
)  # fmt: skip

# id: (category, meaning, failure wording or None when it cannot fail)
MEANINGS = {
    # logon and logoff
    "4624": (LOGON, "logon", "logon failed"),
    "4625": (LOGON, "logon failed", "logon failed"),
    "4626": (LOGON, "user/device claims of a logon", None),
    "4627": (LOGON, "group membership of a logon", None),
    "4634": (LOGON, "logoff", None),
    "4647": (LOGON, "user-initiated logoff", None),
    "4648": (LOGON, "logon with explicit credentials", None),
    "4649": (LOGON, "replay attack detected", None),
    "4675": (LOGON, "SIDs were filtered", None),
    "4778": (LOGON, "session reconnected", None),
    "4779": (LOGON, "session disconnected", None),
    "4800": (LOGON, "workstation locked", None),
    "4802": (LOGON, "screen saver invoked", None),
    "4803": (LOGON, "screen saver dismissed", None),
    "4825": (LOGON, "remote desktop logon refused: not a member of Remote Desktop Users", None),
    "5378": (LOGON, "credential delegation disallowed by policy", None),
    "4801": (LOGON, "workstation unlocked", None),
    "4964": (LOGON, "special groups assigned to a new logon", None),
    "6272": (NETWORK, "network policy server granted access", None),
    "6273": (NETWORK, "network policy server denied access", None),
    # special privileges
    "4672": (PRIVILEGE, "special privileges assigned to new logon", None),
    "4673": (PRIVILEGE, "privileged service called", "privileged service call refused"),
    "4674": (PRIVILEGE, "operation on a privileged object", "privileged operation refused"),
    "4703": (PRIVILEGE, "token rights adjusted", None),
    "4704": (PRIVILEGE, "user right assigned", None),
    "4705": (PRIVILEGE, "user right removed", None),
    # user accounts
    "4720": (ACCOUNT, "user account created", None),
    "4722": (ACCOUNT, "user account enabled", None),
    "4723": (ACCOUNT, "password change attempted", "password change failed"),
    "4724": (ACCOUNT, "password reset attempted", "password reset failed"),
    "4725": (ACCOUNT, "user account disabled", None),
    "4726": (ACCOUNT, "user account deleted", None),
    "4738": (ACCOUNT, "user account changed", None),
    "4740": (ACCOUNT, "user account locked out", None),
    "4765": (ACCOUNT, "SID history added to an account", None),
    "4766": (ACCOUNT, "adding SID history failed", "adding SID history failed"),
    "4767": (ACCOUNT, "user account unlocked", None),
    "4774": (ACCOUNT, "account mapped for logon", None),
    "4775": (ACCOUNT, "account could not be mapped for logon", "account could not be mapped"),
    "4830": (ACCOUNT, "SID history removed from an account", None),
    "4780": (ACCOUNT, "ACL set on accounts of administrators' groups", None),
    "4781": (ACCOUNT, "account renamed", None),
    "4782": (ACCOUNT, "password hash of an account read", None),
    "4793": (ACCOUNT, "password policy checking API called", None),
    "4794": (ACCOUNT, "directory services restore mode password set", "DSRM password set failed"),
    "4797": (ACCOUNT, "blank password of an account tested", None),
    "4798": (ACCOUNT, "local group membership of a user enumerated", None),
    "5376": (ACCOUNT, "stored credentials backed up", None),
    "5377": (ACCOUNT, "stored credentials restored", None),
    # computer accounts
    "4741": (ACCOUNT, "computer account created", None),
    "4742": (ACCOUNT, "computer account changed", None),
    "4743": (ACCOUNT, "computer account deleted", None),
    # groups
    "4727": (GROUP, "security-enabled global group created", None),
    "4728": (GROUP, "member added to a security-enabled global group", None),
    "4729": (GROUP, "member removed from a security-enabled global group", None),
    "4730": (GROUP, "security-enabled global group deleted", None),
    "4731": (GROUP, "security-enabled local group created", None),
    "4732": (GROUP, "member added to a security-enabled local group", None),
    "4733": (GROUP, "member removed from a security-enabled local group", None),
    "4734": (GROUP, "security-enabled local group deleted", None),
    "4735": (GROUP, "security-enabled local group changed", None),
    "4737": (GROUP, "security-enabled global group changed", None),
    "4739": (POLICY, "domain policy changed", None),
    "4754": (GROUP, "security-enabled universal group created", None),
    "4755": (GROUP, "security-enabled universal group changed", None),
    "4756": (GROUP, "member added to a security-enabled universal group", None),
    "4757": (GROUP, "member removed from a security-enabled universal group", None),
    "4758": (GROUP, "security-enabled universal group deleted", None),
    "4764": (GROUP, "group type changed", None),
    "4799": (GROUP, "membership of a security-enabled local group enumerated", None),
    # security-disabled (distribution) groups and basic application groups
    "4744": (GROUP, "security-disabled local group created", None),
    "4745": (GROUP, "security-disabled local group changed", None),
    "4746": (GROUP, "member added to a security-disabled local group", None),
    "4747": (GROUP, "member removed from a security-disabled local group", None),
    "4748": (GROUP, "security-disabled local group deleted", None),
    "4749": (GROUP, "security-disabled global group created", None),
    "4750": (GROUP, "security-disabled global group changed", None),
    "4751": (GROUP, "member added to a security-disabled global group", None),
    "4752": (GROUP, "member removed from a security-disabled global group", None),
    "4753": (GROUP, "security-disabled global group deleted", None),
    "4759": (GROUP, "security-disabled universal group created", None),
    "4760": (GROUP, "security-disabled universal group changed", None),
    "4761": (GROUP, "member added to a security-disabled universal group", None),
    "4762": (GROUP, "member removed from a security-disabled universal group", None),
    "4763": (GROUP, "security-disabled universal group deleted", None),
    "4783": (GROUP, "basic application group created", None),
    "4784": (GROUP, "basic application group changed", None),
    "4785": (GROUP, "member added to a basic application group", None),
    "4786": (GROUP, "member removed from a basic application group", None),
    "4787": (GROUP, "non-member added to a basic application group", None),
    "4788": (GROUP, "non-member removed from a basic application group", None),
    "4789": (GROUP, "basic application group deleted", None),
    "4790": (GROUP, "LDAP query group created", None),
    "4791": (GROUP, "basic application group changed", None),
    "4792": (GROUP, "LDAP query group deleted", None),
    # Kerberos and NTLM
    "4768": (KERBEROS, "Kerberos ticket (TGT) requested", "Kerberos ticket (TGT) request failed"),
    "4769": (KERBEROS, "Kerberos service ticket requested",
             "Kerberos service ticket request failed"),
    "4770": (KERBEROS, "Kerberos service ticket renewed", None),
    "4771": (KERBEROS, "Kerberos pre-authentication failed", "Kerberos pre-authentication failed"),
    "4772": (KERBEROS, "Kerberos ticket request failed", "Kerberos ticket request failed"),
    "4773": (KERBEROS, "Kerberos service ticket request failed",
             "Kerberos service ticket request failed"),
    "4776": (NTLM, "credential validation (NTLM)", "credential validation (NTLM) failed"),
    "4777": (NTLM, "credential validation failed", "credential validation failed"),
    "4820": (KERBEROS, "Kerberos TGT denied by access control", None),
    "4821": (KERBEROS, "Kerberos service ticket denied by access control", None),
    "4822": (NTLM, "NTLM authentication failed: account in the Protected Users group", None),
    "4823": (NTLM, "NTLM authentication failed: access control restrictions", None),
    "4824": (KERBEROS, "Kerberos pre-authentication by DES or RC4 failed: Protected Users", None),
    # scheduled tasks, services, processes
    "4698": (TASK, "scheduled task created", None),
    "4699": (TASK, "scheduled task deleted", None),
    "4700": (TASK, "scheduled task enabled", None),
    "4701": (TASK, "scheduled task disabled", None),
    "4702": (TASK, "scheduled task updated", None),
    "4697": (SERVICE, "service installed", None),
    "7045": (SERVICE, "service installed", None),
    "4688": (PROCESS, "process created", None),
    "4689": (PROCESS, "process exited", None),
    "4692": (PROCESS, "backup of data protection master key attempted", None),
    "4693": (PROCESS, "recovery of data protection master key attempted", None),
    "4696": (PROCESS, "primary token assigned to a process", None),
    # audit policy, system, the log itself
    "1100": (LOG, "event logging service shut down", None),
    "1102": (LOG, "audit log cleared", None),
    "1104": (LOG, "security log full", None),
    "1105": (LOG, "event log automatic backup", None),
    "1108": (LOG, "event logging service error", None),
    "4608": (SYSTEM, "Windows starting up", None),
    "4609": (SYSTEM, "Windows shutting down", None),
    "4610": (SYSTEM, "authentication package loaded", None),
    "4611": (SYSTEM, "trusted logon process registered", None),
    "4612": (LOG, "audit messages dropped: resources exhausted", None),
    "4614": (SYSTEM, "notification package loaded", None),
    "4615": (SYSTEM, "invalid use of LPC port", None),
    "4616": (SYSTEM, "system time changed", None),
    "4618": (SYSTEM, "monitored security event pattern occurred", None),
    "4621": (SYSTEM, "administrator recovered system from CrashOnAuditFail", None),
    "4622": (SYSTEM, "security package loaded", None),
    "4657": (OBJECT, "registry value changed", None),
    "4670": (POLICY, "permissions on an object changed", None),
    "4706": (POLICY, "trust to a domain created", None),
    "4707": (POLICY, "trust to a domain removed", None),
    "4713": (POLICY, "Kerberos policy changed", None),
    "4864": (POLICY, "namespace collision detected between trusted forests", None),
    "4911": (POLICY, "resource attributes of an object changed", None),
    "4913": (POLICY, "central access policy of an object changed", None),
    "6144": (POLICY, "security policy in group policy objects applied", None),
    "6145": (POLICY, "errors applying security policy from group policy objects", None),
    "4714": (POLICY, "encrypted data recovery policy changed", None),
    "4715": (POLICY, "audit policy (SACL) on an object changed", None),
    "4716": (POLICY, "trusted domain information changed", None),
    "4717": (POLICY, "system security access granted to an account", None),
    "4718": (POLICY, "system security access removed from an account", None),
    "4719": (POLICY, "system audit policy changed", None),
    "4817": (POLICY, "auditing settings on an object changed", None),
    "4865": (POLICY, "trusted forest information entry added", None),
    "4866": (POLICY, "trusted forest information entry removed", None),
    "4867": (POLICY, "trusted forest information entry changed", None),
    "4902": (POLICY, "per-user audit policy table created", None),
    "4904": (POLICY, "security event source registration attempted", None),
    "4905": (POLICY, "security event source unregistration attempted", None),
    "4906": (POLICY, "CrashOnAuditFail value changed", None),
    "4907": (POLICY, "auditing settings on an object changed", None),
    "4908": (POLICY, "special groups logon table changed", None),
    "4912": (POLICY, "per-user audit policy changed", None),
    "4946": (POLICY, "Windows Firewall exception list: rule added", None),
    "4947": (POLICY, "Windows Firewall exception list: rule changed", None),
    "4948": (POLICY, "Windows Firewall exception list: rule deleted", None),
    "4950": (POLICY, "Windows Firewall setting changed", None),
    "4954": (POLICY, "Windows Firewall group policy settings changed", None),
    "4956": (POLICY, "Windows Firewall active profile changed", None),
    "5025": (SERVICE, "Windows Firewall service stopped", None),
    "5030": (SERVICE, "Windows Firewall service failed to start", None),
    "6281": (SYSTEM, "page hashes of an image file not valid", None),
    "1101": (LOG, "audit events dropped by the transport", None),
    "4816": (SYSTEM, "RPC integrity violation while decrypting a message", None),
    "5038": (SYSTEM, "code integrity: an image file's hash is not valid", None),
    "5027": (SERVICE, "Windows Firewall could not read its policy", None),
    "5028": (SERVICE, "Windows Firewall could not parse its policy", None),
    "5029": (SERVICE, "Windows Firewall service failed to start its driver", None),
    "5031": (NETWORK, "Windows Firewall blocked an application from accepting connections", None),
    "5168": (OBJECT, "SPN check for SMB/SMB2 failed", None),
    "5827": (NTLM, "Netlogon denied a vulnerable secure channel from a machine account", None),
    "5828": (NTLM, "Netlogon denied a vulnerable secure channel using a trust account", None),
    "5829": (NTLM, "Netlogon allowed a vulnerable secure channel", None),
    "4868": (POLICY, "certificate manager denied a pending certificate request", None),
    "4870": (POLICY, "certificate services revoked a certificate", None),
    "4882": (POLICY, "security permissions for certificate services changed", None),
    "4885": (POLICY, "audit filter for certificate services changed", None),
    "4890": (POLICY, "certificate manager settings changed", None),
    "4892": (POLICY, "a property of certificate services changed", None),
    "4896": (POLICY, "rows deleted from the certificate database", None),
    "4897": (POLICY, "role separation enabled", None),
    "5120": (SERVICE, "OCSP responder service started", None),
    "5124": (POLICY, "a security setting of the OCSP responder service was updated", None),
    "6416": (SYSTEM, "new external device recognised", None),
    # directory service
    "4662": (DIRECTORY, "operation on a directory object", None),
    "4661": (DIRECTORY, "handle to a directory or account object requested",
             "handle to a directory or account object refused"),
    "4930": (DIRECTORY, "directory replica source naming context modified", None),
    "4931": (DIRECTORY, "directory replica destination naming context modified", None),
    "4934": (DIRECTORY, "directory object attributes replicated", None),
    "4935": (DIRECTORY, "directory replication failure began", None),
    "4936": (DIRECTORY, "directory replication failure ended", None),
    "4937": (DIRECTORY, "lingering directory object removed from a replica", None),
    "4928": (DIRECTORY, "directory replica source naming context established", None),
    "4929": (DIRECTORY, "directory replica source naming context removed", None),
    "4932": (DIRECTORY, "directory replication began", None),
    "4933": (DIRECTORY, "directory replication ended", None),
    "5136": (DIRECTORY, "directory object changed", None),
    "5137": (DIRECTORY, "directory object created", None),
    "5138": (DIRECTORY, "directory object undeleted", None),
    "5139": (DIRECTORY, "directory object moved", None),
    "5141": (DIRECTORY, "directory object deleted", None),
    # object and file-share access
    "4656": (OBJECT, "handle to an object requested", "handle to an object refused"),
    "4658": (OBJECT, "handle to an object closed", None),
    "4660": (OBJECT, "object deleted", None),
    "4663": (OBJECT, "object accessed", "object access refused"),
    "4664": (OBJECT, "hard link created", None),
    "4985": (OBJECT, "state of a transaction changed", None),
    "5140": (OBJECT, "network share accessed", "network share access refused"),
    "5142": (OBJECT, "network share added", None),
    "5143": (OBJECT, "network share changed", None),
    "5144": (OBJECT, "network share deleted", None),
    "5145": (OBJECT, "network share object checked", "network share object access refused"),
    "5148": (NETWORK, "Windows Filtering Platform blocked a denial-of-service attack", None),
    "5156": (NETWORK, "connection permitted by Windows Filtering Platform", None),
    "5157": (NETWORK, "connection blocked by Windows Filtering Platform", None),
    "5158": (NETWORK, "bind permitted by Windows Filtering Platform", None),
    "5159": (NETWORK, "bind blocked by Windows Filtering Platform", None),
    # Linux auth events (names of events_linux); a name may carry the login method
    "sshd.accepted": (LOGON, "SSH logon", "SSH logon failed"),
    "sshd.failed": (LOGON, "SSH logon failed", "SSH logon failed"),
    "sshd.invalid_user": (LOGON, "SSH logon for an unknown user", "SSH logon failed"),
    "sshd.user_not_allowed": (LOGON, "SSH logon of a user not allowed", "SSH logon failed"),
    "sshd.max_auth_attempts": (LOGON, "SSH logon: too many attempts", "SSH logon failed"),
    "sudo.command": (PRIVILEGE, "sudo command", None),
    "sudo.auth_failure": (PRIVILEGE, "sudo authentication failed", "sudo authentication failed"),
    "sudo.refused": (PRIVILEGE, "sudo refused", "sudo refused"),
    "su.session_opened": (PRIVILEGE, "su session opened", None),
    "su.session_closed": (PRIVILEGE, "su session closed", None),
    "su.switch_user": (PRIVILEGE, "su to another user", None),
    "su.auth_failure": (PRIVILEGE, "su authentication failed", "su authentication failed"),
    "su.failed": (PRIVILEGE, "su failed", "su failed"),
    "login.failed": (LOGON, "console logon failed", "console logon failed"),
    "login.root": (LOGON, "console logon as root", None),
    "login.session_opened": (LOGON, "console logon", None),
    "useradd": (ACCOUNT, "account created", "account creation failed"),
    "userdel": (ACCOUNT, "account deleted", "account deletion failed"),
    "usermod": (ACCOUNT, "account changed", "account change failed"),
    "groupadd": (GROUP, "group created", "group creation failed"),
    "groupdel": (GROUP, "group deleted", "group deletion failed"),
    "passwd": (ACCOUNT, "password changed", "password change failed"),
    "chpasswd": (ACCOUNT, "password changed", "password change failed"),
    "gpasswd": (GROUP, "group membership or password changed", "group change failed"),
    "log.forged": (FORGED, "log line forged: it claims to be an auth program's but is not",
                   None),
}  # fmt: skip

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
