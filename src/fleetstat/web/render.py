"""Rendering a page: the template, the session's CSRF token and the session cookie."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleetstat.web.auth import Sessions


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``template`` with ``context``, the CSRF token, the login state (as the route's guard
    found it: rendering never reads the database) and ``now`` (UTC)."""
    sessions: Sessions = request.app.state.sessions
    full = {
        "csrf": sessions.csrf(request),
        "logged_in": getattr(request.state, "account", None) is not None,
        "now": datetime.now(UTC),
        "path": request.url.path,
        **context,
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, full, status_code=status, headers=headers
    )
    sessions.keep(request, response)
    return response
