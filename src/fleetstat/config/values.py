"""The value parsers: pure functions from an attribute's text to its value.

Each raises ``Invalid`` with what is wrong and what to write instead; the element
builders turn that into a ``ConfigError`` at the line.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

from fleetstat.core import dburl
from fleetstat.core.errors import Invalid

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_MAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MOUNT = re.compile(r"/.*|[A-Za-z]:\\?")


def _duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h`` or ``1d``; zero allowed."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise Invalid(
            f"{text!r} is not a duration",
            "write seconds, or a number with a unit: 90, 90s, 30m, 2h, 1d",
        )
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _positive_duration(text: str) -> float:
    """Seconds, as ``_duration``, but more than zero."""
    seconds = _duration(text)
    if seconds <= 0:
        raise Invalid("a time of zero", "give a time greater than zero, like 30s")
    return seconds


def _whole(minimum: int) -> Callable[[str], int]:
    """A parser for whole numbers of at least ``minimum``."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text.strip()):
            raise Invalid(f"{text!r} is not a whole number", f"write a whole number >= {minimum}")
        if int(text) < minimum:
            raise Invalid(f"{text} is less than {minimum}", f"write a whole number >= {minimum}")
        return int(text)

    return parse


_SIZE = re.compile(r"([0-9]+)\s*(|B|KiB|MiB|GiB)")
_UNIT_BYTES = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _size(text: str) -> int:
    """Bytes from ``65536``, ``64KiB``, ``16MiB`` or ``1GiB``; at least 1 KiB."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise Invalid(f"{text!r} is not a size", "write bytes, or a number with a unit: 16MiB")
    size = int(match[1]) * _UNIT_BYTES[match[2]]
    if size < 1024:
        raise Invalid(f"{text} is less than 1 KiB", "write a size of at least 1KiB, like 16MiB")
    return size


def _on_off(text: str) -> bool:
    """True for ``on``, False for ``off``."""
    if text.strip() not in ("on", "off"):
        raise Invalid(f"{text!r} is neither on nor off", "write on or off")
    return text.strip() == "on"


def _port(text: str) -> int:
    """A TCP port, 1-65535."""
    if not re.fullmatch(r"[0-9]+", text.strip()) or not 1 <= int(text) <= 65535:
        raise Invalid(f"{text!r} is not a port", "write a port number from 1 to 65535, like 22")
    return int(text)


def _choice(options: tuple[str, ...], what: str) -> Callable[[str], str]:
    """A parser accepting exactly one of ``options``; ``what`` names them in errors."""

    def parse(text: str) -> str:
        if text in options:
            return text
        return _unknown(text, options, f"unknown {what} {text!r}")

    return parse


def _unknown(text: str, known: Iterable[str], problem: str) -> NoReturn:
    raise Invalid(problem, _did_you_mean(text, known))


def _did_you_mean(text: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known: {', '.join(known)}" if known else "remove it"


def _text(text: str) -> str:
    """Any non-empty text on one line."""
    if not text.strip() or any(char in text for char in "\n\r\0"):
        raise Invalid("empty or not on one line", "write a value, or remove the attribute")
    return text.strip()


def _secret(text: str) -> str:
    """A password: non-empty, kept exactly as written."""
    if not text:
        raise Invalid("empty", "remove it to log in with keyfile or ssh-agent keys")
    return text


def _interpreter(text: str) -> str:
    """A path or command name for the client's Python; no quotes (it is quoted on the client)."""
    if any(char in text for char in "\"'`$"):
        raise Invalid(f"{text!r} holds quotes or $", "write the plain path, like /usr/bin/python3")
    return _text(text)


_HOP = re.compile(r"(?:[A-Za-z0-9._-]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")


def _jump(text: str) -> str:
    """A jump host, or a chain of them: ``[user@]host[:port]``, comma-separated."""
    hops = [hop.strip() for hop in text.split(",")]
    if not all(_HOP.fullmatch(hop) for hop in hops):
        raise Invalid(
            f"{text!r} is not a jump host",
            "write [user@]host[:port], several separated by commas, like ops@bastion.example:22",
        )
    return ",".join(hops)


def _is_host_name(text: str) -> bool:
    name = text.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _host(text: str) -> str:
    """An IPv4/IPv6 address (canonical form) or a DNS host name (lower case)."""
    text = text.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if text.startswith("["):
        raise Invalid(f"{text!r} has brackets", "write an IPv6 address without [ ], like ::1")
    if re.fullmatch(r"[0-9.]+", text) or not _is_host_name(text):
        raise Invalid(
            f"{text!r} is neither an IP address nor a host name",
            "write an IPv4 or IPv6 address (10.0.0.5, fe80::1) or a host name (web1.example.com)",
        )
    return text.lower()


def _mail_address(text: str) -> str:
    """One address ``local@domain``: a dot-atom local part and a host-name domain."""
    local, at, domain = text.strip().rpartition("@")
    if not at or not _MAIL_LOCAL.fullmatch(local) or not _is_host_name(domain):
        raise Invalid(
            f"{text.strip()!r} is not a mail address",
            "write plain addresses like ops@example.com (no name, no <>), "
            "several separated by commas",
        )
    return f"{local}@{domain.lower()}"


def _mail_list(text: str) -> tuple[str, ...]:
    """One address or several separated by commas; duplicates dropped, order kept."""
    addresses = [_mail_address(part) for part in text.split(",")]
    return tuple(dict.fromkeys(addresses))


def _env_name(text: str) -> str:
    if not _ENV_NAME.fullmatch(text):
        raise Invalid(f"{text!r} is not an environment variable name", "write a name like WEB1_PW")
    return text


def _env_prefix(text: str) -> str:
    """The start of an environment variable's name: letters, digits and ``_``, not empty."""
    if not text or not _ENV_NAME.fullmatch(text):
        raise Invalid(
            f"{text!r} is not the start of a variable name",
            "write a prefix like FLEETSTAT_CLIENT_: a client may name only variables under it",
        )
    return text


def _path(text: str) -> Path:
    """A path with ``~`` expanded; relative ones are resolved against the config's folder."""
    return Path(_text(text)).expanduser()


def _ssh_config(text: str) -> Path | None:
    """``no`` (None: no OpenSSH config is read), ``yes`` (``~/.ssh/config``) or a path."""
    word = text.strip().lower()
    if word in ("no", "off", "false"):
        return None
    if word in ("yes", "on", "true"):
        return Path("~/.ssh/config").expanduser()
    return _path(text)


def _path_list(text: str) -> tuple[Path, ...]:
    """One path or several separated by commas, each as ``_path``; repeats kept once."""
    paths = [_path(part) for part in text.split(",")]
    return tuple(dict.fromkeys(paths))


def _mount(text: str) -> str:
    if not _MOUNT.fullmatch(text):
        raise Invalid(f"{text!r} is not a mount point", "write an absolute path like /var or C:")
    return text


def _db_url(text: str) -> str:
    """A SQLAlchemy database URL (checked for form only; nothing connects here)."""
    try:
        dburl.parse(text.strip())
    except ValueError:
        raise Invalid(
            f"{text!r} is not a database URL",
            "write a SQLAlchemy URL: sqlite:///fleetstat.db, "
            "postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db",
        ) from None
    return text.strip()
