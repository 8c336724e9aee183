"""The time: one function for now, passed in wherever a decision depends on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: What gives the current time, aware, in UTC (tests pass a frozen one).
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
