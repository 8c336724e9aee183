"""The HTML pages: login, fleet, host, alerts and events (with CSV); the clients page is in
``clientpages``. Pages are rendered on the server; ``static/app.js`` only refreshes the
fleet table and draws the charts from the JSON API."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from fleetstat.alerting import silences
from fleetstat.store import alert_states, browse
from fleetstat.store import silences as stored_silences
from fleetstat.web import clientpages, query
from fleetstat.web.auth import USER, client_address
from fleetstat.web.guard import page_login, sessions_of, too_early
from fleetstat.web.render import render

router = APIRouter(include_in_schema=False)
logged_in = [Depends(page_login)]
Text = query.Text

#: Events per page, and the most rows one CSV download holds.
PER_PAGE = 50
CSV_LIMIT = 100_000


# ---------------------------------------------------------------- login


@router.get("/login")
def login_page(request: Request, next: Text = "/") -> Response:
    """The login form."""
    return render(request, "login.html", {"next": _local(next), "error": ""})


@router.post("/login")
def login(
    request: Request,
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=200)] = "/",
) -> Response:
    """Check the password (constant time, counted against the account and the address)
    and start a session."""
    sessions = sessions_of(request)
    if not sessions.csrf_ok(request, csrf):
        return render(request, "login.html", {"next": _local(next), "error": _STALE}, 400)
    attempt = sessions.attempt(USER, password, client_address(request))
    if attempt.wait:
        error = too_early(attempt).detail.capitalize() + "."
        headers = {"Retry-After": attempt.retry_after}
        return render(request, "login.html", {"next": _local(next), "error": error}, 429, headers)
    if not attempt.right:
        error = "Wrong password. Try again."
        return render(request, "login.html", {"next": _local(next), "error": error}, 401)
    response = RedirectResponse(_local(next), status_code=303)
    sessions.begin(request, response, USER)
    return response


_STALE = "This form was too old or came from elsewhere. Please send it again."


@router.post("/logout", dependencies=logged_in)
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session in every process (the form's CSRF token is required)."""
    sessions = sessions_of(request)
    if not sessions.csrf_ok(request, csrf):
        raise HTTPException(403, _STALE)
    response = RedirectResponse("/login", status_code=303)
    sessions.end(request, response)
    return response


def _local(target: str) -> str:
    """``target`` when it is a path of this site, else ``/`` (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


# ---------------------------------------------------------------- fleet


def _fleet(
    request: Request, sort: query.Sort, order: str, q: str, outcome: str
) -> dict[str, object]:
    with request.app.state.db.session() as session:
        rows = browse.fleet(session, datetime.now(UTC))
    shown = query.sort_rows(query.filter_rows(rows, q, outcome), sort, order == "desc")
    return {
        "rows": shown,
        "total": len(rows),
        "sort": sort.value,
        "order": order,
        "q": q,
        "outcome": outcome,
        "outcomes": query.OUTCOME_CHOICES,
        "failing": sum(1 for row in rows if row.last_outcome != "ok"),
    }


Order = Annotated[str, Query(pattern="^(asc|desc)$")]
OutcomeChoice = Annotated[str, Query(max_length=40)]


@router.get("/", dependencies=logged_in)
def fleet_page(
    request: Request,
    *,
    sort: query.Sort = query.Sort.NAME,
    order: Order = "asc",
    q: Text = "",
    outcome: OutcomeChoice = "all",
) -> Response:
    """Every host, sortable and filtered; the table refreshes itself from ``/fleet/rows``
    (its ETag in the page, so the first refresh is already a 304 when nothing changed)."""
    tag = _fleet_tag(request, sort, order, q, outcome)
    return render(request, "fleet.html", {**_fleet(request, sort, order, q, outcome), "tag": tag})


@router.get("/fleet/rows", dependencies=logged_in)
def fleet_rows(
    request: Request,
    *,
    sort: query.Sort = query.Sort.NAME,
    order: Order = "asc",
    q: Text = "",
    outcome: OutcomeChoice = "all",
) -> Response:
    """The fleet table's body alone, for the page's refresh; 304 when nothing changed
    since the ``ETag`` the browser sends back in ``If-None-Match``."""
    tag = _fleet_tag(request, sort, order, q, outcome)
    if tag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers={"ETag": tag})
    context = _fleet(request, sort, order, q, outcome)
    summary = f"{context['total']} hosts, {context['failing']} not ok"
    headers = {"X-Fleet-Summary": summary, "ETag": tag}
    return render(request, "fleet_rows.html", context, headers=headers)


#: The fleet table is made again at least this often (its 24 h windows move on).
TABLE_TTL = 60


def _fleet_tag(request: Request, *asked: str) -> str:
    """The weak ETag of the fleet table asked for: the fleet's version, the query and
    the minute (events and sparklines cover the last 24 h, so time changes them too)."""
    with request.app.state.db.session() as session:
        version = browse.fleet_version(session)
    minute = int(datetime.now(UTC).timestamp()) // TABLE_TTL
    key = repr((version, minute, asked)).encode()
    return f'W/"{hashlib.sha256(key).hexdigest()[:24]}"'


def _tags(header: str) -> set[str]:
    """The ETags of an ``If-None-Match`` header, each written weak (comparison is weak)."""
    return {f"W/{tag.strip().removeprefix('W/')}" for tag in header.split(",") if tag.strip()}


# ---------------------------------------------------------------- host


Events = Annotated[query.EventQuery, Depends()]


@router.get("/hosts/{key}", dependencies=logged_in)
def host_page(
    request: Request,
    *,
    key: str,
    wanted: Events,
    range: query.RangeName = query.RangeName["24h"],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """One host: details, charts, attempts, security events (filtered, paged), alerts."""
    if not query.plausible_key(key):  # a NUL or a novel: no host is called that
        raise HTTPException(404, "no such host in the database")
    now = datetime.now(UTC)
    start, end = query.window(now, range.value, None, None)
    with request.app.state.db.session() as session:
        host = browse.host(session, key)
        if host is None:
            raise HTTPException(404, f"no host {key!r} in the database")
        context = {
            "host": host,
            "range": range.value,
            "ranges": list(query.RANGES),
            "start": start,
            "end": end,
            "attempts": browse.attempts(session, host.host_id, start, end, limit=500),
            "events": browse.events(session, wanted.filter(host.host_id), page, PER_PAGE),
            "show_host": False,
            "filters": wanted.form(),
            "alerts": alert_states.of_host(session, host.host_id),
            "transitions": browse.transitions(session, host.host_id, limit=50),
        }
    return render(request, "host.html", context)


# ---------------------------------------------------------------- alerts

#: How far back the alerts page shows the silences that ended.
ENDED_SINCE = timedelta(days=7)


@router.get("/alerts", dependencies=logged_in)
def alerts_page(request: Request) -> Response:
    """What fires and is pending across the fleet now (and which silence covers it), the
    silences in force, to come and ended in the last week, and the recent transitions."""
    now = datetime.now(UTC)
    with request.app.state.db.session() as session:
        active = alert_states.active(session)
        quiet = stored_silences.in_force(session, now)
        context = {
            "active": [(row, silences.silenced_by(row, quiet)) for row in active],
            "silences": stored_silences.listed(session, now),
            "ended": stored_silences.ended(session, now, now - ENDED_SINCE),
            "transitions": browse.transitions(session, limit=200),
        }
    return render(request, "alerts.html", context)


# ---------------------------------------------------------------- events


def _event_filter(request: Request, wanted: query.EventQuery) -> browse.EventFilter:
    """The store's filter of ``wanted``; an unknown host matches no event."""
    host_id = None
    if wanted.host:
        with request.app.state.db.session() as session:
            found = browse.host(session, wanted.host)
        host_id = found.host_id if found else -1
    return wanted.filter(host_id)


@router.get("/events", dependencies=logged_in)
def events_page(
    request: Request, wanted: Events, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    """The fleet's security events, searched and paged, with a CSV download."""
    chosen = _event_filter(request, wanted)
    with request.app.state.db.session() as session:
        found = browse.events(session, chosen, page, PER_PAGE)
    context = {"events": found, "filters": wanted.form(), "show_host": True}
    return render(request, "events.html", context)


@router.get("/events.csv", dependencies=logged_in)
def events_csv(request: Request, wanted: Events) -> Response:
    """The matching events as CSV (newest first, at most ``CSV_LIMIT`` rows)."""
    chosen = _event_filter(request, wanted)
    with request.app.state.db.session() as session:
        rows = browse.events(session, chosen, 1, CSV_LIMIT).rows
    headers = {"Content-Disposition": 'attachment; filename="fleetstat-events.csv"'}
    return StreamingResponse(_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


def _csv(rows: list[browse.EventRow]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "host", "address", "source", "kind", "level", "user", "source_ip",
                     "message"])  # fmt: skip
    for row in rows:
        writer.writerow([
            row.time.strftime("%Y-%m-%dT%H:%M:%SZ"), *(_cell(v) for v in (
                row.host, row.address, row.source, row.kind, row.level, row.user,
                row.source_ip, row.message)),
        ])  # fmt: skip
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _cell(value: str | None) -> str:
    """A client's text as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


router.include_router(clientpages.router)
