"""The clients' secrets, read when a pass connects, not when a config is loaded.

``hosts``, ``history``, ``db upgrade``, ``mail flush`` and ``check-config`` load the
config without the variables that ``password-env`` names; only a pass needs them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from fleetstat.core.errors import ConfigError
from fleetstat.core.model import Client, Config


def with_passwords(config: Config, environ: Mapping[str, str] = os.environ) -> Config:
    """``config`` with every ``password-env`` read from ``environ``.

    Raises ``ConfigError`` (the file and the client's line) for a variable unset or empty.
    """
    if not any(client.password_env for client in config.clients):
        return config
    clients = tuple(_with_password(config, client, environ) for client in config.clients)
    return replace(config, clients=clients)


def _with_password(config: Config, client: Client, environ: Mapping[str, str]) -> Client:
    name = client.password_env
    if not name:
        return client
    password = environ.get(name)
    if not password:
        raise ConfigError(
            str(config.path),
            client.line or None,
            f"password-env names {name}, which is not set (or empty)",
            f"set {name} in fleetstat's environment, or use keyfile",
        )
    return replace(client, password=password)
