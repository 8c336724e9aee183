"""``Settings`` from the XML's values with the ``FLEETSTAT_*`` environment on top."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetstat.config.attributes import (
    SETTINGS_ATTRS,
    SMTP_ATTRS,
    SMTP_DEFAULT_PORTS,
    SMTP_PASSWORD_ENV,
    SMTP_PASSWORD_FILE_ENV,
    Attr,
)
from fleetstat.core import dburl
from fleetstat.core.errors import ConfigError, Invalid
from fleetstat.core.model import Settings, SmtpSettings


def settings_from_env(environ: Mapping[str, str], base: Path | None = None) -> Settings:
    """Settings from defaults and ``FLEETSTAT_*`` alone; relative paths start at ``base``.

    ``base`` defaults to the current directory.
    """
    return _settings({}, {}, environ, "environment", base or Path.cwd())


def _settings(
    values: dict[str, Any],
    smtp: dict[str, Any],
    environ: Mapping[str, str],
    where: str,
    base: Path,
) -> Settings:
    """Settings from the XML's ``values`` and ``smtp`` (by field), with ``environ`` on top."""
    values = values | _from_env(SETTINGS_ATTRS, environ, where)
    smtp = smtp | _from_env(SMTP_ATTRS, environ, where)
    smtp["password"] = _smtp_password(environ, where)
    smtp.setdefault("port", SMTP_DEFAULT_PORTS[smtp.get("tls", "none")])
    values["db"] = sqlite_relative_to(values.get("db", Settings.db), base)
    own, *read_only = values.get("known_hosts", (Settings.known_hosts,))
    values["known_hosts"] = base / Path(own).expanduser()
    values["known_hosts_read_only"] = tuple(base / Path(p).expanduser() for p in read_only)
    if values.get("mail_templates") is not None:
        values["mail_templates"] = _template_folder(base / values["mail_templates"], where)
    if values.get("ssh_config") is not None:
        values["ssh_config"] = base / values["ssh_config"]
    values["keys_dir"] = base / values.get("keys_dir", Settings.keys_dir)
    return Settings(**values, smtp=SmtpSettings(**smtp))


def _template_folder(folder: Path, where: str) -> Path:
    """The ``mail-templates`` folder, which must exist."""
    if not folder.expanduser().is_dir():
        raise ConfigError(
            where,
            None,
            f"mail-templates {str(folder)!r} is not a folder",
            "give the folder that holds your alert.txt, digest.txt … (or leave it out)",
        )
    return folder.expanduser()


def _from_env(table: tuple[Attr, ...], environ: Mapping[str, str], where: str) -> dict[str, Any]:
    """The values of ``table``'s variables set (non-empty) in ``environ``."""
    values, problems = {}, []
    for attr in table:
        raw = environ.get(attr.env) if attr.env else None
        if not raw:
            continue
        try:
            values[attr.field] = attr.parse(raw)
        except Invalid as err:
            problems.append(ConfigError(where, None, f"{attr.env}={raw!r}: {err.problem}", err.fix))
    if problems:
        raise ConfigError.of(problems)
    return values


def _smtp_password(environ: Mapping[str, str], where: str) -> str | None:
    direct, file = environ.get(SMTP_PASSWORD_ENV), environ.get(SMTP_PASSWORD_FILE_ENV)
    if direct and file:
        raise ConfigError(
            where,
            None,
            f"both {SMTP_PASSWORD_ENV} and {SMTP_PASSWORD_FILE_ENV} are set",
            "set only one of them",
        )
    if not file:
        return direct or None
    try:
        return Path(file).read_text().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            where,
            None,
            f"{SMTP_PASSWORD_FILE_ENV}={file!r} cannot be read: {err}",
            "point it at a readable file holding the password",
        ) from err


def sqlite_relative_to(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file path made absolute under ``base``; others as given."""
    parsed = dburl.parse(url)
    database = parsed.database
    if parsed.backend != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:"):
        return url
    absolute = base / Path(database).expanduser()
    return str(dataclasses.replace(parsed, database=str(absolute)))
