"""Reading and validating the server's XML config.

Two roots are accepted: a single ``<client>`` (the original "seed" format) or
``<clients>`` holding many ``<client>``, ``<group>`` (defaults for the clients inside
it) and at most one ``<settings>``. Every attribute
and setting is declared once, as data, in the tables of ``attributes``; parsing, the
``FLEETSTAT_*`` environment overrides and the documentation test all read them.
Every mistake is a ``ConfigError`` with the file, the line and a fix; one read raises
all the mistakes of a file together.

The parts: ``tree`` reads the XML with line numbers, ``values`` holds the pure value
parsers (they raise ``Invalid``), ``attributes`` the declarations, ``build`` turns the
tree into the model at the right line (``source`` notes each problem and the checks
every element gets), ``settings`` lays the environment on top, ``sshconfig`` reads an
OpenSSH client config, ``show`` says where each value of a client came from.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from fleetstat.config.attributes import (
    ALERT_ATTRS,
    CHILDREN,
    CLIENT_ATTRS,
    ELEMENTS,
    ENV_ONLY,
    GROUP_ATTRS,
    SETTINGS_ATTRS,
    SMTP_ATTRS,
    SMTP_DEFAULT_PORTS,
    SMTP_PASSWORD_ENV,
    SMTP_PASSWORD_FILE_ENV,
    Attr,
    env_names,
)
from fleetstat.config.build import Built, build, parse
from fleetstat.config.secrets import unreadable, with_passwords
from fleetstat.config.settings import settings_from_env, sqlite_relative_to
from fleetstat.config.show import find, show
from fleetstat.config.tree import Node, parse_tree
from fleetstat.config.values import _duration
from fleetstat.core import dburl
from fleetstat.core.errors import ConfigError, Invalid
from fleetstat.core.model import Config

__all__ = [
    "ALERT_ATTRS",
    "CHILDREN",
    "CLIENT_ATTRS",
    "ELEMENTS",
    "ENV_ONLY",
    "GROUP_ATTRS",
    "SETTINGS_ATTRS",
    "SMTP_ATTRS",
    "SMTP_DEFAULT_PORTS",
    "SMTP_PASSWORD_ENV",
    "SMTP_PASSWORD_FILE_ENV",
    "Attr",
    "Built",
    "Config",
    "Invalid",
    "Node",
    "build",
    "check",
    "describe",
    "env_names",
    "find",
    "load",
    "load_built",
    "parse",
    "parse_duration",
    "parse_tree",
    "settings_from_env",
    "show",
    "sqlite_relative_to",
    "unreadable",
    "with_passwords",
]


def load(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Read, validate and return the config at ``path``; ``FLEETSTAT_*`` in ``environ`` win.

    Every problem of the file is raised at once (``ConfigErrors`` when there are several).
    """
    return load_built(path, environ).config


def load_built(path: Path, environ: Mapping[str, str] = os.environ) -> Built:
    """``load``, keeping where each client's values came from (for ``show``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
        _only_its_owner_writes(path)
    except OSError as err:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the config: {err.strerror}",
            "check the path and its permissions",
        ) from err
    return build(data, path, environ, mode)


#: Who besides its owner may write a file, by its group and other write bits.
_WRITERS = {
    stat.S_IWGRP: "its group",
    stat.S_IWOTH: "others",
    stat.S_IWGRP | stat.S_IWOTH: "group and others",
}


def _only_its_owner_writes(path: Path) -> None:
    """ConfigError when anyone but its owner may change the config: it says where every
    login goes and which secrets are read. The same for its folder (a sticky one, like
    ``/tmp``, lets nobody replace another's file)."""
    for target, what in ((path, "the config"), (path.resolve().parent, "the config's folder")):
        info = target.stat()
        sticky = target != path and info.st_mode & stat.S_ISVTX
        who = None if sticky else _WRITERS.get(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
        if who:
            raise ConfigError(
                str(path),
                None,
                f"{what} {target} is writable by {who} (mode {stat.filemode(info.st_mode)}): "
                "whoever can change it can send every login and secret elsewhere",
                f"run chmod go-w {target}",
            )


def check(path: Path, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The warnings for the config at ``path`` (raises ConfigError if it does not load)."""
    return list(load(path, environ).warnings)


def describe(config: Config) -> str:
    """One paragraph: how many clients and rules, the database, the SMTP server."""
    clients, settings, smtp = config.clients, config.settings, config.settings.smtp
    labels = ", ".join(client.label for client in clients[:5])
    more = f" and {len(clients) - 5} more" if len(clients) > 5 else ""
    rules = sum(len(client.alerts) for client in clients)
    mailed = len({address for client in clients for address in client.mail})
    db = dburl.shown(settings.db)
    login = f" as {smtp.user}" if smtp.user else ""
    groups = len({client.group for client in clients if client.group})
    grouped = f" in {_count(groups, 'group')}" if groups else ""
    return (
        f"{config.path}: {_count(len(clients), 'client')} ({labels}{more}){grouped} with "
        f"{_count(rules, 'alert rule')}; database {db}; mail from {smtp.sender} to "
        f"{_count(mailed, 'address', 'addresses')} through {smtp.host}:{smtp.port} "
        f"(tls {smtp.tls}){login}; {settings.concurrency} clients at a time, "
        f"{settings.timeout:g}s per client, host keys {settings.host_keys}."
    )


def _count(number: int, word: str, plural: str = "") -> str:
    return f"{number} {word if number == 1 else plural or word + 's'}"


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h``, ``1d``; ConfigError names ``what``."""
    try:
        return _duration(text)
    except Invalid as err:
        raise ConfigError(what, None, err.problem, err.fix) from None
