"""Reading and validating the server's XML config.

Two roots are accepted: a single ``<client>`` (the original "seed" format) or
``<clients>`` holding many ``<client>`` and at most one ``<settings>``. Every attribute
and setting is declared once, as data, in the tables below; parsing, the
``FLEETSTAT_*`` environment overrides and the documentation test all read them.
Every mistake raises ``ConfigError`` with the file, the line and a fix.

The value parsers (``_port``, ``_duration``, ...) are pure functions of the text that
raise ``Invalid``; the element builders turn that into a ``ConfigError`` at the line.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fleetstat.errors import ConfigError
from fleetstat.model import (
    ALERT_TYPES,
    HOST_KEY_POLICIES,
    SMTP_TLS_MODES,
    AlertRule,
    Client,
    Config,
    Settings,
    SmtpSettings,
)

SMTP_PASSWORD_ENV = "FLEETSTAT_SMTP_PASSWORD"
SMTP_PASSWORD_FILE_ENV = "FLEETSTAT_SMTP_PASSWORD_FILE"
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
PERCENT_TYPES = ("memory", "cpu", "swap", "disk")


class Invalid(ValueError):
    """A value that does not parse: ``problem`` says what is wrong, ``fix`` what to write."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


# ---------------------------------------------------------------- value parsers (pure)

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


def _number(text: str) -> float:
    """A non-negative decimal number."""
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text.strip()):
        raise Invalid(f"{text!r} is not a number", "write a number like 1.5")
    return float(text)


def _percent(text: str) -> float:
    """A percentage 0-100 written ``50%`` or ``50``."""
    fix = "write a percentage from 0 to 100, like 50% or 50"
    try:
        value = _number(text.strip().removesuffix("%"))
    except Invalid:
        raise Invalid(f"limit {text!r} is not a percentage", fix) from None
    if value > 100:
        raise Invalid(f"limit {text!r} is over 100%", fix)
    return value


def _load_limit(text: str) -> float:
    """The 1-minute load average per core: a plain non-negative number."""
    try:
        return _number(text)
    except Invalid:
        raise Invalid(
            f"limit {text!r} is not a plain number: a load limit is the 1-minute load "
            "average PER CORE, not a percentage",
            'write a number like limit="1.5" (fires when load / cores > 1.5)',
        ) from None


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


def _path(text: str) -> Path:
    """A path with ``~`` expanded; relative ones are resolved against the config's folder."""
    return Path(_text(text)).expanduser()


def _mount(text: str) -> str:
    if not _MOUNT.fullmatch(text):
        raise Invalid(f"{text!r} is not a mount point", "write an absolute path like /var or C:")
    return text


def _db_url(text: str) -> str:
    """A SQLAlchemy database URL (checked for form only; nothing connects here)."""
    try:
        make_url(text.strip())
    except ArgumentError:
        raise Invalid(
            f"{text!r} is not a database URL",
            "write a SQLAlchemy URL: sqlite:///fleetstat.db, "
            "postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db",
        ) from None
    return text.strip()


# ---------------------------------------------------------------- the declarations


@dataclass(frozen=True)
class Attr:
    """One XML attribute: the model field it fills, its parser, and its documentation.

    ``env`` is the variable that wins over it (settings only); ``default`` is what
    the documentation shows when the attribute is absent ("required" when it must be given).
    """

    name: str
    field: str
    parse: Callable[[str], Any]
    kind: str
    default: str
    help: str
    env: str | None = None
    secret: bool = False


def _default(cls: type, name: str, unit: str = "") -> str:
    value = next(f.default for f in fields(cls) if f.name == name)
    return f"{value:g}{unit}" if isinstance(value, float) else str(value)


CLIENT_ATTRS = (
    Attr("ip", "ip", _host, "IPv4/IPv6 address or host name", "required",
         "the machine to reach over SSH"),
    Attr("port", "port", _port, "port 1-65535", "22", "the SSH port"),
    Attr("username", "username", _text, "text", "required", "the SSH user"),
    Attr("password", "password", _secret, "text", "none",
         "the SSH password (prefer password-env or keyfile)", secret=True),
    Attr("password-env", "password", _env_name, "variable name", "none",
         "environment variable holding the SSH password; unset is an error"),
    Attr("keyfile", "keyfile", _path, "path", "none",
         "private key file; ~ expanded, relative to the config's folder, must exist"),
    Attr("mail", "mail", _mail_list, "addresses, comma-separated", "none",
         "who is mailed when this client's alerts fire or resolve"),
    Attr("name", "name", _text, "text", "the ip", "what reports and mails call the client"),
    Attr("python", "python", _interpreter, "path on the client", "python3, then python",
         "the interpreter that runs the agent, like /usr/bin/python3"),
    Attr("timeout", "timeout", _positive_duration, "duration", "settings timeout",
         "bound on this client's whole run: 90, 90s, 2m"),
)  # fmt: skip

ALERT_ATTRS = (
    Attr("type", "type", _choice(ALERT_TYPES, "alert type"), ", ".join(ALERT_TYPES), "required",
         "what is watched"),
    Attr("limit", "limit", _text, "percent, or number for load", "required",
         "fires when the value is greater: 50% (or 50) for memory, cpu, swap, disk; "
         "for load the 1-minute load average PER CORE, like 1.5"),
    Attr("mount", "mount", _mount, "mount point", "the fullest real filesystem",
         "disk only: the filesystem to watch, like /var"),
    Attr("repeat", "repeat", _duration, "duration", "1h",
         "reminder interval while firing; 0 = every run"),
    Attr("for", "for_runs", _whole(1), "whole number >= 1", "1",
         "consecutive runs over the limit before it fires"),
)  # fmt: skip

SETTINGS_ATTRS = (
    Attr("db", "db", _db_url, "SQLAlchemy URL", _default(Settings, "db"),
         "the database; a relative SQLite path is relative to the config's folder",
         env="FLEETSTAT_DB"),
    Attr("concurrency", "concurrency", _whole(1), "whole number >= 1",
         _default(Settings, "concurrency"), "clients collected at the same time",
         env="FLEETSTAT_CONCURRENCY"),
    Attr("connect-timeout", "connect_timeout", _positive_duration, "duration",
         _default(Settings, "connect_timeout", "s"), "bound on the SSH connect and login",
         env="FLEETSTAT_CONNECT_TIMEOUT"),
    Attr("timeout", "timeout", _positive_duration, "duration",
         _default(Settings, "timeout", "s"), "bound on one client's whole run",
         env="FLEETSTAT_TIMEOUT"),
    Attr("host-keys", "host_keys", _choice(HOST_KEY_POLICIES, "host-keys policy"),
         ", ".join(HOST_KEY_POLICIES), _default(Settings, "host_keys"),
         "accept-new: learn unknown keys, refuse changed ones; strict: known keys only; "
         "off: no check", env="FLEETSTAT_HOST_KEYS"),
    Attr("known-hosts", "known_hosts", _path, "path", _default(Settings, "known_hosts"),
         "where host keys are kept; ~ expanded, relative to the config's folder",
         env="FLEETSTAT_KNOWN_HOSTS"),
    Attr("cpu-interval", "cpu_interval", _positive_duration, "duration",
         _default(Settings, "cpu_interval", "s"), "how long the agent measures CPU use"),
    Attr("max-events", "max_events", _whole(0), "whole number >= 0",
         _default(Settings, "max_events"), "security events read per client per run"),
    Attr("mail-max-events", "mail_max_events", _whole(0), "whole number >= 0",
         _default(Settings, "mail_max_events"), "security events listed in one mail"),
)  # fmt: skip

SMTP_ATTRS = (
    Attr("host", "host", _host, "host name or address", _default(SmtpSettings, "host"),
         "the SMTP server", env="FLEETSTAT_SMTP_HOST"),
    Attr("port", "port", _port, "port 1-65535", "25; 587 with starttls; 465 with ssl",
         "the SMTP port", env="FLEETSTAT_SMTP_PORT"),
    Attr("tls", "tls", _choice(SMTP_TLS_MODES, "tls mode"), ", ".join(SMTP_TLS_MODES),
         _default(SmtpSettings, "tls"), "none, STARTTLS after connecting, or TLS from the start",
         env="FLEETSTAT_SMTP_TLS"),
    Attr("user", "user", _text, "text", "none", "SMTP login; the password comes from "
         f"{SMTP_PASSWORD_ENV} or {SMTP_PASSWORD_FILE_ENV}", env="FLEETSTAT_SMTP_USER"),
    Attr("sender", "sender", _mail_address, "mail address", _default(SmtpSettings, "sender"),
         "the From: of every mail", env="FLEETSTAT_SMTP_FROM"),
    Attr("timeout", "timeout", _positive_duration, "duration",
         _default(SmtpSettings, "timeout", "s"), "bound on one SMTP conversation"),
)  # fmt: skip

ELEMENTS = {
    "client": CLIENT_ATTRS,
    "alert": ALERT_ATTRS,
    "settings": SETTINGS_ATTRS,
    "smtp": SMTP_ATTRS,
    "clients": (),
}
CHILDREN = {
    "clients": ("client", "settings"),
    "client": ("alert",),
    "settings": ("smtp",),
    "alert": (),
    "smtp": (),
}
ENV_ONLY = {
    SMTP_PASSWORD_ENV: "the SMTP password",
    SMTP_PASSWORD_FILE_ENV: "a file whose content (trailing newline dropped) is the SMTP password",
}


def env_names() -> tuple[str, ...]:
    """Every ``FLEETSTAT_*`` variable the config reads."""
    declared = [a.env for a in SETTINGS_ATTRS + SMTP_ATTRS if a.env]
    return (*declared, *ENV_ONLY)


# ---------------------------------------------------------------- the XML tree with lines


@dataclass
class Node:
    """One XML element: ``line`` (1-based) and ``offset`` (byte) of its start tag."""

    tag: str
    attrs: dict[str, str]
    line: int
    offset: int
    children: list[Node] = field(default_factory=list)
    text: str = ""


class _Builder:
    """An expat target that builds ``Node``s and notes where each starts."""

    def __init__(self) -> None:
        self.expat: Any = None
        self.stack: list[Node] = []
        self.root: Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, dict(attrs), self.expat.CurrentLineNumber, self.expat.CurrentByteIndex)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def data(self, text: str) -> None:
        self.stack[-1].text += text

    def close(self) -> Node | None:
        return self.root


def _refuse_dtd(*_: object) -> None:
    raise DTDForbidden(None, None, None)


def parse_tree(data: bytes, where: str) -> Node:
    """The root ``Node`` of ``data``; DTDs and entities refused; errors as ConfigError."""
    if not data.strip():
        raise ConfigError(
            where, 1, "the config is empty", "start from an example in docs/config.md"
        )
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_entities=True, forbid_external=True)
    builder.expat = parser.parser
    parser.parser.EndDoctypeDeclHandler = _refuse_dtd
    try:
        parser.feed(data)
        root: Node = parser.close()
    except ParseError as err:
        raise _syntax_error(err, data, where) from None
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as err:
        raise _refused(err, where, parser.parser.CurrentLineNumber) from None
    return root


def _refused(err: Exception, where: str, line: int) -> ConfigError:
    fix = "remove the <!DOCTYPE ...> block and write the values in place"
    if isinstance(err, EntitiesForbidden) and err.sysid:
        problem = f"external entity {err.name!r} ({err.sysid}): a config never reads other files"
    elif isinstance(err, EntitiesForbidden):
        problem = f"entity {err.name!r} declared: entities are refused (they can expand a few "
        problem += "bytes into gigabytes)"
    elif isinstance(err, ExternalReferenceForbidden):
        problem = f"external reference {err.sysid!r}: a config never reads other files"
    else:
        problem = "a document type declaration (<!DOCTYPE ...>): a config takes none"
    return ConfigError(where, line, problem, fix)


_QUOTES = "\u2018\u2019\u201c\u201d"  # ‘ ’ “ ”
_TYPOGRAPHIC = re.compile(rf"[\w.:-]+\s*=\s*([{_QUOTES}])[^{_QUOTES}\"'\n>]*[{_QUOTES}]?")


def _syntax_error(err: ParseError, data: bytes, where: str) -> ConfigError:
    text = _decode(data)
    quoted = _TYPOGRAPHIC.search(text)
    if quoted:
        snippet = quoted[0]
        straight = re.sub(f"[{_QUOTES}]", '"', snippet)
        return ConfigError(
            where,
            text.count("\n", 0, quoted.start()) + 1,
            f"the file uses typographic quotes ({quoted[1]}) around attribute values, "
            "XML needs straight quotes (\" or ')",
            f"replace them: {snippet} becomes {straight}",
        )
    line, column = err.position
    return ConfigError(
        where,
        line,
        f"not well-formed XML at line {line}, column {column + 1}: {expat.ErrorString(err.code)}",
        "fix the XML near there; inside values write & as &amp; and < as &lt;",
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# ---------------------------------------------------------------- building the Config


@dataclass(frozen=True)
class _Source:
    """The file being read: where errors point and what relative paths hang from."""

    path: Path
    data: bytes
    environ: Mapping[str, str]

    @property
    def base(self) -> Path:
        return self.path.absolute().parent

    def error(self, node: Node, problem: str, fix: str = "", attr: str = "") -> ConfigError:
        return ConfigError(str(self.path), self.line(node, attr), problem, fix)

    def line(self, node: Node, attr: str = "") -> int:
        """The line of ``attr`` in ``node``'s start tag, or of the tag itself."""
        if not attr:
            return node.line
        pattern = re.compile(rb"\s" + re.escape(attr.encode()) + rb"\s*=")
        found = pattern.search(self.data, node.offset)
        return self.data.count(b"\n", 0, found.start() + 1) + 1 if found else node.line


def load(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Read, validate and return the config at ``path``; ``FLEETSTAT_*`` in ``environ`` win."""
    path = Path(path)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as err:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the config: {err.strerror}",
            "check the path and its permissions",
        ) from err
    return parse(data, path, environ, mode)


def check(path: Path, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The warnings for the config at ``path`` (raises ConfigError if it does not load)."""
    return list(load(path, environ).warnings)


def parse(data: bytes, path: Path, environ: Mapping[str, str], mode: int = 0o600) -> Config:
    """The Config in ``data``, read as if from ``path`` (whose folder anchors relative paths).

    ``mode`` is the file's permission bits, used only for the password warning.
    """
    src = _Source(Path(path), data, environ)
    root = parse_tree(data, str(path))
    client_nodes, settings_node = _root_parts(root, src)
    clients = tuple(_client(node, src) for node in client_nodes)
    _no_duplicates(clients, src)
    values, smtp = _settings_xml(settings_node, src) if settings_node else ({}, {})
    settings = _settings(values, smtp, environ, str(path), src.base)
    warnings = _warnings(src, client_nodes, clients, settings, mode)
    return Config(path=src.path, settings=settings, clients=clients, warnings=warnings)


def _root_parts(root: Node, src: _Source) -> tuple[list[Node], Node | None]:
    if root.tag == "client":
        return [root], None
    if root.tag != "clients":
        raise src.error(
            root,
            f"the root element is <{root.tag}>",
            "start the file with <clients> (many clients and <settings>) or a single <client>",
        )
    _check(root, src)
    settings = [node for node in root.children if node.tag == "settings"]
    if len(settings) > 1:
        raise src.error(
            settings[1],
            f"a second <settings> (the first is on line {settings[0].line})",
            "merge them into one <settings>",
        )
    clients = [node for node in root.children if node.tag == "client"]
    if not clients:
        raise src.error(
            root,
            "the config lists no <client>",
            '<clients> needs at least one <client ip="..." username="..."/>',
        )
    return clients, settings[0] if settings else None


def _check(node: Node, src: _Source) -> None:
    """Refuse unknown attributes, unknown children and stray text in ``node``."""
    known = [attr.name for attr in ELEMENTS[node.tag]]
    for name in node.attrs:
        if name not in known:
            raise src.error(
                node,
                f"<{node.tag}> has no attribute {name!r}",
                _did_you_mean(name, known),
                attr=name,
            )
    allowed = CHILDREN[node.tag]
    for child in node.children:
        if child.tag not in allowed:
            holds = ", ".join(f"<{tag}>" for tag in allowed) or "no elements"
            hint = _did_you_mean(child.tag, allowed) if allowed else "remove it"
            raise src.error(
                child,
                f"unknown element <{child.tag}> inside <{node.tag}>",
                f"{hint} (<{node.tag}> holds {holds})",
            )
    if node.text.strip():
        raise src.error(
            node,
            f"text inside <{node.tag}>: {node.text.strip()[:40]!r}",
            'write values as attributes, like <client ip="..."/>',
        )


def _values(node: Node, src: _Source) -> dict[str, Any]:
    """The parsed attributes of ``node``, by model field name."""
    _check(node, src)
    values = {}
    for attr in ELEMENTS[node.tag]:
        if attr.name in node.attrs:
            values[attr.field] = _parse_attr(node, attr, src)
    return values


def _parse_attr(node: Node, attr: Attr, src: _Source) -> Any:
    raw = node.attrs[attr.name]
    try:
        return attr.parse(raw)
    except Invalid as err:
        shown = attr.name if attr.secret else f"{attr.name}={raw!r}"
        raise src.error(
            node, f"{shown} on <{node.tag}>: {err.problem}", err.fix, attr=attr.name
        ) from None


def _require(node: Node, names: Iterable[str], src: _Source, example: str) -> None:
    for name in names:
        if name not in node.attrs:
            raise src.error(node, f"<{node.tag}> has no {name}", f"add it: {example}")


# ---------------------------------------------------------------- <client> and <alert>


def _client(node: Node, src: _Source) -> Client:
    _check(node, src)
    _require(node, ("ip", "username"), src, '<client ip="10.0.0.5" username="stats" ...>')
    if "password" in node.attrs and "password-env" in node.attrs:
        raise src.error(
            node,
            "<client> has both password and password-env",
            "keep one of them",
            attr="password-env",
        )
    values = _values(node, src)
    if "password-env" in node.attrs:
        values["password"] = _env_password(node, values["password"], src)
    if "keyfile" in values:
        values["keyfile"] = _keyfile(node, values["keyfile"], src)
    values.setdefault("name", values["ip"])
    alerts = tuple(_alert(child, src) for child in node.children)
    _no_duplicate_rules(node, alerts, src)
    return Client(**values, alerts=alerts, line=node.line)


def _env_password(node: Node, name: str, src: _Source) -> str:
    password = src.environ.get(name)
    if not password:
        raise src.error(
            node,
            f"password-env names {name}, which is not set (or empty)",
            f"set {name} in fleetstat's environment, or use keyfile",
            attr="password-env",
        )
    return password


def _keyfile(node: Node, path: Path, src: _Source) -> Path:
    full = src.base / path
    if not full.is_file():
        raise src.error(
            node,
            f"keyfile {str(full)!r} does not exist",
            "give the path of a private key; a relative path starts at the config's folder",
            attr="keyfile",
        )
    return full


def _alert(node: Node, src: _Source) -> AlertRule:
    _require(node, ("type", "limit"), src, '<alert type="memory" limit="90%"/>')
    values = _values(node, src)
    kind = values["type"]
    parse_limit = _percent if kind in PERCENT_TYPES else _load_limit
    values["limit"] = _parse_attr(node, Attr("limit", "limit", parse_limit, "", "", ""), src)
    if "mount" in values and kind != "disk":
        raise src.error(
            node, f"mount on a {kind} alert", 'mount belongs to type="disk" only', attr="mount"
        )
    return AlertRule(**values, line=node.line)


def _no_duplicate_rules(node: Node, alerts: tuple[AlertRule, ...], src: _Source) -> None:
    seen: dict[str, AlertRule] = {}
    for rule in alerts:
        if rule.key in seen:
            raise ConfigError(
                str(src.path),
                rule.line,
                f"a second {rule.key} alert on this client (the first is on "
                f"line {seen[rule.key].line})",
                'keep one; watch other disks with mount="/path"',
            )
        seen[rule.key] = rule


def _no_duplicates(clients: tuple[Client, ...], src: _Source) -> None:
    seen: dict[str, Client] = {}
    for client in clients:
        first = seen.setdefault(client.address, client)
        if first is not client:
            raise ConfigError(
                str(src.path),
                client.line,
                f"client {client.address} is listed twice, on lines {first.line} and {client.line}",
                "remove one, or give them different ports",
            )


# ---------------------------------------------------------------- <settings> and environment


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
    known_hosts = Path(values.get("known_hosts", Settings.known_hosts)).expanduser()
    values["known_hosts"] = base / known_hosts
    return Settings(**values, smtp=SmtpSettings(**smtp))


def _settings_xml(node: Node, src: _Source) -> tuple[dict[str, Any], dict[str, Any]]:
    smtp_nodes = [child for child in node.children if child.tag == "smtp"]
    values = _values(node, src)
    if len(smtp_nodes) > 1:
        raise src.error(smtp_nodes[1], "a second <smtp>", "keep one <smtp> in <settings>")
    if not smtp_nodes:
        return values, {}
    if "password" in smtp_nodes[0].attrs:
        raise src.error(
            smtp_nodes[0],
            "the SMTP password cannot be written in the config",
            f"remove password and set {SMTP_PASSWORD_ENV} or "
            f"{SMTP_PASSWORD_FILE_ENV} (a file holding it)",
            attr="password",
        )
    return values, _values(smtp_nodes[0], src)


def _from_env(table: tuple[Attr, ...], environ: Mapping[str, str], where: str) -> dict[str, Any]:
    """The values of ``table``'s variables set (non-empty) in ``environ``."""
    values = {}
    for attr in table:
        raw = environ.get(attr.env) if attr.env else None
        if not raw:
            continue
        try:
            values[attr.field] = attr.parse(raw)
        except Invalid as err:
            raise ConfigError(where, None, f"{attr.env}={raw!r}: {err.problem}", err.fix) from None
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
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:"):
        return url
    absolute = base / Path(database).expanduser()
    return parsed.set(database=str(absolute)).render_as_string(hide_password=False)


# ---------------------------------------------------------------- warnings and summary


def _warnings(
    src: _Source, nodes: list[Node], clients: tuple[Client, ...], settings: Settings, mode: int
) -> tuple[str, ...]:
    warnings = []
    if any("password" in node.attrs for node in nodes) and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"{src.path} holds passwords and is readable by others (mode {stat.filemode(mode)}): "
            f"run chmod 600 {src.path}, or use password-env"
        )
    if settings.host_keys == "off":
        warnings.append("host-keys is off: any machine on the path can pose as a client")
    for client in clients:
        if client.alerts and not client.mail:
            warnings.append(
                f"{src.path}:{client.line}: client {client.label} has alerts but no mail; "
                "they are recorded but nobody is mailed"
            )
    return tuple(warnings)


def describe(config: Config) -> str:
    """One paragraph: how many clients and rules, the database, the SMTP server."""
    clients, settings, smtp = config.clients, config.settings, config.settings.smtp
    labels = ", ".join(client.label for client in clients[:5])
    more = f" and {len(clients) - 5} more" if len(clients) > 5 else ""
    rules = sum(len(client.alerts) for client in clients)
    mailed = len({address for client in clients for address in client.mail})
    db = make_url(settings.db).render_as_string(hide_password=True)
    login = f" as {smtp.user}" if smtp.user else ""
    return (
        f"{config.path}: {_count(len(clients), 'client')} ({labels}{more}) with "
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
