"""The JSON API under ``/api/``: hosts, a host's samples, attempts and events, alerts.

Every call takes the page's session cookie or HTTP basic auth (``admin``). Times are
ISO 8601; a time without a zone is UTC. Its OpenAPI description is ``/api/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel
from starlette.requests import Request

from fleetstat.store import alert_states, browse, series
from fleetstat.store import silences as stored_silences
from fleetstat.store.silences import SilenceRow
from fleetstat.web import query
from fleetstat.web.guard import api_login


class Problem(BaseModel):
    """An error: what went wrong, in words."""

    detail: str


router = APIRouter(
    prefix="/api",
    tags=["fleet"],
    dependencies=[Depends(api_login)],
    responses={
        401: {"model": Problem, "description": "no session and no (right) basic auth"},
        503: {"model": Problem, "description": "no fleetstat database, or it cannot be read"},
    },
)
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no host with that id, address or name"}
}

HostKey = Annotated[
    str, Path(description="the host's id, address (ip:port) or name", max_length=query.MAX_KEY,
              pattern=r"^[^\x00/]+$"),
]  # fmt: skip
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
FromTime = Annotated[datetime | None, Query(alias="from", description="start (default: range)")]
ToTime = Annotated[datetime | None, Query(alias="to", description="end (default: now)")]


def _host(request: Request, key: str) -> browse.HostDetail:
    with request.app.state.db.session() as session:
        found = browse.host(session, key)
    if found is None:
        raise HTTPException(404, f"no host {key!r}")
    return found


@router.get("/hosts", summary="every host with its latest figures and 24 h sparklines")
def hosts(request: Request) -> list[browse.FleetRow]:
    """Every host: last outcome, latest cpu, memory, swap, fullest disk, load, uptime,
    firing alerts, security events in 24 h, and 24 hourly points of cpu, memory, disk, load."""
    with request.app.state.db.session() as session:
        return browse.fleet(session, datetime.now(UTC))


@router.get("/hosts/{key}", summary="one host's details", responses=NOT_FOUND)
def host(request: Request, key: HostKey) -> browse.HostDetail:
    """The host's address, OS, kernel, Python, and when it was first seen and last answered."""
    return _host(request, key)


@router.get(
    "/hosts/{key}/samples", summary="a host's charts, bucketed on the server", responses=NOT_FOUND
)
def samples(
    request: Request,
    *,
    key: HostKey,
    start: FromTime = None,
    end: ToTime = None,
    step: Annotated[int | None, Query(ge=1, le=31_536_000, description="seconds")] = None,
    range: query.RangeName = query.RangeName["24h"],
) -> series.HostSeries:
    """Averages per bucket of ``step`` seconds (widened to keep ≤ 1,000 points) of cpu,
    memory and swap (percent), load1/5/15, and each filesystem's percent used."""
    found = _host(request, key)
    begin, finish = query.window(datetime.now(UTC), range.value, start, end)
    with request.app.state.db.session() as session:
        return series.host_series(session, found.host_id, begin, finish, step=step)


@router.get("/hosts/{key}/attempts", summary="a host's attempts, newest first", responses=NOT_FOUND)
def attempts(
    request: Request,
    *,
    key: HostKey,
    start: FromTime = None,
    end: ToTime = None,
    range: query.RangeName = query.RangeName["24h"],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[browse.Attempt]:
    """Each attempt's outcome, error and duration (seconds) in the window."""
    found = _host(request, key)
    begin, finish = query.window(datetime.now(UTC), range.value, start, end)
    with request.app.state.db.session() as session:
        return browse.attempts(session, found.host_id, begin, finish, limit)


@router.get("/events", summary="security events of the fleet, newest first, paged")
def events(
    request: Request,
    *,
    host: Text = None,
    kind: Text = None,
    user: Text = None,
    source_ip: Text = None,
    text: Text = None,
    start: FromTime = None,
    end: ToTime = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> browse.EventPage:
    """Events matching every given filter (``kind``: event id or kind; ``text``: part of
    the message); ``more`` says whether another page follows."""
    host_id = None
    if host:
        with request.app.state.db.session() as session:
            found = browse.host(session, host)
        host_id = found.host_id if found else -1
    wanted = browse.EventFilter(
        host_id=host_id, kind=kind, user=user, source_ip=source_ip, text=text,
        since=query.aware(start), until=query.aware(end),
    )  # fmt: skip
    with request.app.state.db.session() as session:
        return browse.events(session, wanted, page, per_page)


@dataclass(frozen=True)
class Alerts:
    """Alert states firing or pending now, the silences in force or to come, and the
    newest transitions."""

    active: list[alert_states.AlertRow]
    silences: list[SilenceRow]
    transitions: list[browse.TransitionRow]


@router.get("/alerts", summary="what fires and is pending now, silences, recent transitions")
def alerts(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Alerts:
    """Firing and pending states across the fleet, the silences in force or to come, and
    the newest ``limit`` transitions."""
    now = datetime.now(UTC)
    with request.app.state.db.session() as session:
        return Alerts(
            alert_states.active(session),
            stored_silences.listed(session, now),
            browse.transitions(session, limit=limit),
        )
