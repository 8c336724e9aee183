"""Reading a decrypted agent answer (schema version 1) into ``model.Answer``.

``parse_answer`` takes the JSON object as decoded and either returns the frozen
dataclasses of ``model`` or raises ``EnvelopeError`` naming the field that is
missing or of the wrong type (``cpu.percent``, ``events.records[3].time``). Epoch
seconds become aware UTC datetimes; event times (ISO 8601 with ``Z``) likewise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fleetstat.errors import EnvelopeError
from fleetstat.model import Answer, Cpu, CpuMethod, Disk, Event, EventGap, HostInfo, Memory, Swap

VERSION = 1
T = TypeVar("T")


def wrong(path: str, problem: str) -> EnvelopeError:
    """The error for one bad field of the answer."""
    return EnvelopeError(f"agent answer: {path} {problem}")


def field(obj: dict[str, Any], name: str, path: str) -> Any:
    """``obj[name]``, or an error naming ``path.name`` when it is missing."""
    if name not in obj:
        raise wrong(f"{path}{name}", "is missing")
    return obj[name]


def as_dict(value: Any, path: str) -> dict[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, dict):
        raise wrong(path, f"must be an object, not {type(value).__name__}")
    return value


def as_list(value: Any, path: str) -> list[Any]:
    """``value`` when it is a JSON array."""
    if not isinstance(value, list):
        raise wrong(path, f"must be an array, not {type(value).__name__}")
    return value


def as_str(value: Any, path: str) -> str:
    """``value`` when it is a string."""
    if not isinstance(value, str):
        raise wrong(path, f"must be a string, not {type(value).__name__}")
    return value


def as_opt_str(value: Any, path: str) -> str | None:
    """``value`` when it is a string or null."""
    return None if value is None else as_str(value, path)


def as_int(value: Any, path: str) -> int:
    """``value`` when it is a whole number (not a boolean)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise wrong(path, f"must be a whole number, not {type(value).__name__}")
    return value


def as_float(value: Any, path: str) -> float:
    """``value`` as a float when it is a finite number (not a boolean)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise wrong(path, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise wrong(path, "must be a finite number")
    return float(value)


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
    """Unix epoch seconds as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(as_float(value, path), tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise wrong(path, f"is not a usable time: {err}") from err


def as_iso_time(value: Any, path: str) -> datetime:
    """An ISO 8601 UTC time (``2026-11-27T12:00:00.123456Z``) as an aware datetime."""
    text = as_str(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise wrong(path, f"is not an ISO 8601 time: {text!r}") from err
    if moment.tzinfo is None:
        raise wrong(path, f"has no time zone: {text!r}")
    return moment.astimezone(UTC)


def section(obj: dict[str, Any], name: str, read: Callable[[dict[str, Any], str], T]) -> T | None:
    """``read`` of the section ``name``, or None when the agent sent null for it."""
    value = field(obj, name, "")
    if value is None:
        return None
    return read(as_dict(value, name), name + ".")


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
        fields=as_dict(obj.get("fields", {}), path + "fields"),
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


EventsSection = tuple[tuple[Event, ...], dict[str, Any], tuple[str, ...], tuple[EventGap, ...]]


def read_events(obj: dict[str, Any], path: str) -> EventsSection:
    """The ``events`` section: (records, cursor, resets, gaps)."""
    records = as_list(field(obj, "records", path), path + "records")
    events = tuple(
        read_event(as_dict(r, f"{path}records[{i}]"), f"{path}records[{i}].")
        for i, r in enumerate(records)
    )
    cursor = as_dict(field(obj, "cursor", path), path + "cursor")
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


# ---------------------------------------------------------------- the whole answer


def parse_answer(obj: Any) -> Answer:
    """A validated ``Answer`` from the decoded JSON of an agent's answer.

    Sections the agent sent as null (their part failed) become None, or empty for
    ``disks`` and ``events``. Raises ``EnvelopeError`` naming the first bad field.
    """
    top = as_dict(obj, "the answer")
    if top.get("v") != VERSION:
        raise wrong("v", f"must be {VERSION}, not {top.get('v')!r}")
    host = section(top, "host", read_host)
    if host is None:
        raise wrong("host", "must not be null")
    uptime = section(top, "uptime", read_uptime)
    events = section(top, "events", read_events) or ((), {}, (), ())
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
    )
