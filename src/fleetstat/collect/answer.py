"""Reading a decrypted agent answer (schema version 1) into validated ``model.Answer`` values.

A client holds its request key, so a valid token proves nothing about its content:
``parse_answer`` checks every value against one table, ``limits.LIMITS``, before anything is
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
from datetime import datetime
from typing import Any

from fleetstat.agent import meanings
from fleetstat.collect.limits import (
    MAX_DEPTH,
    as_bool,
    as_dict,
    as_epoch,
    as_float,
    as_int,
    as_iso_time,
    as_list,
    as_number,
    as_opt_float,
    as_opt_int,
    as_opt_str,
    as_str,
    clean,
    depth,
    field,
    section,
    wrong,
)
from fleetstat.core import metrics
from fleetstat.core.bounds import (
    INT64_MAX,
    MAX_CURSOR,
)
from fleetstat.core.model import (
    Answer,
    Cpu,
    CpuMethod,
    Disk,
    Event,
    EventGap,
    HostInfo,
    Memory,
    Swap,
)

VERSION = 1

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
        category=meanings.category(strs["event_id"]),
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
