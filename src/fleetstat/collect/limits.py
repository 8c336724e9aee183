"""What each value of an agent's answer may hold, and reading one value against it.

``LIMITS`` holds every value of an answer by its path (``cpu.percent``,
``events.records[].time``): a ``Figure`` (a number in a range), a ``Text`` (a string of
a bounded length) or ``Items`` (a bounded array or object). The readers (``as_int``,
``as_str``, ``as_iso_time`` …) check one value against its path's limit and raise
``EnvelopeError`` naming the path; free text is made safe instead (``clean``).
``answer.parse_answer`` reads the sections with them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fleetstat.core import metrics
from fleetstat.core.bounds import (
    BYTES,
    CORES,
    EPOCH,
    ERROR,
    NAME,
    PERCENT,
    SECONDS,
    SHORT,
    Figure,
    Items,
    Text,
    shown,
)
from fleetstat.core.errors import EnvelopeError

T = TypeVar("T")

#: Deepest nesting of arrays and objects in an answer (the real agent's is 5).
MAX_DEPTH = 16


# ---------------------------------------------------------------- the table of limits

_INDEX = re.compile(r"\[[0-9]+\]")

#: Every value of an answer by its path (``[]`` for any array index): what it may hold.
#: The metrics' figures come from ``metrics.METRICS`` (``cpu.percent``, ``load[]`` …).
LIMITS: dict[str, Figure | Text | Items] = {
    "clock": EPOCH,
    "host.hostname": NAME,
    "host.os": SHORT,
    "host.os_name": NAME,
    "host.os_version": NAME,
    "host.kernel": NAME,
    "host.arch": SHORT,
    "host.python": SHORT,
    "cpu.count": CORES,
    "cpu.interval": SECONDS,
    "cpu.busy": SECONDS,
    "cpu.total": SECONDS,
    "memory.total": BYTES,
    "memory.available": BYTES,
    "memory.used": BYTES,
    "swap.total": BYTES,
    "swap.used": BYTES,
    "swap.free": BYTES,
    "uptime.seconds": SECONDS,
    "uptime.boot_time": EPOCH,
    "disks": Items(1024),
    "disks[].mount": Text(1024),
    "disks[].device": Text(1024),
    "disks[].fstype": Text(64),
    "disks[].total": BYTES,
    "disks[].used": BYTES,
    "disks[].free": BYTES,
    "disks[].percent": PERCENT,
    "disks[].error": ERROR,
    "events.records[].source": Text(32, cut=False),
    "events.records[].record_id": Text(191, cut=False),
    "events.records[].event_id": Text(64),
    "events.records[].level": SHORT,
    "events.records[].time": Text(64, cut=False),
    "events.records[].user": NAME,
    "events.records[].actor": NAME,
    "events.records[].target": NAME,
    "events.records[].source_ip": Text(45),
    "events.records[].message": Text(8192),
    "events.records[].fields": Items(64),
    "events.records[].fields.name": Text(64),
    "events.records[].fields.value": Text(1024),
    "events.resets": Items(64),
    "events.resets[]": Text(32, cut=False),
    "events.gaps": Items(64),
    "events.gaps[].source": Text(32, cut=False),
    "events.gaps[].file": Text(1024),
    "events.gaps[].bytes": BYTES,
    "events.gaps[].reason": ERROR,
    "errors": Items(64),
    "errors[].part": SHORT,
    "errors[].error": ERROR,
    # the figures of the metrics, each in the range its row of the metrics table gives
    **{_INDEX.sub("[]", column.path): column.bounds for column in metrics.COLUMNS},
}

_SURROGATE = re.compile("[\ud800-\udfff]")
_BREAKS = re.compile("[\t\n\v\f\r\x85\u2028\u2029]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def limit_of(path: str) -> Figure | Text | Items:
    """The entry of ``LIMITS`` for a value's ``path`` (``disks[2].used`` → ``disks[].used``)."""
    return LIMITS[_INDEX.sub("[]", path)]


def figure_of(path: str) -> Figure:
    """The ``Figure`` of ``LIMITS`` for a number's ``path``."""
    rule = limit_of(path)
    assert isinstance(rule, Figure), path
    return rule


def wrong(path: str, problem: str) -> EnvelopeError:
    """The error for one bad field of the answer."""
    return EnvelopeError(f"agent answer: {path} {problem}")


def clean(text: str, limit: int) -> str:
    """``text`` safe to store, mail and print, at most ``limit`` characters.

    Line breaks and tabs become one space; other control characters (NUL, ESC …) and
    lone surrogates become U+FFFD; a longer text is cut and ends in "…".
    """
    text = _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", _BREAKS.sub(" ", text)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- one value


def field(obj: dict[str, Any], name: str, path: str) -> Any:
    """``obj[name]``, or an error naming ``path.name`` when it is missing."""
    if name not in obj:
        raise wrong(f"{path}{name}", "is missing")
    return obj[name]


def counted(items: dict[str, Any] | list[Any], path: str) -> None:
    """Raise unless ``items`` holds no more entries than its ``Items`` in ``LIMITS`` allows."""
    rule = LIMITS.get(_INDEX.sub("[]", path))
    if isinstance(rule, Items) and len(items) > rule.limit:
        raise wrong(path, f"holds {len(items)} entries, more than {rule.limit}")


def as_dict(value: Any, path: str) -> dict[str, Any]:
    """``value`` when it is a JSON object (of at most its ``Items`` entries)."""
    if not isinstance(value, dict):
        raise wrong(path, f"must be an object, not {type(value).__name__}")
    counted(value, path)
    return value


def as_list(value: Any, path: str) -> list[Any]:
    """``value`` when it is a JSON array (of at most its ``Items`` entries)."""
    if not isinstance(value, list):
        raise wrong(path, f"must be an array, not {type(value).__name__}")
    counted(value, path)
    return value


def as_str(value: Any, path: str) -> str:
    """``value`` when it is a string within its ``LIMITS`` entry (free text made safe)."""
    if not isinstance(value, str):
        raise wrong(path, f"must be a string, not {type(value).__name__}")
    rule = limit_of(path)
    assert isinstance(rule, Text), path
    if rule.cut:
        return clean(value, rule.limit)
    if len(value) > rule.limit or clean(value, rule.limit) != value:
        raise wrong(path, f"must be at most {rule.limit} printable characters")
    return value


def as_opt_str(value: Any, path: str) -> str | None:
    """``value`` when it is a string or null."""
    return None if value is None else as_str(value, path)


def as_number(value: Any, path: str, rule: Figure | None = None) -> float | int:
    """``value`` when it is a number within ``rule`` (by default its ``LIMITS`` entry)."""
    rule = rule or figure_of(path)
    if rule.whole and (not isinstance(value, int) or isinstance(value, bool)):
        raise wrong(path, f"must be a whole number, not {type(value).__name__}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise wrong(path, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise wrong(path, "must be a finite number")
    if not rule.low <= value <= rule.high:
        raise wrong(path, f"is {shown(value)}, outside {rule.allowed}")
    return value


def as_int(value: Any, path: str) -> int:
    """``value`` when it is a whole number within its limits."""
    return int(as_number(value, path))


def as_float(value: Any, path: str) -> float:
    """``value`` as a float when it is a finite number within its limits."""
    return float(as_number(value, path))


def as_opt_float(value: Any, path: str) -> float | None:
    """``value`` as a float when it is a finite number, or None for null."""
    return None if value is None else as_float(value, path)


def as_opt_int(value: Any, path: str) -> int | None:
    """``value`` when it is a whole number, or None for null."""
    return None if value is None else as_int(value, path)


def as_bool(value: Any, path: str) -> bool:
    """``value`` when it is true or false."""
    if not isinstance(value, bool):
        raise wrong(path, f"must be true or false, not {type(value).__name__}")
    return value


def as_epoch(value: Any, path: str) -> datetime:
    """Unix epoch seconds (1970 to 2100) as an aware UTC datetime."""
    return datetime.fromtimestamp(as_float(value, path), tz=UTC)


def as_iso_time(value: Any, path: str) -> datetime:
    """An ISO 8601 UTC time (``2026-11-27T12:00:00.123456Z``) as an aware datetime."""
    text = as_str(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise wrong(path, f"is not an ISO 8601 time: {text!r}") from err
    if moment.tzinfo is None:
        raise wrong(path, f"has no time zone: {text!r}")
    moment = moment.astimezone(UTC)
    as_number(moment.timestamp(), path, EPOCH)
    return moment


def section(obj: dict[str, Any], name: str, read: Callable[[dict[str, Any], str], T]) -> T | None:
    """``read`` of the section ``name``, or None when the agent sent null for it."""
    value = field(obj, name, "")
    if value is None:
        return None
    return read(as_dict(value, name), name + ".")


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest
