"""Running the app under uvicorn: in the foreground (``serve``) or beside ``watch``."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fleetstat.web import clientedit
from fleetstat.web.app import HERE, WebSettings, create_app
from fleetstat.web.auth import WebError

DEFAULT_LISTEN = "127.0.0.1:8470"
#: Seconds ``serving`` waits for the server to listen.
START_TIMEOUT = 10.0
VENDOR_SCRIPT = HERE / "static" / "vendor" / "uPlot.iife.min.js"


def parse_listen(text: str) -> tuple[str, int]:
    """(host, port) from ``127.0.0.1:8470``, ``[::1]:8470`` or ``:8470`` (loopback)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise WebError(f"--listen {text!r}: give HOST:PORT, like {DEFAULT_LISTEN}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def in_clear_beyond_loopback(settings: WebSettings) -> bool:
    """True when the page listens beyond loopback with neither TLS nor a trusted proxy: the
    password and the session cookie would cross the network in clear."""
    if settings.tls or settings.trusted_proxies:
        return False
    if settings.host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(settings.host).is_loopback
    except ValueError:  # a host name: whatever it resolves to
        return True


def _config(settings: WebSettings) -> uvicorn.Config:
    if settings.config is not None and settings.config.parent.is_dir():
        clientedit.tidy(settings.config)  # what an edit killed midway left
    if not VENDOR_SCRIPT.is_file():
        raise WebError(
            f"the chart library is missing ({VENDOR_SCRIPT}): reinstall fleetstat, or run "
            "`python3 tools/vendor_uplot.py` in its source tree"
        )
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        ssl_certfile=str(settings.tls[0]) if settings.tls else None,
        ssl_keyfile=str(settings.tls[1]) if settings.tls else None,
        server_header=False,
        access_log=False,
    )


def serve(settings: WebSettings) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 at a clean stop."""
    server = uvicorn.Server(_config(settings))
    server.run()
    return 0 if server.started else 1


@contextmanager
def serving(settings: WebSettings) -> Iterator[uvicorn.Server]:
    """Serve in a thread of this process (for ``watch --serve``) until the block ends."""
    server = uvicorn.Server(_config(settings))
    thread = threading.Thread(target=server.run, name="fleetstat-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        raise WebError(f"the web page could not listen on {settings.host}:{settings.port}")
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
