"""The login checks the routes depend on: the page session, or HTTP basic auth for scripts."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.requests import Request

from fleetstat.web.auth import Sessions, client_address

BASIC = {"WWW-Authenticate": 'Basic realm="fleetstat", charset="UTF-8"'}


def sessions_of(request: Request) -> Sessions:
    """The app's session keeper."""
    sessions: Sessions = request.app.state.sessions
    return sessions


async def page_login(request: Request) -> None:
    """Let a logged-in session through; otherwise 401 (the error handler sends to /login)."""
    if not sessions_of(request).logged_in(request):
        raise HTTPException(401, "log in first")


async def api_login(request: Request) -> None:
    """Let a logged-in session or right basic credentials through; a wrong password waits."""
    sessions = sessions_of(request)
    basic = sessions.basic_auth_ok(request)
    if basic:
        sessions.throttle.succeeded(client_address(request))
        return
    if basic is False:
        await sessions.throttle.failed(client_address(request))
        raise HTTPException(401, "wrong user or password", headers=BASIC)
    if not sessions.logged_in(request):
        raise HTTPException(401, "log in, or send HTTP basic auth (user admin)", headers=BASIC)
