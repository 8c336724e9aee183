"""``fleetstat serve``: the fleet on a web page, a JSON API and /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target

if TYPE_CHECKING:
    from fleetstat import web
    from fleetstat.core.model import Settings

DEFAULT_LISTEN = "127.0.0.1:8470"


@common.command(
    cli,
    "serve",
    "the fleet on a web page, a JSON API and /metrics for Prometheus",
    "Serves the fleet page, each host's charts, attempts, security events and alerts, a form "
    "to add and remove clients of --config, a JSON API under /api/ and /metrics. It reads the "
    "database (writing only its own sessions and failed logins) and never creates one. Log "
    "in as admin with the password of FLEETSTAT_WEB_PASSWORD or FLEETSTAT_WEB_PASSWORD_FILE "
    "(12 characters or more); without one it does not start. Listens on loopback unless "
    "told otherwise.",
    [
        "FLEETSTAT_WEB_PASSWORD_FILE=~/.fleetstat-web fleetstat serve --config clients.xml",
        "curl -u admin http://127.0.0.1:8470/metrics",
    ],
)
@common.target_options()
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    metavar="HOST:PORT",
    help=f"where to listen (default {DEFAULT_LISTEN})",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="serve HTTPS with this certificate (PEM; give --tls-key too)",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="the certificate's private key (PEM)",
)
@click.option(
    "--trusted-proxy",
    "trusted",
    multiple=True,
    metavar="ADDRESS",
    help="a TLS proxy in front (nginx, Caddy) whose X-Forwarded-Proto and -For are "
    "believed; may be given again. Then the session cookie is Secure",
)
def serve(
    target: Target,
    listen: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    trusted: tuple[str, ...],
) -> int:
    from dataclasses import replace

    from fleetstat import web

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    settings = web_settings(listen, target.settings(), target.config_path)
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    settings = replace(settings, tls=tls, trusted_proxies=trusted)
    if web.in_clear_beyond_loopback(settings):
        click.echo(
            f"fleetstat: warning: listening on {settings.host} without TLS: the password "
            "and the session cookie cross the network in clear; give --tls-cert and "
            "--tls-key, or put a TLS proxy in front (--trusted-proxy)",
            err=True,
        )
    click.echo(f"fleetstat: serving {url_of(settings)} (user admin)", err=True)
    return web.serve(settings)


def web_settings(listen: str, loaded: Settings, config_path: Path | None) -> web.WebSettings:
    """The web page's settings: ``listen``, the database and session idle time of
    ``loaded``, the config, the password."""
    import os

    from fleetstat import web

    password = web.password_from_env(os.environ)
    host, port = web.parse_listen(listen)
    return web.WebSettings(
        db=loaded.db,
        password=password,
        config=config_path,
        host=host,
        port=port,
        session_idle=loaded.web_session_idle,
    )


def url_of(settings: web.WebSettings) -> str:
    """The page's address, as a browser takes it."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    scheme = "https" if settings.tls else "http"
    return f"{scheme}://{host}:{settings.port}/"
