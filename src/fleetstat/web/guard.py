"""The login checks the routes depend on: the page session, or HTTP basic auth for scripts.

Both are plain functions: FastAPI runs them in its thread pool, as they read the database.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.requests import Request

from fleetstat.web.auth import Attempt, Sessions, client_address

BASIC = {"WWW-Authenticate": 'Basic realm="fleetstat", charset="UTF-8"'}


def sessions_of(request: Request) -> Sessions:
    """The app's session keeper."""
    sessions: Sessions = request.app.state.sessions
    return sessions


def page_login(request: Request) -> None:
    """Let a logged-in session through; otherwise 401 (the error handler sends to /login)."""
    if sessions_of(request).account(request) is None:
        raise HTTPException(401, "log in first")


def api_login(request: Request) -> None:
    """Let a logged-in session or right basic credentials through; a wrong password counts
    against its account and address, and a try sent too early is 429."""
    sessions = sessions_of(request)
    credentials = sessions.basic_credentials(request)
    if credentials is None:
        if sessions.account(request) is None:
            raise HTTPException(401, "log in, or send HTTP basic auth (user admin)", headers=BASIC)
        return
    attempt = sessions.attempt(*credentials, client_address(request))
    if attempt.wait:
        raise too_early(attempt)
    if not attempt.right:
        raise HTTPException(401, "wrong user or password", headers=BASIC)


def too_early(attempt: Attempt) -> HTTPException:
    """The 429 of a login try sent before its account or address may try again."""
    return HTTPException(
        429,
        f"too many failed logins from this address or for this account: try again in "
        f"{attempt.retry_after} s",
        headers={"Retry-After": attempt.retry_after},
    )
