"""Database URLs: what can be checked before connecting, and a fix for the usual failures.

``parse(url)`` splits a URL into the parts SQLAlchemy reads
(``drivername://user:password@host:port/database?query``) with the standard library,
so that loading and checking a config need not import SQLAlchemy (0.2 s of every
``check-config``); the store hands the URL itself to SQLAlchemy to connect.
``check(url, where)`` finds an unknown kind of database or a driver that is not
installed without connecting, and says what was meant (``postgress://`` → did you
mean ``postgresql+psycopg://``). ``fix_for(err)`` turns the failures people meet when
connecting (no such database, wrong password, server down) into the line that fixes them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import re
import urllib.parse

from fleetstat.core.errors import ConfigError

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
#: The Python module of each driver in ``DRIVERS`` (SQLite's ``sqlite`` means pysqlite).
DBAPI_MODULES = {
    "sqlite": "sqlite3",
    "sqlite+pysqlite": "sqlite3",
    "postgresql+psycopg": "psycopg",
    "mysql+pymysql": "pymysql",
    "mariadb+pymysql": "pymysql",
}

_NAME = re.compile(r"[\w+]+")


@dataclasses.dataclass(frozen=True)
class Url:
    """A database URL in the parts SQLAlchemy reads; ``str()`` gives it back whole."""

    drivername: str
    netloc: str  # user:password@host:port, as written
    database: str | None
    query: str

    @property
    def backend(self) -> str:
        """The kind of database: ``postgresql`` of ``postgresql+psycopg``."""
        return self.drivername.split("+")[0]

    def shown(self) -> str:
        """The URL with its password, if any, as ``***``: fit to print."""
        user, at, place = self.netloc.rpartition("@")
        if at and ":" in user:
            return str(dataclasses.replace(self, netloc=f"{user.split(':', 1)[0]}:***@{place}"))
        return str(self)

    def __str__(self) -> str:
        database = "" if self.database is None else f"/{self.database}"
        query = f"?{self.query}" if self.query else ""
        return f"{self.drivername}://{self.netloc}{database}{query}"


def parse(url: str) -> Url:
    """``url`` in its parts; ``ValueError`` when it is not of the form ``name://…``."""
    name, sep, _rest = url.partition("://")
    if not sep or not _NAME.fullmatch(name):
        raise ValueError(f"{url!r} is not a database URL")
    split = urllib.parse.urlsplit(url)  # ValueError for a broken [IPv6] host
    database = split.path[1:] if split.path else None
    return Url(name, split.netloc, database, split.query)


def shown(url: str) -> str:
    """``url`` with its password hidden, fit to print (as given when it is no URL)."""
    try:
        return parse(url).shown()
    except ValueError:
        return url


def check(url: str, where: str) -> None:
    """Raise ``ConfigError`` (naming ``where``) unless ``url`` names a database we can drive.

    For the drivers of ``DRIVERS`` it finds the driver's module without importing it;
    any other is left to SQLAlchemy, which loads the dialect and imports its driver.
    Connects to nothing.
    """
    try:
        parsed = parse(url)
    except ValueError:
        raise ConfigError(
            where, None, "the database URL is not a URL", f"write {EXAMPLES}"
        ) from None
    module = DBAPI_MODULES.get(parsed.drivername)
    if module is None:
        _check_by_sqlalchemy(parsed, where)
    elif importlib.util.find_spec(module) is None:
        raise _no_driver(parsed, module, where)


def _check_by_sqlalchemy(parsed: Url, where: str) -> None:
    """``check`` for a driver fleetstat does not name: SQLAlchemy's dialect and driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(str(parsed)).get_dialect()
    except (ArgumentError, NoSuchModuleError):
        raise ConfigError(
            where,
            None,
            f"unknown kind of database {parsed.drivername!r} in {parsed.shown()}",
            _meant(parsed),
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        raise _no_driver(parsed, err.name or "of " + parsed.backend, where) from None
    if parsed.backend not in DRIVERS:
        raise ConfigError(
            where,
            None,
            f"fleetstat does not store into {parsed.backend} ({parsed.shown()})",
            f"use {EXAMPLES}",
        )


def _no_driver(parsed: Url, module: str, where: str) -> ConfigError:
    return ConfigError(
        where,
        None,
        f"{parsed.drivername}:// needs the Python driver {module}, which is not installed",
        _meant(parsed),
    )


def _meant(parsed: Url) -> str:
    """``did you mean postgresql+psycopg://…`` for the URL ``parsed``."""
    backend = parsed.backend.lower()
    backend = ALIASES.get(backend, backend)
    if backend not in DRIVERS:
        close = difflib.get_close_matches(backend, [*DRIVERS, *ALIASES], n=1, cutoff=0.5)
        if not close:
            return f"write {EXAMPLES}"
        backend = ALIASES.get(close[0], close[0])
    driver = DRIVERS[backend]
    fixed = dataclasses.replace(parsed, drivername=driver).shown()
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
