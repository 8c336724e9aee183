"""The clients page: the config's clients, a form to add one, a button to remove one.

Validation and the XML change are ``clientedit``'s; this module turns the form into a
``NewClient`` and the outcome into a page. A password is never sent back to the browser:
after an error its field is empty and says to type it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fleetstat import config
from fleetstat.core.errors import ConfigError
from fleetstat.core.model import Client, Settings
from fleetstat.web import clientedit
from fleetstat.web.guard import page_login, sessions_of
from fleetstat.web.render import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_login)])
Field = Annotated[str, Form(max_length=1024)]


def _config_path(request: Request) -> Path | None:
    path: Path | None = request.app.state.settings.config
    return path


@dataclass(frozen=True)
class _Read:
    """What the page shows of the config: its clients (no secret) or why it does not
    load, the digest of the bytes read (an edit from the page names it), its keys-dir."""

    clients: list[dict[str, str]]
    error: str = ""
    digest: str = ""
    keys_dir: Path = Settings.keys_dir
    env_prefix: str = Settings.client_env_prefix


def _read(path: Path | None) -> _Read:
    if path is None:
        return _Read([])
    try:
        data = path.read_bytes()
        loaded = config.parse(data, path, os.environ, path.stat().st_mode)
    except OSError as err:
        return _Read([], f"cannot read {path}: {err.strerror}")
    except ConfigError as err:
        return _Read([], str(err), clientedit.digest(data), path.parent / Settings.keys_dir)
    listed = [_listed(client) for client in loaded.clients]
    settings = loaded.settings
    return _Read(listed, "", clientedit.digest(data), settings.keys_dir, settings.client_env_prefix)


def _listed(client: Client) -> dict[str, str]:
    if client.keyfile:
        login = "key file"
    elif client.password:
        login = "password"
    else:
        login = "ssh-agent or default keys"
    return {
        "name": client.label,
        "address": client.address,
        "username": client.username,
        "login": login,
        "mail": ", ".join(client.mail),
        "alerts": ", ".join(
            f"{rule.key} > {rule.limit:g}{' per core' if rule.type == 'load' else '%'}"
            for rule in client.alerts
        ),
    }


def _page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    general: str = "",
    notice: str = "",
    status: int = 200,
) -> Response:
    path = _config_path(request)
    read = _read(path)
    context = {
        "digest": read.digest,
        "keys_dir": str(read.keys_dir),
        "env_prefix": read.env_prefix,
        "config_path": str(path) if path else "",
        "clients": read.clients,
        "load_error": read.error,
        "values": values or {"port": "22", "auth": "password"},
        "errors": errors or {},
        "general": general,
        "notice": notice,
        "alert_types": clientedit.alert_types(),
        "auth_choices": clientedit.AUTH_CHOICES,
    }
    return render(request, "clients.html", context, status)


@router.get("/clients")
def clients_page(request: Request, added: str = "", removed: str = "") -> Response:
    """The clients of the config and the add form."""
    notice = ""
    if added:
        notice = f"Added {added[:100]}. The next pass collects from it."
    elif removed:
        notice = f"Removed {removed[:100]} from the config."
    return _page(request, notice=notice)


@router.post("/clients")
async def add_client(request: Request) -> Response:
    """Validate the form with the config's own checks; write the client or show the errors."""
    form = await request.form()
    values = {key: str(value)[:1024] for key, value in form.items() if isinstance(value, str)}
    _check_csrf(request, values.get("csrf", ""))
    path = _require_config(request)
    alerts = {kind: values.get(f"alert_{kind}", "") for kind in clientedit.alert_types()}
    new = clientedit.NewClient(values=values, auth=values.get("auth", "password"), alerts=alerts)
    try:
        clientedit.add(path, new, os.environ, read=values.get("digest", ""))
    except clientedit.FormError as err:
        shown = {
            key: value for key, value in values.items() if key not in ("password", "csrf", "digest")
        }
        status = 409 if isinstance(err, clientedit.Conflict) else 422
        return _page(request, values=shown, errors=err.fields, general=err.general, status=status)
    label = values.get("name") or values.get("ip", "")
    return RedirectResponse(f"/clients?added={label}", status_code=303)


@router.post("/clients/remove")
def remove_client(
    request: Request, address: Field = "", csrf: Field = "", digest: Field = ""
) -> Response:
    """Remove the client ``address`` (``ip:port``) from the config."""
    _check_csrf(request, csrf)
    path = _require_config(request)
    try:
        clientedit.remove(path, address, os.environ, read=digest)
    except clientedit.FormError as err:
        status = 409 if isinstance(err, clientedit.Conflict) else 422
        return _page(request, general=err.general or str(err), status=status)
    return RedirectResponse(f"/clients?removed={address}", status_code=303)


def _check_csrf(request: Request, token: str) -> None:
    if not sessions_of(request).csrf_ok(request, token):
        raise HTTPException(403, "This form was too old or came from elsewhere: reload the page.")


def _require_config(request: Request) -> Path:
    path = _config_path(request)
    if path is None:
        raise HTTPException(409, "serve was started without --config: clients cannot be changed")
    return path
