"""The clients' secrets, read when a pass connects, not when a config is loaded.

``hosts``, ``history``, ``db upgrade``, ``mail flush`` and ``check-config`` load the
config without the variables that ``password-env`` names; only a pass needs them. A
variable that is unset is the problem of its client alone: that client ends the pass as
``config_error`` (``Client.secret_error`` says why and how to fix it), the others are
collected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from fleetstat.core.model import Client, Config


def with_passwords(config: Config, environ: Mapping[str, str] = os.environ) -> Config:
    """``config`` with every ``password-env`` read from ``environ``; a client whose
    variable is unset or empty gets its ``secret_error`` instead (the file, its line, the
    fix)."""
    if not any(client.password_env for client in config.clients):
        return config
    clients = tuple(_with_password(config, client, environ) for client in config.clients)
    return replace(config, clients=clients)


def unreadable(config: Config, environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Why each client whose secret cannot be read here cannot (``secret_error``)."""
    read = with_passwords(config, environ)
    return tuple(client.secret_error for client in read.clients if client.secret_error)


def _with_password(config: Config, client: Client, environ: Mapping[str, str]) -> Client:
    name = client.password_env
    if not name:
        return client
    password = environ.get(name)
    if not password:
        where = f"{config.path}:{client.line}" if client.line else str(config.path)
        why = (
            f"{where}: password-env names {name}, which is not set (or empty) in fleetstat's "
            f"environment — fix: set {name} where fleetstat runs, or use keyfile"
        )
        return replace(client, password=None, secret_error=why)
    return replace(client, password=password, secret_error=None)
