"""Reading a decrypted agent answer (schema version 1) into validated ``model.Answer`` values.

A client holds its request key, so a valid token proves nothing about its content:
``parse_answer`` checks every value against one table, ``LIMITS``, before anything is
stored, alerted on or mailed. A figure out of its range, a field missing or of the
wrong type, an identifier too long, more events than ``max-events`` or nesting deeper
than ``MAX_DEPTH`` raise ``EnvelopeError`` naming the field (``cpu.percent``,
``events.records[3].time``): the outcome is ``bad_payload``. Free text is made safe
instead: control characters and lone surrogates replaced, cut at its length.

The metrics' figures take their ranges from the metrics table (``metrics.METRICS``);
a metric's *plain* figures, numbers at ``section.name`` that no typed section reads,
are read by ``read_figures`` into ``Answer.figures``.

Epoch seconds become aware UTC datetimes; event times (ISO 8601 with ``Z``) likewise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fleetstat import metrics
from fleetstat.bounds import (
    BYTES,
    CORES,
    EPOCH,
    ERROR,
    INT64_MAX,
    NAME,
    PERCENT,
    SECONDS,
    SHORT,
    Figure,
    Items,
    Text,
    shown,
)
from fleetstat.errors import EnvelopeError
from fleetstat.model import Answer, Cpu, CpuMethod, Disk, Event, EventGap, HostInfo, Memory, Swap

VERSION = 1
T = TypeVar("T")

#: Deepest nesting of arrays and objects in an answer (the real agent's is 5).
MAX_DEPTH = 16
#: Largest event cursor, as JSON characters (it is stored and sent back next run).
MAX_CURSOR = 16 * 1024


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


# ---------------------------------------------------------------- sections


def read_host(obj: dict[str, Any], path: str) -> HostInfo:
    """The ``host`` section."""
    names = ("hostname", "os", "os_name", "os_version", "kernel", "arch", "python")
    values = {name: as_str(field(obj, name, path), path + name) for name in names}
    return HostInfo(**values)


def read_cpu(obj: dict[str, Any], path: str) -> Cpu:
    """The ``cpu`` section; ``percent`` is null when the agent did not measure it."""
    percent = as_opt_float(field(obj, "percent", path), path + "percent")
    interval = as_float(field(obj, "interval", path), path + "interval")
    return Cpu(
        percent=percent,
        count=as_int(field(obj, "count", path), path + "count"),
        interval=interval,
        busy=as_float(field(obj, "busy", path), path + "busy"),
        total=as_float(field(obj, "total", path), path + "total"),
        method=CpuMethod.NONE if percent is None else CpuMethod.INTERVAL,
        seconds=0.0 if percent is None else interval,
    )


def read_memory(obj: dict[str, Any], path: str) -> Memory:
    """The ``memory`` section (bytes)."""
    ints = {
        name: as_int(field(obj, name, path), path + name) for name in ("total", "available", "used")
    }
    return Memory(**ints, percent=as_float(field(obj, "percent", path), path + "percent"))


def read_swap(obj: dict[str, Any], path: str) -> Swap:
    """The ``swap`` section (bytes)."""
    ints = {name: as_int(field(obj, name, path), path + name) for name in ("total", "used", "free")}
    return Swap(**ints, percent=as_float(field(obj, "percent", path), path + "percent"))


def read_uptime(obj: dict[str, Any], path: str) -> tuple[float, datetime]:
    """The ``uptime`` section: (seconds, boot time)."""
    seconds = as_float(field(obj, "seconds", path), path + "seconds")
    return seconds, as_epoch(field(obj, "boot_time", path), path + "boot_time")


def read_load(value: Any) -> tuple[float, float, float] | None:
    """The ``load`` section: three averages, or None."""
    if value is None:
        return None
    items = as_list(value, "load")
    if len(items) != 3:
        raise wrong("load", f"must hold 3 numbers, not {len(items)}")
    one, five, fifteen = (as_float(v, f"load[{i}]") for i, v in enumerate(items))
    return one, five, fifteen


def read_disk(obj: dict[str, Any], path: str) -> Disk:
    """One entry of ``disks`` (bytes)."""

    def text(name: str) -> str:
        return as_str(field(obj, name, path), path + name)

    def size(name: str) -> int:
        return as_int(field(obj, name, path), path + name)

    return Disk(
        mount=text("mount"),
        device=text("device"),
        fstype=text("fstype"),
        total=size("total"),
        used=size("used"),
        free=size("free"),
        percent=as_float(field(obj, "percent", path), path + "percent"),
        error=as_opt_str(obj.get("error"), path + "error"),
    )


def read_disks(value: Any) -> tuple[Disk, ...]:
    """The ``disks`` section; empty when the agent sent null."""
    if value is None:
        return ()
    items = as_list(value, "disks")
    return tuple(read_disk(as_dict(v, f"disks[{i}]"), f"disks[{i}].") for i, v in enumerate(items))


def read_fields(value: Any, path: str) -> dict[str, Any]:
    """An event's raw name/value pairs: scalars only, text made safe."""
    raw = as_dict(value, path)
    fields: dict[str, Any] = {}
    for name, item in raw.items():
        fields[as_str(name, path + ".name")] = read_field_value(item, f"{path}.{clean(name, 64)}")
    return fields


def read_field_value(item: Any, path: str) -> Any:
    """One value of an event's ``fields``: text made safe, a finite 64-bit number, bool, null."""
    if isinstance(item, str):
        return as_str(item, "events.records[].fields.value")
    if isinstance(item, int | float) and not isinstance(item, bool):
        if not math.isfinite(item) or abs(item) > INT64_MAX:
            raise wrong(path, "must be a finite number within 64 bits")
    elif item is not None and not isinstance(item, bool):
        kind = type(item).__name__
        raise wrong(path, f"must be text, a number, true/false or null, not {kind}")
    return item


def read_event(obj: dict[str, Any], path: str) -> Event:
    """One record of ``events.records``."""
    strs = {
        name: as_str(field(obj, name, path), path + name)
        for name in ("source", "record_id", "event_id", "level", "message")
    }
    return Event(
        **strs,
        time=as_iso_time(field(obj, "time", path), path + "time"),
        user=as_opt_str(field(obj, "user", path), path + "user"),
        source_ip=as_opt_str(field(obj, "source_ip", path), path + "source_ip"),
        fields=read_fields(obj.get("fields", {}), path + "fields"),
        actor=as_opt_str(obj.get("actor"), path + "actor"),
        target=as_opt_str(obj.get("target"), path + "target"),
        own_session=as_bool(obj.get("own_session", False), path + "own_session"),
    )


def read_gap(obj: dict[str, Any], path: str) -> EventGap:
    """One entry of ``events.gaps``: log data that was gone."""
    return EventGap(
        source=as_str(field(obj, "source", path), path + "source"),
        file=as_str(field(obj, "file", path), path + "file"),
        bytes=as_opt_int(field(obj, "bytes", path), path + "bytes"),
        reason=as_str(field(obj, "reason", path), path + "reason"),
    )


def read_cursor(value: Any, path: str) -> dict[str, Any]:
    """The events cursor, kept as sent (the agent reads it back) but bounded in size."""
    cursor = as_dict(value, path)
    if len(json.dumps(cursor)) > MAX_CURSOR:
        raise wrong(path, f"is larger than {MAX_CURSOR} characters as JSON")
    return cursor


EventsSection = tuple[tuple[Event, ...], dict[str, Any], tuple[str, ...], tuple[EventGap, ...]]


def read_events(obj: dict[str, Any], path: str, max_events: int) -> EventsSection:
    """The ``events`` section: (records, cursor, resets, gaps); at most ``max_events``
    records."""
    records = as_list(field(obj, "records", path), path + "records")
    if len(records) > max_events:
        problem = f"holds {len(records)} records, more than max-events {max_events}"
        raise wrong(f"{path}records", problem)
    events = tuple(
        read_event(as_dict(r, f"{path}records[{i}]"), f"{path}records[{i}].")
        for i, r in enumerate(records)
    )
    cursor = read_cursor(field(obj, "cursor", path), path + "cursor")
    resets = as_list(obj.get("resets", []), path + "resets")
    gaps = as_list(obj.get("gaps", []), path + "gaps")
    return (
        events,
        cursor,
        tuple(as_str(r, f"{path}resets[{i}]") for i, r in enumerate(resets)),
        tuple(
            read_gap(as_dict(g, f"{path}gaps[{i}]"), f"{path}gaps[{i}].")
            for i, g in enumerate(gaps)
        ),
    )


def read_errors(value: Any) -> tuple[tuple[str, str], ...]:
    """The ``errors`` list as (part, message) pairs."""
    result = []
    for i, item in enumerate(as_list(value, "errors")):
        entry = as_dict(item, f"errors[{i}]")
        part = as_str(field(entry, "part", f"errors[{i}]."), f"errors[{i}].part")
        message = as_str(field(entry, "error", f"errors[{i}]."), f"errors[{i}].error")
        result.append((part, message))
    return tuple(result)


def read_figures(top: dict[str, Any]) -> dict[str, float]:
    """The plain figures of the metrics table (``metrics.PLAIN_COLUMNS``) by column name.

    Each is a number at ``section.name``, within its row's bounds; a section the agent
    sent as null (its part failed, named in ``errors``) leaves its figures out.
    """
    figures: dict[str, float] = {}
    for column in metrics.PLAIN_COLUMNS:
        name, key = column.path.split(".")
        part = field(top, name, "")
        if part is not None:
            value = field(as_dict(part, name), key, name + ".")
            figures[column.name] = as_number(value, column.path)
    return figures


# ---------------------------------------------------------------- the whole answer


def parse_answer(obj: Any, *, max_events: int = INT64_MAX) -> Answer:
    """A validated ``Answer`` from the decoded JSON of an agent's answer.

    Sections the agent sent as null (their part failed) become None, or empty for
    ``disks`` and ``events``. ``max_events`` is the most event records accepted (the
    request's ``max-events``). Raises ``EnvelopeError`` naming the first bad field.
    """
    if depth(obj) > MAX_DEPTH:
        raise wrong("the answer", f"nests more than {MAX_DEPTH} levels deep")
    top = as_dict(obj, "the answer")
    if top.get("v") != VERSION:
        raise wrong("v", f"must be {VERSION}, not {clean(repr(top.get('v')), 40)}")
    host = section(top, "host", read_host)
    if host is None:
        raise wrong("host", "must not be null")
    uptime = section(top, "uptime", read_uptime)
    events = section(top, "events", lambda o, p: read_events(o, p, max_events)) or ((), {}, (), ())
    return Answer(
        host=host,
        clock=as_epoch(field(top, "clock", ""), "clock"),
        cpu=section(top, "cpu", read_cpu),
        memory=section(top, "memory", read_memory),
        swap=section(top, "swap", read_swap),
        uptime=uptime[0] if uptime else None,
        boot_time=uptime[1] if uptime else None,
        load=read_load(field(top, "load", "")),
        disks=read_disks(field(top, "disks", "")),
        events=events[0],
        cursor=events[1],
        resets=events[2],
        errors=read_errors(field(top, "errors", "")),
        gaps=events[3],
        figures=read_figures(top),
    )
