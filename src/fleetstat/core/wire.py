"""Model values as plain JSON data and back: one way for the spool and the broker.

``encode`` turns a model value (a frozen dataclass, tuple, datetime, enum, path …) into
lists, dicts, strings and numbers; ``decode(kind, data)`` makes the value of type
``kind`` again from them. A host result travels without its client
(``encode_result``): the client holds secrets, and the side that reads the result back
has its own (``decode_result``).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetstat.core.model import Client, HostResult


def encode(value: Any) -> Any:
    """``value`` as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return _plain(value)


def decode(kind: Any, data: Any) -> Any:
    """The value of type ``kind`` that ``encode`` made ``data`` from.

    A dataclass field missing from ``data`` takes its default (data written before the
    field existed); a key that names no field is ignored.
    """
    if data is None:
        return None
    if typing.get_origin(kind) in (types.UnionType, typing.Union, tuple):
        return _generic(kind, data)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return kind(**_fields(kind, data))
    return _scalar(kind, data)


def encode_result(result: HostResult) -> dict[str, Any]:
    """A host result as JSON data, without its client (which holds secrets)."""
    return {
        f.name: encode(getattr(result, f.name))
        for f in dataclasses.fields(result)
        if f.name != "client"
    }


def decode_result(data: dict[str, Any], client: Client) -> HostResult:
    """The host result ``encode_result`` made, for ``client``."""
    values = {key: value for key, value in data.items() if key != "client"}
    return HostResult(client=client, **_fields(HostResult, values))


def _fields(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(kind)
    names = {f.name for f in dataclasses.fields(kind) if f.init}
    return {key: decode(hints[key], value) for key, value in data.items() if key in names}


def _generic(kind: Any, data: Any) -> Any:
    """``data`` as an optional (``X | None``) or a tuple of ``kind``."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is not tuple:
        return decode(next(a for a in args if a is not type(None)), data)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(decode(args[0], item) for item in data)
    return tuple(decode(a, item) for a, item in zip(args, data, strict=True))


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _scalar(kind: Any, data: Any) -> Any:
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is Path:
        return Path(data)
    if kind is float and isinstance(data, int):
        return float(data)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    return data
