"""The ASGI app of ``fleetstat serve``: its parts, its headers and its one error handler.

``create_app(settings)`` builds a FastAPI app with the pages (``pages``), the JSON API
under ``/api/`` (``api``, described at ``/api/openapi.json``) and ``/metrics``. The
database is opened read-only on first use (``Store.open_existing``); while there is
none, every page says how to make one. Every response carries a Content-Security-Policy
that allows scripts, styles and images from the app itself only.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fleetstat import __version__
from fleetstat.core.errors import FleetstatError, NoDatabase, StoreError
from fleetstat.store import Store
from fleetstat.web import filters
from fleetstat.web.auth import Sessions
from fleetstat.web.render import render

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class WebSettings:
    """What the app needs: the database URL, the admin password, the config (None: the
    clients page is read-only off), and where to listen. ``tls`` is (certificate, key)
    files to serve HTTPS with; ``trusted_proxies`` the addresses whose ``X-Forwarded-*``
    headers are believed (a TLS proxy in front: then the cookie is ``Secure``)."""

    db: str
    password: str
    config: Path | None
    host: str = "127.0.0.1"
    port: int = 8470
    tls: tuple[Path, Path] | None = None
    trusted_proxies: tuple[str, ...] = ()
    #: Seconds without a request after which a session ends (``web-session-idle``).
    session_idle: float = 8 * 3600.0


class Database:
    """The store, opened on first use and again after ``NoDatabase``: read-only for the
    pages, and writable for the logins (``store.logins``) alone."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stores: dict[bool, Store] = {}
        self._lock = threading.Lock()

    def _store(self, readonly: bool) -> Store:
        with self._lock:
            if readonly not in self._stores:
                self._stores[readonly] = Store.open_existing(self.url, readonly=readonly)
            return self._stores[readonly]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session; NoDatabase while there is no fleetstat database at the URL."""
        with self._store(readonly=True).read_session() as session:
            yield session

    @contextmanager
    def logins(self) -> Iterator[Session]:
        """A session that may write the logins' tables, in one transaction."""
        with self._store(readonly=False).session() as session:
            yield session

    def close(self) -> None:
        """Close the pooled connections."""
        for store in self._stores.values():
            store.close()


def create_app(settings: WebSettings) -> FastAPI:
    """The whole web app for ``settings``."""
    from fleetstat.web import api, metrics, pages

    app = FastAPI(
        title="fleetstat",
        version=__version__,
        description="The fleet's latest figures, charts, attempts, security events and alerts. "
        "Every path takes HTTP basic auth (user `admin`) or the page's session cookie.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = Database(settings.db)
    app.state.sessions = Sessions(settings.password, app.state.db, settings.session_idle)
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(metrics.router)
    app.include_router(pages.router)
    app.middleware("http")(security_headers)
    # The fleet table of 1,000 hosts is 2 MB of repetitive HTML: gzip makes it ~8 times
    # smaller. The session cookie is SameSite=Strict, so a cross-site page cannot make
    # the browser fetch a logged-in page to measure its compressed size (BREACH).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    _handle_errors(app)
    app.router.add_event_handler("shutdown", app.state.db.close)
    return app


def templates() -> Jinja2Templates:
    """The page templates, autoescaping every value."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    filters.install(env)
    env.globals["version"] = __version__
    return Jinja2Templates(env=env)


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Add the CSP and the other security headers to every response."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def wants_json(request: Request) -> bool:
    """True for the API, /metrics and clients that ask for JSON."""
    path = request.url.path
    return path.startswith(("/api/", "/metrics")) or "json" in request.headers.get("accept", "")


def _handle_errors(app: FastAPI) -> None:
    """The one place that turns errors into responses."""

    @app.exception_handler(NoDatabase)
    async def no_database(request: Request, err: NoDatabase) -> Response:
        return _error(request, 503, "No fleetstat database yet", str(err))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, err: StoreError) -> Response:
        return _error(request, 503, "The database cannot be read", str(err))

    @app.exception_handler(FleetstatError)
    async def fleetstat_error(request: Request, err: FleetstatError) -> Response:
        return _error(request, 400, "That did not work", str(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> Response:
        if err.status_code == 401 and not wants_json(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        headers = dict(err.headers or {})
        if wants_json(request):
            return JSONResponse({"detail": err.detail}, err.status_code, headers=headers)
        return _error(request, err.status_code, str(err.detail), "", headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, err: RequestValidationError) -> Response:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in err.errors()
        ]
        if wants_json(request):
            return JSONResponse({"detail": problems}, 422)
        text = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        return _error(request, 422, "The address asks for something invalid", text)


def _error(
    request: Request, status: int, title: str, text: str, headers: dict[str, str] | None = None
) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": text or title}, status, headers=headers)
    return render(request, "error.html", {"title": title, "text": text}, status, headers)
