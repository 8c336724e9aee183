"""Who may see the fleet: one admin password, sessions kept in the database, CSRF tokens.

The password comes from ``FLEETSTAT_WEB_PASSWORD`` or ``FLEETSTAT_WEB_PASSWORD_FILE``,
never from the XML, and has at least ``MIN_PASSWORD`` characters. Every comparison is
constant-time (``hmac.compare_digest``).

A browser's session cookie is a random token. A logged-in session is a row of
``web_sessions`` under the token's SHA-256, shared by every ``serve`` process: logout
deletes it; a password change ends it (the row holds an HMAC of the password keyed by
the token, which only the browser has); so does ``web-session-idle`` without a request.
Every session, logged in or not, has a CSRF token (an HMAC of its cookie) that every form
posts back.

Failed logins — the form and HTTP basic auth alike — are counted in the database per
account and per client address (``store.logins``): past a few, each further try of that
account or address must wait, longer each time; one sent too early is answered 429
without its password being looked at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fleetstat.config.attributes import WEB_PASSWORD_ENV, WEB_PASSWORD_FILE_ENV
from fleetstat.core.errors import FleetstatError
from fleetstat.store import logins

PASSWORD_ENV = WEB_PASSWORD_ENV
PASSWORD_FILE_ENV = WEB_PASSWORD_FILE_ENV
#: The variables ``serve`` reads, with what each holds (the docs test reads this table).
ENV = {
    PASSWORD_ENV: "the web page's admin password (user `admin`, at least 12 characters)",
    PASSWORD_FILE_ENV: "a file whose content (trailing newline dropped) is that password",
}
USER = "admin"
COOKIE = "fleetstat_session"
#: Fewest characters of the admin password.
MIN_PASSWORD = 12
#: Seconds a browser keeps the cookie; the session in the database ends sooner when idle.
COOKIE_AGE = 30 * 86400
#: Seconds between two notes of a session's use (its idle time counts from the last one).
SEEN_EVERY = 60.0
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


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
    if len(direct) < MIN_PASSWORD:
        raise WebError(
            f"the web page's admin password has {len(direct)} characters; it needs at least "
            f"{MIN_PASSWORD} (it is all that stands between the network and the fleet)\n"
            f"  fix: {HOW_TO_SET}"
        )
    return direct


def same(given: str, expected: str) -> bool:
    """True when ``given`` equals ``expected``; the time taken does not tell where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


class Attempt(NamedTuple):
    """What a login try came to: ``wait`` > 0 — too early, the password was not looked at
    (try again in that many seconds); else ``right`` says whether it was right."""

    right: bool
    wait: float = 0.0

    @property
    def retry_after(self) -> str:
        """``wait`` in whole seconds, for the Retry-After header and the message."""
        return str(max(1, math.ceil(self.wait)))


class Sessions:
    """The logins of one app: its password, its database (``Database.logins``), the idle
    time that ends a session (seconds)."""

    def __init__(self, password: str, db: LoginsDatabase, idle: float) -> None:
        self.password = password
        self._db = db
        self.idle = idle

    # ------------------------------------------------------------ the cookie

    def token(self, request: Request) -> str:
        """The request's session token: its cookie's, or a new one (set by ``keep``)."""
        token = getattr(request.state, "token", None)
        if token is None:
            token = request.cookies.get(COOKIE, "")
            if not _TOKEN.fullmatch(token):
                token = secrets.token_urlsafe(32)
                request.state.new_token = True
            request.state.token = token
        return str(token)

    def csrf(self, request: Request) -> str:
        """The CSRF token of the request's session."""
        return _tag(self.token(request), "csrf")

    def csrf_ok(self, request: Request, token: str | None) -> bool:
        """True when ``token`` (from the posted form) is the session's CSRF token."""
        return bool(token) and same(token or "", self.csrf(request))

    def keep(self, request: Request, response: Response) -> None:
        """Set the cookie of a session this request began."""
        if getattr(request.state, "new_token", False):
            _set_cookie(request, response, self.token(request))

    # ------------------------------------------------------------ logged in

    def account(self, request: Request) -> str | None:
        """The account the request's session is logged in as; None when it is not."""
        if hasattr(request.state, "account"):
            return request.state.account  # type: ignore[no-any-return]
        request.state.account = self._account(request)
        return request.state.account  # type: ignore[no-any-return]

    def _account(self, request: Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        if not _TOKEN.fullmatch(token):
            return None
        key, now = _digest(token), datetime.now(UTC)
        with self._db.logins() as session:
            row = logins.find(session, key)
        if row is None:
            return None
        idle = (now - row.last_seen_at).total_seconds()
        if idle > self.idle or not same(row.password_tag, _tag(token, self.password)):
            with self._db.logins() as session:
                logins.end(session, key)
            return None
        if idle > SEEN_EVERY:
            with self._db.logins() as session:
                logins.seen(session, key, now)
        return row.account

    def attempt(self, account: str, password: str, address: str) -> Attempt:
        """Try ``account`` and ``password`` from ``address``, counted against both."""
        names = logins.subjects(account, address, (USER,))

        def check() -> bool:
            return same(account, USER) & same(password, self.password)

        with self._db.logins() as session:
            right, wait = logins.settle(session, names, lambda: datetime.now(UTC), check)
        return Attempt(right, wait)

    def begin(self, request: Request, response: Response, account: str) -> None:
        """Log the browser in as ``account`` under a fresh token (never the one it had)."""
        token = secrets.token_urlsafe(32)
        with self._db.logins() as session:
            logins.start(
                session, _digest(token), account, _tag(token, self.password),
                datetime.now(UTC), self.idle,
            )  # fmt: skip
        _set_cookie(request, response, token)

    def end(self, request: Request, response: Response) -> None:
        """Log the request's session out, in every process, and drop its cookie."""
        token = request.cookies.get(COOKIE, "")
        if _TOKEN.fullmatch(token):
            with self._db.logins() as session:
                logins.end(session, _digest(token))
        response.delete_cookie(COOKIE, path="/")

    # ------------------------------------------------------------ scripts

    @staticmethod
    def basic_credentials(request: Request) -> tuple[str, str] | None:
        """(user, password) of the request's HTTP basic auth; None without; ("", "") when
        the header cannot be read."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return user, password


class LoginsDatabase(Protocol):
    """Where the logins are kept: ``web.app.Database``."""

    def logins(self) -> AbstractContextManager[Session]:
        """A session that may write the logins' tables, in one transaction."""
        ...


def _digest(token: str) -> str:
    """The key a session is stored under: the SHA-256 of its token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _tag(token: str, text: str) -> str:
    """An HMAC of ``text`` keyed by a session's ``token``."""
    return hmac.new(token.encode(), text.encode(), hashlib.sha256).hexdigest()


def _set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def client_address(request: Request) -> str:
    """The peer's address, for the count of failed logins."""
    return request.client.host if request.client else "unknown"
