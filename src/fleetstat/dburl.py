"""Database URLs: what can be checked before connecting, and a fix for the usual failures.

``check(url, where)`` finds an unknown kind of database or a driver that is not
installed without connecting, and says what was meant (``postgress://`` → did you
mean ``postgresql+psycopg://``). ``fix_for(err)`` turns the failures people meet when
connecting (no such database, wrong password, server down) into the line that fixes them.
"""

from __future__ import annotations

import difflib
import re

from fleetstat.errors import ConfigError

#: The kinds of database fleetstat supports, each with the driver its extras install.
DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
#: What people write for them (the old SQLAlchemy alias, other spellings).
ALIASES = {"postgres": "postgresql", "pg": "postgresql", "psql": "postgresql", "sqlite3": "sqlite"}
#: The extra of fleetstat that installs each driver.
EXTRAS = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}

EXAMPLES = (
    "sqlite:///fleetstat.db, postgresql+psycopg://USER@HOST/DB or mysql+pymysql://USER@HOST/DB"
)


def check(url: str, where: str) -> None:
    """Raise ``ConfigError`` (naming ``where``) unless ``url`` names a database we can drive.

    Loads the dialect and imports its driver; connects to nothing.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            where, None, "the database URL is not a URL", f"write {EXAMPLES}"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            where,
            None,
            f"unknown kind of database {parsed.drivername!r} in {shown}",
            _meant(parsed),
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        raise ConfigError(
            where,
            None,
            f"{parsed.drivername}:// needs the Python driver {err.name or 'of ' + backend}, "
            "which is not installed",
            _meant(parsed),
        ) from None
    if backend not in DRIVERS:
        raise ConfigError(
            where, None, f"fleetstat does not store into {backend} ({shown})", f"use {EXAMPLES}"
        )


def _meant(parsed: object) -> str:
    """``did you mean postgresql+psycopg://…`` for the URL ``parsed`` (a SQLAlchemy URL)."""
    from sqlalchemy.engine import URL

    assert isinstance(parsed, URL)
    backend = parsed.drivername.split("+")[0].lower()
    backend = ALIASES.get(backend, backend)
    if backend not in DRIVERS:
        close = difflib.get_close_matches(backend, [*DRIVERS, *ALIASES], n=1, cutoff=0.5)
        if not close:
            return f"write {EXAMPLES}"
        backend = ALIASES.get(close[0], close[0])
    driver = DRIVERS[backend]
    fixed = parsed.set(drivername=driver).render_as_string(hide_password=True)
    extra = (
        f" (installed by pip install 'fleetstat[{EXTRAS[backend]}]')" if backend in EXTRAS else ""
    )
    return f"did you mean {driver}://? that is {fixed}{extra}"


#: (pattern in the driver's message, the fix); ``{0}`` is the pattern's first group.
FIXES = (
    (
        r'database "([^"]+)" does not exist',
        "create it: createdb {0} (with -h/-p/-U as in the URL; or CREATE DATABASE {0}; in psql), "
        "then fleetstat db upgrade",
    ),
    (
        r"Unknown database '([^']+)'",
        "create it: mariadb -e 'CREATE DATABASE {0}' (with -h/-P/-u as in the URL), "
        "then fleetstat db upgrade",
    ),
    (
        r'password authentication failed for user "([^"]+)"|Access denied for user \'([^\']+)\'',
        "check the user and password in the URL (keep the URL in FLEETSTAT_DB, not on a command "
        "line) and that the server lets this user in",
    ),
    (
        r"(Connection refused|Can't connect to MySQL server|could not translate host name|"
        r"Name or service not known|timeout expired|No route to host)",
        "is the database server running and reachable? check the host and port in the URL, "
        "the server's listen address and the firewall",
    ),
)


def fix_for(err: BaseException) -> str | None:
    """The fix for a failure to use the database, from the driver's message; None if unknown."""
    text = " ".join(str(cause) for cause in _chain(err))
    for pattern, fix in FIXES:
        found = re.search(pattern, text)
        if found:
            return fix.format(*(group for group in found.groups() if group))
    return None


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or getattr(current, "orig", None)
    return seen
