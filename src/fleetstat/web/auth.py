"""Who may see the fleet: one admin password, signed session cookies, CSRF tokens.

The password comes from ``FLEETSTAT_WEB_PASSWORD`` or ``FLEETSTAT_WEB_PASSWORD_FILE``,
never from the XML. Every comparison is constant-time (``hmac.compare_digest``). A
session is a cookie signed with a key made at start-up (a restart logs everyone out):
``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind HTTPS. Every session, logged in or
not, carries a CSRF token that every form posts back. A failed login (form or HTTP
basic auth) is answered only after a delay that doubles with each failure from the same
address, up to ``MAX_DELAY`` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from fleetstat.config.attributes import WEB_PASSWORD_ENV, WEB_PASSWORD_FILE_ENV
from fleetstat.core.errors import FleetstatError

PASSWORD_ENV = WEB_PASSWORD_ENV
PASSWORD_FILE_ENV = WEB_PASSWORD_FILE_ENV
#: The variables ``serve`` reads, with what each holds (the docs test reads this table).
ENV = {
    PASSWORD_ENV: "the web page's admin password (user `admin`)",
    PASSWORD_FILE_ENV: "a file whose content (trailing newline dropped) is that password",
}
USER = "admin"
COOKIE = "fleetstat_session"
#: Seconds a session lasts after login.
SESSION_AGE = 12 * 3600
#: Seconds of the first failed login's delay, and the most any delay grows to.
FIRST_DELAY = 0.5
MAX_DELAY = 8.0
#: Seconds after which an address's failures are forgotten.
FAILURE_MEMORY = 900.0


class WebError(FleetstatError):
    """``serve`` cannot start as asked (no password, a bad ``--listen``)."""

    exit_code = 2


HOW_TO_SET = (
    f"set {PASSWORD_ENV} in serve's environment, or {PASSWORD_FILE_ENV} to a file that "
    "holds it (mode 600), e.g.\n"
    f"  umask 077; openssl rand -base64 18 > ~/.fleetstat-web && "
    f"{PASSWORD_FILE_ENV}=~/.fleetstat-web fleetstat serve --config clients.xml"
)


def password_from_env(environ: Mapping[str, str]) -> str:
    """The admin password from the environment; WebError saying how to set one otherwise."""
    direct, file = environ.get(PASSWORD_ENV), environ.get(PASSWORD_FILE_ENV)
    if direct and file:
        raise WebError(f"both {PASSWORD_ENV} and {PASSWORD_FILE_ENV} are set: set only one")
    if file:
        try:
            direct = Path(file).expanduser().read_text().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as err:
            raise WebError(f"{PASSWORD_FILE_ENV}={file!r} cannot be read: {err}") from err
    if not direct:
        raise WebError(f"the web page needs an admin password and none is set\n  fix: {HOW_TO_SET}")
    return direct


def same(given: str, expected: str) -> bool:
    """True when ``given`` equals ``expected``; the time taken does not tell where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Throttle:
    """Failed logins by client address: (count, time of the last) — the delay grows with count."""

    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def delay(self, address: str, now: float) -> float:
        """Seconds to wait before answering the next failed login from ``address``."""
        count, last = self.failures.get(address, (0, 0.0))
        if now - last > FAILURE_MEMORY:
            count = 0
        return float(min(FIRST_DELAY * 2**count, MAX_DELAY))

    async def failed(self, address: str) -> None:
        """Note a failure of ``address`` and wait its delay."""
        now = time.monotonic()
        wait = self.delay(address, now)
        count, last = self.failures.get(address, (0, 0.0))
        self.failures[address] = (0 if now - last > FAILURE_MEMORY else count) + 1, now
        if len(self.failures) > 10_000:
            self.failures.clear()
        await asyncio.sleep(wait)

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self.failures.pop(address, None)


class Sessions:
    """Signed session cookies holding ``{"csrf": token, "user": "admin"?}``."""

    def __init__(self, password: str, key: bytes | None = None) -> None:
        self.password = password
        self._signer = URLSafeTimedSerializer(key or secrets.token_bytes(32), salt="session")
        self.throttle = Throttle()

    def read(self, request: Request) -> dict[str, Any]:
        """The request's session; a fresh one (no user, a new CSRF token) when absent or bad."""
        raw = request.cookies.get(COOKIE, "")
        try:
            data = self._signer.loads(raw, max_age=SESSION_AGE) if raw else None
        except BadSignature:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            data = {"csrf": secrets.token_urlsafe(24)}
        return data

    def write(self, request: Request, response: Response, data: dict[str, Any]) -> None:
        """Set the session cookie of ``data`` on ``response``."""
        response.set_cookie(
            COOKIE,
            self._signer.dumps(data),
            max_age=SESSION_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    def logged_in(self, request: Request) -> bool:
        """True when the request carries a logged-in session."""
        return self.read(request).get("user") == USER

    def basic_auth_ok(self, request: Request) -> bool | None:
        """True/False for a request with HTTP basic credentials; None when it has none."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return same(user, USER) & same(password, self.password)

    def csrf_ok(self, request: Request, token: str | None) -> bool:
        """True when ``token`` (from the posted form) is the session's CSRF token."""
        return bool(token) and same(token or "", self.read(request)["csrf"])


def client_address(request: Request) -> str:
    """The peer's address, for the failed-login delay."""
    return request.client.host if request.client else "unknown"
