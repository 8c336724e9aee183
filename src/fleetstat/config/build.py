"""Building the ``Config`` from the tree: checking each element, then the model objects."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetstat.config.attributes import (
    CHILDREN,
    ELEMENTS,
    SMTP_PASSWORD_ENV,
    SMTP_PASSWORD_FILE_ENV,
    Attr,
)
from fleetstat.config.settings import _settings
from fleetstat.config.tree import Node, parse_tree
from fleetstat.config.values import Invalid, _did_you_mean, _load_limit, _percent
from fleetstat.errors import ConfigError
from fleetstat.metrics import METRICS, Unit
from fleetstat.model import AlertRule, Client, Config, Settings

#: How a limit (and a clear value) is written, by the metric's unit.
LIMIT_PARSERS = {Unit.PERCENT: _percent, Unit.PER_CORE: _load_limit}


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
    if "password-env" in node.attrs:  # read when a pass connects: config.with_passwords
        values["password_env"] = values.pop("password")
    if "keyfile" in values:
        values["keyfile"] = _keyfile(node, values["keyfile"], src)
    values.setdefault("name", values["ip"])
    alerts = tuple(_alert(child, src) for child in node.children)
    _no_duplicate_rules(node, alerts, src)
    return Client(**values, alerts=alerts, line=node.line)


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
    metric = METRICS[values["type"]]
    parse_limit = LIMIT_PARSERS[metric.unit]
    for name, field in (("limit", "limit"), ("clear", "clear")):
        if name in node.attrs:
            values[field] = _parse_attr(node, Attr(name, field, parse_limit, "", "", ""), src)
    if "mount" in values and not metric.takes_mount:
        raise src.error(
            node,
            f"mount on a {metric.name} alert",
            'mount belongs to type="disk" only',
            attr="mount",
        )
    if values.get("clear") is not None and values["clear"] > values["limit"]:
        raise src.error(
            node,
            f"clear={node.attrs['clear']!r} is above limit={node.attrs['limit']!r}",
            "clear is where a firing alert resolves: give a value at or below the limit",
            attr="clear",
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


# ---------------------------------------------------------------- <settings>


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


# ---------------------------------------------------------------- warnings


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
