"""``fleetstat serve``: the fleet on a web page, a JSON API and ``/metrics``.

A thin reader (like the CLI's ``hosts`` and ``history``): it opens the database
read-only, renders server-side templates with autoescaping, and changes nothing but
the XML config (the clients page). Parts: ``app`` (the ASGI app, headers, errors),
``auth`` and ``guard`` (login, sessions, CSRF), ``pages`` and ``clientpages`` (HTML),
``api`` (JSON), ``metrics`` (Prometheus), ``clientedit`` (the XML change), ``serve``
(uvicorn). The queries are ``store.browse`` and ``store.series``.
"""

from __future__ import annotations

from fleetstat.web.app import WebSettings, create_app
from fleetstat.web.auth import WebError, password_from_env
from fleetstat.web.serve import in_clear_beyond_loopback, parse_listen, serve, serving

__all__ = ["WebError", "WebSettings", "create_app", "in_clear_beyond_loopback", "parse_listen",
           "password_from_env", "serve", "serving"]  # fmt: skip
