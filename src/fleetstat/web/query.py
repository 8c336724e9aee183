"""What a page or API call asks for: a time window, the fleet's sort and filter, an
events search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import HTTPException, Query

from fleetstat.core.model import Outcome
from fleetstat.store.browse import EventFilter, FleetRow

Text = Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$")]
When = Annotated[str, Query(max_length=40)]

#: The chart ranges the host page offers.
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
          "30d": timedelta(days=30)}  # fmt: skip
RangeName = StrEnum("RangeName", {name: name for name in RANGES})  # type: ignore[misc]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def aware(when: datetime | None) -> datetime | None:
    """``when`` in UTC; a time without a zone is taken as UTC; clamped to 1970-9000."""
    if when is None:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return min(max(when, EARLIEST), LATEST)


def parse_time(text: str, what: str) -> datetime | None:
    """The UTC time a form field holds (ISO 8601, like ``2026-12-01T18:04``); None when
    empty; ValueError naming ``what`` when it is not a time."""
    if not text.strip():
        return None
    try:
        return aware(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a time like 2026-12-01T18:04") from None


def window(
    now: datetime, range_name: str | None, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """[start, end) from ``from``/``to`` when given, else the last ``range_name`` (24 h)."""
    end = aware(end) or now
    span = RANGES.get(range_name or "24h", RANGES["24h"])
    start = aware(start) or max(end - span, EARLIEST)
    if start >= end:
        start = max(end - timedelta(seconds=1), EARLIEST)
    return start, end


class Sort(StrEnum):
    """The fleet table's sortable columns."""

    NAME = "name"
    ADDRESS = "address"
    OS = "os"
    OUTCOME = "outcome"
    LAST = "last"
    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    LOAD = "load"
    UPTIME = "uptime"
    ALERTS = "alerts"
    EVENTS = "events"


KEYS: dict[Sort, Callable[[FleetRow], Any]] = {
    Sort.NAME: lambda r: r.name.lower(),
    Sort.ADDRESS: lambda r: r.address,
    Sort.OS: lambda r: (r.os_name or "").lower(),
    Sort.OUTCOME: lambda r: r.last_outcome or "",
    Sort.LAST: lambda r: r.last_attempt_at or EARLIEST,
    Sort.CPU: lambda r: r.cpu_percent,
    Sort.MEMORY: lambda r: r.mem_percent,
    Sort.DISK: lambda r: r.disk_percent,
    Sort.LOAD: lambda r: r.load1,
    Sort.UPTIME: lambda r: r.uptime_seconds,
    Sort.ALERTS: lambda r: r.firing,
    Sort.EVENTS: lambda r: r.events_24h,
}


#: The outcome filter: every host, those not ok, or those of one outcome.
OUTCOME_CHOICES = ("all", "failing", *(o.value for o in Outcome))


def sort_rows(rows: list[FleetRow], sort: Sort, descending: bool) -> list[FleetRow]:
    """``rows`` by ``sort``; hosts without the figure always come last."""
    key = KEYS[sort]
    known = [row for row in rows if key(row) is not None]
    unknown = [row for row in rows if key(row) is None]
    return sorted(known, key=key, reverse=descending) + unknown


def filter_rows(rows: list[FleetRow], text: str, outcome: str) -> list[FleetRow]:
    """The rows whose name, address, hostname or OS holds ``text`` (any case) and whose
    last outcome matches ``outcome`` (``all``, ``failing`` or an outcome's name)."""
    needle = text.strip().lower()
    found = []
    for row in rows:
        haystack = " ".join(filter(None, (row.name, row.address, row.hostname, row.os_name)))
        if needle and needle not in haystack.lower():
            continue
        if outcome == "failing" and row.last_outcome == "ok":
            continue
        if outcome not in ("all", "failing") and row.last_outcome != outcome:
            continue
        found.append(row)
    return found


@dataclass(frozen=True)
class EventQuery:
    """The event filters of a page's address (``Depends()`` reads them from the query
    string): host (name, address or id), kind or event id, user, source IP, a part of
    the message, and ``since``/``until`` as the form's UTC times."""

    host: Text = ""
    kind: Text = ""
    user: Text = ""
    source_ip: Text = ""
    text: Text = ""
    since: When = ""
    until: When = ""

    def filter(self, host_id: int | None) -> EventFilter:
        """The store's filter for these fields, of host ``host_id`` (None: every host);
        422 when a time is not one."""
        return EventFilter(
            host_id=host_id, kind=self.kind, user=self.user, source_ip=self.source_ip,
            text=self.text, since=_time(self.since, "from"), until=_time(self.until, "to"),
        )  # fmt: skip

    def form(self) -> dict[str, str]:
        """The fields as the filter form shows them again (times as ``datetime-local``)."""
        return {"host": self.host, "kind": self.kind, "user": self.user,
                "source_ip": self.source_ip, "text": self.text,
                "since": form_time(self.since), "until": form_time(self.until)}  # fmt: skip


def form_time(text: str) -> str:
    """A time as the ``datetime-local`` input shows it (UTC); empty when not a time."""
    try:
        when = parse_time(text, "time")
    except ValueError:
        return ""
    return when.strftime("%Y-%m-%dT%H:%M") if when else ""


def _time(text: str, what: str) -> datetime | None:
    """The time of a filter field; 422 with the reason when it is not one."""
    try:
        return parse_time(text, what)
    except ValueError as err:
        raise HTTPException(422, str(err)) from None


#: The longest host key (id, ``ip:port`` or name) a page looks up.
MAX_KEY = 255


def plausible_key(key: str) -> bool:
    """True when ``key`` could name a host: not too long, no NUL (which PostgreSQL refuses
    in any text, so a lookup would fail instead of finding nothing)."""
    return 0 < len(key) <= MAX_KEY and "\x00" not in key
