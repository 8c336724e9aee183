"""Values a database refuses, named: why a host's answer became ``store_refused``.

A client can send values that are valid JSON but that a database cannot hold: a NUL
byte (PostgreSQL text), more than 65,535 bytes in a ``TEXT`` column (MariaDB), an
integer past the column's width. ``find`` names the first such value of the rows a
result would write; ``is_refusal`` tells such a refusal from a database that is away.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, Text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from fleetstat.store.models import Base

#: Longest error text an attempt keeps, in characters.
ERROR_LEN = 2000
#: Bytes a MariaDB/MySQL ``TEXT`` column holds.
MARIADB_TEXT_BYTES = 65_535

_BITS = {BigInteger: 64, Integer: 32}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def is_refusal(err: BaseException) -> bool:
    """True when ``err`` says the database refused a value (not that it is away).

    A data or constraint error of the database, or a value the driver could not even
    send (SQLAlchemy's ``StatementError`` around it, or the driver's own ``ValueError``).
    """
    if isinstance(err, (DataError, IntegrityError)):
        return True
    if isinstance(err, DBAPIError):
        return False
    return isinstance(err, (StatementError, ValueError, OverflowError))


def find(dialect: str, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> str | None:
    """The first value of ``rows`` (table → rows) that ``dialect`` cannot hold, named."""
    for table, table_rows in rows.items():
        columns = Base.metadata.tables[table].c
        for row in table_rows:
            for name, value in row.items():
                problem = _problem(dialect, columns[name].type, value)
                if problem:
                    return f"{table}.{name} {problem}"
    return None


def _problem(dialect: str, kind: Any, value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        bits = next((b for t, b in _BITS.items() if isinstance(kind, t)), 64)
        if dialect == "sqlite":
            bits = 64
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            return f"= {_short(str(value))} does not fit in {bits} bits"
    if isinstance(value, float) and not math.isfinite(value) and dialect != "postgresql":
        return f"= {value} is not a finite number"
    if isinstance(value, str):
        return _text_problem(dialect, kind, value)
    return None


def _text_problem(dialect: str, kind: Any, value: str) -> str | None:
    if "\x00" in value and dialect == "postgresql":
        return "holds a NUL byte"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "holds a lone surrogate, not valid UTF-8"
    if dialect in ("mysql", "mariadb") and isinstance(kind, Text) and size > MARIADB_TEXT_BYTES:
        return f"is {size:,} bytes, more than a TEXT column holds ({MARIADB_TEXT_BYTES:,})"
    return None


def clean(text: str | None) -> str | None:
    """``text`` safe for any database and terminal: no control characters, at most 2000."""
    if text is None:
        return None
    text = _CONTROL.sub("?", text)
    return text if len(text) <= ERROR_LEN else text[: ERROR_LEN - 1] + "…"


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:20] + "…" + text[-8:]
