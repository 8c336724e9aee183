"""What both event sources share: the error, the empty events object, UTC times.

Standard library only; runs on Python 3.6+.
"""

import datetime
import re

_UTC = datetime.timezone.utc
_TIMESTAMP = re.compile(
    r"^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d)?\s*$"
)


class EventsError(Exception):
    """A security log could not be read; ``str(err)`` says why and what to do."""


def empty_events():
    """The protocol's events object with nothing in it (a fresh dict each call)."""
    return {"records": [], "cursor": {}, "resets": [], "truncated": False}


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
