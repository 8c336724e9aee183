"""Adding and removing a ``<client>`` in the XML config, as the web form does.

A change is made on the file's bytes: the new element goes before ``</clients>``, a
removed one is cut out with its line; every other byte stays as it was. The result is
validated by the same code as ``check-config`` (``config.parse``) before it is written,
and written atomically (a temp file ``.NAME.<random>.tmp`` in the same folder, fsync,
rename) with the file's mode kept. A validation error is mapped to the form field whose
attribute is on the line it names: the new element is written one attribute per line.

Every edit holds an OS lock (``flock`` on ``.NAME.lock`` beside the config) from its read
to its rename, so two processes (``serve`` and ``watch --serve``) never lose each
other's edits; an edit made from a page that read an older file (its ``digest``) is
refused as a conflict. Temp files a killed writer left are removed under that lock, by
the next edit and when ``serve`` starts (``tidy``).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import quoteattr

from fleetstat import config
from fleetstat.core.errors import ConfigError
from fleetstat.core.metrics import ALERT_TYPES
from fleetstat.core.model import Client, Config, Settings

#: The form's fields in the order of the element's lines: (field, XML attribute).
FIELDS = (
    ("ip", "ip"),
    ("port", "port"),
    ("username", "username"),
    ("name", "name"),
    ("password", "password"),
    ("password_env", "password-env"),
    ("keyfile", "keyfile"),
    ("mail", "mail"),
)
AUTH_CHOICES = ("password", "password_env", "keyfile", "agent")
#: What an edit refused because the file changed after the page read it says.
CHANGED = (
    "the config changed since you opened this page (another admin or process edited it); "
    "nothing was saved: reload the page and try again"
)


class FormError(ConfigError):
    """The form's values do not make a valid config; ``fields`` maps field → message."""

    def __init__(self, fields: dict[str, str], general: str = "") -> None:
        self.fields = fields
        self.general = general
        super().__init__("form", None, general or "; ".join(fields.values()))


class Conflict(FormError):
    """The config changed after the page read it: the edit is refused, nothing is lost."""

    def __init__(self) -> None:
        super().__init__({}, CHANGED)


@dataclass(frozen=True)
class NewClient:
    """The add-client form: attribute values as typed (empty: not given), and the alerts
    as type → limit text."""

    values: dict[str, str]
    auth: str = "password"
    alerts: dict[str, str] = field(default_factory=dict)


def digest(data: bytes) -> str:
    """What names one version of the config's bytes (the page sends it back with an edit)."""
    return hashlib.sha256(data).hexdigest()


def add(
    path: Path,
    new: NewClient,
    environ: Mapping[str, str] = os.environ,
    *,
    read: str | None = None,
) -> Config:
    """Add ``new`` to the config at ``path``; the new, validated Config. FormError if bad,
    Conflict when ``read`` (the digest of the file the page showed) is not the file's."""
    with editing(path):
        data = _read(path, read)
        if new.auth == "keyfile":
            new = _key_from_keys_dir(new, data, path, environ)
        element, lines = _element(new)
        changed, first_line = _insert(data, element, path)
        loaded = _validate(changed, path, environ, {first_line + n: f for n, f in lines})
        _secret_is_set(loaded, first_line, environ)
        _write(path, changed)
    return loaded


def remove(
    path: Path,
    address: str,
    environ: Mapping[str, str] = os.environ,
    *,
    read: str | None = None,
) -> Config:
    """Remove the client ``address`` (``ip:port``) from the config at ``path``; the new Config.
    Conflict when ``read`` is not the digest of the file."""
    with editing(path):
        data = _read(path, read)
        current = config.parse(data, path, environ, path.stat().st_mode)
        client = next((c for c in current.clients if c.address == address), None)
        if client is None:
            raise FormError({}, f"{address} is not a client of {path}")
        changed = _cut(data, client)
        loaded = _validate(changed, path, environ, {})
        _write(path, changed)
    return loaded


@contextlib.contextmanager
def editing(path: Path) -> Iterator[None]:
    """Hold the edit lock of the config at ``path`` (across processes); the temp files a
    killed writer left are removed first."""
    try:
        fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise FormError({}, f"cannot lock {path} for an edit: {err.strerror}") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            leftover.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


def tidy(path: Path) -> None:
    """Remove what a killed edit of the config at ``path`` left (``serve`` at its start);
    a folder fleetstat may not write holds nothing of its edits to remove."""
    with contextlib.suppress(FormError), editing(path):
        pass


def _read(path: Path, read: str | None) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise FormError({}, f"cannot read {path}: {err.strerror}") from err
    if read is not None and read != digest(data):
        raise Conflict()
    return data


def _element(new: NewClient) -> tuple[bytes, list[tuple[int, str]]]:
    """The ``<client>`` element, one attribute per line; (line offset, field) of each line."""
    wanted = _wanted_fields(new)
    given = [(f, attr, new.values.get(f, "").strip()) for f, attr in FIELDS if f in wanted]
    given = [item for item in given if item[2]]
    if not given:
        given = [("ip", "ip", "")]
    lines: list[tuple[int, str]] = []
    text = ""
    for index, (name, attr, value) in enumerate(given):
        text += ("  <client " if index == 0 else "          ") + f"{attr}={quoteattr(value)}\n"
        lines.append((index, name))
    rules = [(kind, limit.strip()) for kind, limit in new.alerts.items() if limit.strip()]
    if not rules:
        return (text.rstrip("\n") + "/>\n").encode(), lines
    text = text.rstrip("\n") + ">\n"
    for index, (kind, limit) in enumerate(rules, start=len(given)):
        text += f"    <alert type={quoteattr(kind)} limit={quoteattr(limit)}/>\n"
        lines.append((index, f"alert_{kind}"))
    return (text + "  </client>\n").encode(), lines


def _wanted_fields(new: NewClient) -> set[str]:
    """The fields the chosen login method uses (the others are ignored)."""
    base = {"ip", "port", "username", "name", "mail"}
    return base | ({new.auth} if new.auth in ("password", "password_env", "keyfile") else set())


_CLOSING = re.compile(rb"</clients\s*>")


def _insert(data: bytes, element: bytes, path: Path) -> tuple[bytes, int]:
    """``data`` with ``element`` before the last ``</clients>``; the element's first line."""
    closing = list(_CLOSING.finditer(data))
    if not closing:
        raise FormError(
            {},
            f"{path} holds a single <client> (the seed format): wrap it in <clients> ... "
            "</clients> to add more clients from this page",
        )
    at = closing[-1].start()
    line_start = data.rfind(b"\n", 0, at) + 1
    if data[line_start:at].strip():
        element = b"\n" + element
    else:
        at = line_start
    changed = data[:at] + element + data[at:]
    first = changed.count(b"\n", 0, at) + 1 + (1 if element.startswith(b"\n") else 0)
    return changed, first


_START_TAG = re.compile(rb"""<client\b(?:[^>"']|"[^"]*"|'[^']*')*>""")


def _cut(data: bytes, client: Client) -> bytes:
    """``data`` without ``client``'s element (and its line, when it stands alone on it)."""
    offset = _line_offset(data, client.line)
    tag = _START_TAG.search(data, offset)
    if tag is None:
        raise FormError({}, f"cannot find the <client> of line {client.line}")
    end = tag.end()
    if not tag.group().endswith(b"/>"):
        closing = re.compile(rb"</client\s*>").search(data, end)
        if closing is None:
            raise FormError({}, f"the <client> of line {client.line} has no end")
        end = closing.end()
    start = tag.start()
    line_start = data.rfind(b"\n", 0, start) + 1
    if not data[line_start:start].strip():
        start = line_start
    line_end = data.find(b"\n", end)
    if line_end != -1 and not data[end:line_end].strip():
        end = line_end + 1
    return data[:start] + data[end:]


def _line_offset(data: bytes, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = data.index(b"\n", offset) + 1
    return offset


def _validate(
    data: bytes, path: Path, environ: Mapping[str, str], fields_by_line: dict[int, str]
) -> Config:
    try:
        return config.parse(data, path, environ, path.stat().st_mode)
    except ConfigError as err:
        text = f"{err.problem}" + (f" — fix: {err.fix}" if err.fix else "")
        text = text.replace(str(path), path.name)
        name = fields_by_line.get(err.line or 0)
        missing = re.match(r"<client> has no ([\w-]+)", err.problem)
        if missing:
            name = next((f for f, attr in FIELDS if attr == missing[1]), name)
        if name is None:
            raise FormError({}, text) from None
        raise FormError({name: text}) from None


def _key_from_keys_dir(
    new: NewClient, data: bytes, path: Path, environ: Mapping[str, str]
) -> NewClient:
    """``new`` with its key file as an absolute path inside ``keys-dir``; FormError for one
    that is elsewhere once symlinks and ``..`` are resolved (say ``../../etc/shadow``)."""
    given = new.values.get("keyfile", "").strip()
    if not given:
        return new
    keys = _settings_of(data, path, environ).keys_dir.resolve()
    key = (keys / Path(given).expanduser()).resolve()
    if not key.is_relative_to(keys):
        raise FormError(
            {"keyfile": f"a key file added here must be in {keys} (keys-dir); {given} is not"}
        )
    return replace(new, values={**new.values, "keyfile": str(key)})


def _settings_of(data: bytes, path: Path, environ: Mapping[str, str]) -> Settings:
    try:
        return config.parse(data, path, environ, path.stat().st_mode).settings
    except ConfigError as err:
        raise FormError({}, f"the config does not load, so nothing is added: {err}") from None


def _secret_is_set(loaded: Config, line: int, environ: Mapping[str, str]) -> None:
    """FormError when the new client (at ``line``) names a password-env that is not set
    here: saved, it could never log in."""
    for client in config.with_passwords(loaded, environ).clients:
        if client.line == line and client.secret_error:
            problem = client.secret_error.split(": ", 1)[-1]
            raise FormError({"password_env": problem})


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its mode and, when allowed, its owner."""
    info = path.stat()
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, info.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(temp, info.st_uid, info.st_gid)
        os.replace(temp, path)
    except OSError as err:
        Path(temp).unlink(missing_ok=True)
        raise FormError({}, f"cannot write {path}: {err.strerror}") from err


def alert_types() -> tuple[str, ...]:
    """The alert types the form offers a limit for."""
    return ALERT_TYPES
