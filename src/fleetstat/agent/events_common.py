"""What both event sources share: the error, the options, the empty events object,
the mark of the agent's own login, UTC times.

Standard library only; runs on Python 3.6+.
"""

import datetime
import re
import time

_UTC = datetime.timezone.utc
_TIMESTAMP = re.compile(
    r"^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?\s*$"
)


class EventsError(Exception):
    """A security log could not be read; ``str(err)`` says why and what to do."""


class Options(object):
    """How much to read: ``max_events`` records at most; a first run only what was
    written in the last ``window`` seconds (``None``: no time bound); at most
    ``budget`` seconds of reading (``None``: no bound). ``now`` is epoch seconds.
    ``become`` (``sudo``, ``doas`` or ``None``) reads the journal through that tool when
    this user may not (see ``become``)."""

    def __init__(self, max_events, window=None, budget=None, now=None, become=None):
        self.max_events = max_events
        self.window = window
        self.budget = budget
        self.become = become
        self.now = time.time() if now is None else now

    def not_before_epoch(self):
        """Epoch seconds of the window's start (``None`` without a window)."""
        return None if self.window is None else self.now - self.window

    def not_before(self):
        """The window's start as ``iso_utc`` text (``None`` without a window)."""
        start = self.not_before_epoch()
        return None if start is None else epoch_utc(start)


def empty_events():
    """The protocol's events object with nothing in it (a fresh dict each call)."""
    return {"records": [], "cursor": {}, "resets": [], "gaps": [], "truncated": False}


def mark_own_session(records, ip_port, pids, sshd_programs=()):
    """Set ``own_session`` on each record of the agent's own SSH login (in place).

    A record is the agent's own when its source address and port (``fields["port"]``
    or Windows' ``IpPort``) are ``ip_port`` (the client end of ``SSH_CONNECTION``), or
    when an sshd program logged it from one of ``pids`` (the agent's sshd ancestors).
    """
    for record in records:
        fields = record.get("fields") or {}
        port = fields.get("port") or fields.get("IpPort")
        by_address = ip_port is not None and (same_address(record.get("source_ip"), ip_port[0])
                                              and port == ip_port[1])  # fmt: skip
        by_pid = fields.get("program") in sshd_programs and _pid(fields.get("pid")) in pids
        record["own_session"] = bool(by_address or by_pid)
    return records


def ssh_client(environ=None):
    """``(client ip, client port)`` of this process's SSH login (``SSH_CONNECTION``'s
    first two words), or ``None`` outside SSH."""
    import os

    words = (os.environ if environ is None else environ).get("SSH_CONNECTION", "").split()
    return (words[0], words[1]) if len(words) >= 2 else None


def same_address(one, other):
    """Whether two IP texts are one address (``::ffff:192.0.2.1`` is ``192.0.2.1``)."""
    return bool(one) and bool(other) and plain_address(one) == plain_address(other)


def plain_address(text):
    """An IPv4-mapped IPv6 address as its IPv4 form; any other text unchanged."""
    if text and text.lower().startswith("::ffff:") and text.count(".") == 3:
        return text[7:]
    return text


def _pid(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def iso_utc(text):
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an ISO 8601 / RFC 3339 time stamp.

    Accepts ``T`` or a space between date and time, any number of fractional digits
    (Windows writes 7; they are cut to microseconds) and ``Z`` or a numeric offset;
    a stamp without an offset is taken as UTC. Raises ``ValueError`` on anything else.
    """
    match = _TIMESTAMP.match(text or "")
    if not match:
        raise ValueError("not an ISO 8601 time: %r" % (text,))
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
    stamp = datetime.datetime(year, month, day, hour, minute, second, micros, _zone(match.group(8)))
    return format_utc(stamp)


def format_utc(stamp):
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an aware ``datetime``."""
    return stamp.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_utc(seconds):
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for Unix epoch seconds (a float)."""
    return format_utc(datetime.datetime.fromtimestamp(seconds, _UTC))


def _zone(offset):
    """The tzinfo for ``Z``, ``+HH:MM``, ``+HHMM`` or nothing (UTC)."""
    if not offset or offset == "Z":
        return _UTC
    digits = offset[1:].replace(":", "")
    delta = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return datetime.timezone(-delta if offset[0] == "-" else delta)
