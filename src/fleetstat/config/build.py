"""Building the ``Config`` from the tree: checking each element, then the model objects.

Every problem is noted on the ``Source`` and reading goes on, so one read reports all of
them. A ``<group>`` holds defaults that its clients inherit (``inherit``); where each
value of a client came from is kept beside the config for ``check-config --show``.
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from fleetstat.config import sshconfig
from fleetstat.config.attributes import (
    CLIENT_ATTRS,
    GROUP_ATTRS,
    SECRET_ATTRS,
    SMTP_PASSWORD_ENV,
    SMTP_PASSWORD_FILE_ENV,
    Attr,
    own_env_names,
)
from fleetstat.config.settings import _settings
from fleetstat.config.source import Source, check, parse_attr, require, values
from fleetstat.config.tree import Node, parse_tree
from fleetstat.core.errors import ConfigError
from fleetstat.core.metrics import METRICS
from fleetstat.core.model import AlertRule, Client, Config, Settings

#: Where each value of one client came from, by field (``port`` → ``group web, line 3``).
Sources = dict[str, str]


@dataclass(frozen=True)
class Built:
    """A loaded config and, per client address, where each of its values came from."""

    config: Config
    sources: Mapping[str, Sources]


@dataclass(frozen=True)
class _Group:
    """One ``<group>``: the values its clients inherit, each with where it is written."""

    name: str
    node: Node
    values: dict[str, Any]
    sources: Sources
    alerts: tuple[AlertRule, ...]


@dataclass
class _Layout:
    """The parts of the root: settings, groups, and each client with its group node."""

    settings: Node | None = None
    groups: list[Node] = field(default_factory=list)
    members: list[tuple[Node, Node | None]] = field(default_factory=list)


def parse(data: bytes, path: Path, environ: Mapping[str, str], mode: int = 0o600) -> Config:
    """The Config in ``data``, read as if from ``path`` (whose folder anchors relative paths).

    ``mode`` is the file's permission bits, used only for the password warning. Every
    problem of the file is raised at once (``ConfigErrors`` when there are several).
    """
    return build(data, path, environ, mode).config


def build(data: bytes, path: Path, environ: Mapping[str, str], mode: int = 0o600) -> Built:
    """``parse``, keeping where each client's values came from."""
    src = Source(Path(path), data, environ)
    layout = _layout(parse_tree(data, str(path), SECRET_ATTRS), src)
    settings = src.collect(lambda: _settings_of(layout.settings, src))
    ssh_config = settings.ssh_config if settings else None
    _client_env_names(layout, settings or Settings(), src)
    groups = {id(node): _group(node, src) for node in layout.groups}
    built: dict[str, tuple[Client, Sources]] = {}
    for node, group_node in layout.members:
        group = groups[id(group_node)] if group_node is not None else None
        entry = _client(node, group, src, ssh_config)
        if entry and _first_of_address(entry[0], built, src):
            built[entry[0].address] = entry
    _no_duplicate_groups(layout.groups, src)
    src.raise_problems()
    assert settings is not None  # no problem was noted, so the settings were built
    clients = tuple(client for client, _ in built.values())
    warnings = _warnings(src, layout, clients, settings, mode)
    loaded = Config(path=src.path, settings=settings, clients=clients, warnings=warnings)
    return Built(loaded, {address: sources for address, (_, sources) in built.items()})


def _layout(root: Node, src: Source) -> _Layout:
    layout = _Layout()
    if root.tag == "client":
        layout.members.append((root, None))
        return layout
    if root.tag != "clients":
        src.report(
            root,
            f"the root element is <{root.tag}>",
            "start the file with <clients> (many clients and <settings>) or a single <client>",
        )
        src.raise_problems()
    check(root, src)
    settings = [node for node in root.children if node.tag == "settings"]
    for extra in settings[1:]:
        src.report(
            extra,
            f"a second <settings> (the first is on line {settings[0].line})",
            "merge them into one <settings>",
        )
    layout.settings = settings[0] if settings else None
    for node in root.children:
        if node.tag == "client":
            layout.members.append((node, None))
        elif node.tag == "group":
            layout.groups.append(node)
            layout.members += [(child, node) for child in node.children if child.tag == "client"]
    if not layout.members:
        src.report(
            root,
            "the config lists no <client>",
            '<clients> needs at least one <client ip="..." username="..."/>',
        )
    return layout


# ---------------------------------------------------------------- <group>


def _group(node: Node, src: Source) -> _Group:
    """The group's defaults; its problems are noted, and what parsed is still inherited."""
    check(node, src)
    require(node, ("name",), src, '<group name="web" username="stats" ...>')
    found = _logins(node, values(node, src, GROUP_ATTRS[1:]), src)
    name = node.attrs.get("name", "").strip() or "?"
    sources = _sources_of(node, found, src, GROUP_ATTRS[1:], f"group {name}, ")
    alerts = _alerts(node, src)
    return _Group(name, node, found, sources, alerts)


def _no_duplicate_groups(nodes: list[Node], src: Source) -> None:
    first: dict[str, Node] = {}
    for node in nodes:
        name = node.attrs.get("name", "").strip()
        seen = first.setdefault(name, node) if name else node
        if seen is not node:
            src.report(
                node,
                f"a second group named {name!r} (the first is on line {seen.line})",
                "merge them into one <group>, or give this one another name",
                attr="name",
            )


# ---------------------------------------------------------------- <client> and <alert>


def _client(
    node: Node, group: _Group | None, src: Source, ssh_config: Path | None
) -> tuple[Client, Sources] | None:
    """The client with its group folded in, and where each value came from; None on problems."""
    mark = src.mark()
    check(node, src)
    require(node, ("ip",), src, '<client ip="10.0.0.5" username="stats" ...>')
    _one_password(node, src)
    own = _logins(node, values(node, src), src)
    merged, sources = inherit(group, own, _sources_of(node, own, src, CLIENT_ATTRS, "client, "))
    if ssh_config is not None and "ip" in own:
        _from_ssh_config(merged, sources, ssh_config, src)
    if "username" not in merged and not _named(node, group, "username"):
        where = f' or to its <group name="{group.name}">' if group else ""
        require(node, ("username",), src, f'<client ip="10.0.0.5" username="stats" ...>{where}')
    alerts = _inherit_alerts(group, _alerts(node, src))
    if src.failed_since(mark):
        return None
    merged.setdefault("name", merged["ip"])
    sources.setdefault("name", "the ip")
    for rule in alerts:
        owner = f"group {group.name}" if group and rule in group.alerts else "client"
        sources[f"alert {rule.key}"] = f"{owner}, line {rule.line}"
    client = Client(**merged, alerts=alerts, line=node.line, group=group.name if group else None)
    return client, sources


def inherit(
    group: _Group | None, own: dict[str, Any], own_sources: Sources
) -> tuple[dict[str, Any], Sources]:
    """A client's values: the group's, with the client's own on top (by field)."""
    if group is None:
        return dict(own), dict(own_sources)
    inherited, sources = dict(group.values), dict(group.sources)
    if "password" in own or "password_env" in own:  # the client's own login replaces both
        for name in ("password", "password_env"):
            inherited.pop(name, None)
            sources.pop(name, None)
    return inherited | own, sources | own_sources


def _inherit_alerts(group: _Group | None, own: tuple[AlertRule, ...]) -> tuple[AlertRule, ...]:
    """The group's rules, except the types the client sets itself, then the client's rules."""
    if group is None:
        return own
    replaced = {rule.type for rule in own}
    return tuple(rule for rule in group.alerts if rule.type not in replaced) + own


def _named(node: Node, group: _Group | None, attr: str) -> bool:
    """True when ``attr`` is written on the client or its group (parsed or not)."""
    return attr in node.attrs or (group is not None and attr in group.node.attrs)


def _sources_of(
    node: Node, found: dict[str, Any], src: Source, table: tuple[Attr, ...], where: str
) -> Sources:
    """Where each field of ``found`` is written in ``node``; ``where`` names the element."""
    sources = {}
    for attr in table:
        if attr.field in found and attr.name in node.attrs:
            text = f"{where}{src.where(node, attr.name)}"
            if attr.name == "password-env":
                text += f" (password-env {node.attrs[attr.name]})"
            sources[attr.field] = text
    return sources


def _from_ssh_config(
    merged: dict[str, Any], sources: Sources, ssh_config: Path, src: Source
) -> None:
    """Fill ``username`` and ``port`` from the OpenSSH config where the XML leaves them out."""
    found = src.collect(lambda: sshconfig.lookup(ssh_config, merged["ip"]))
    if found is None:
        return
    where = f"ssh-config {ssh_config}"
    if "username" not in merged:
        merged["username"] = sshconfig.login_user(found)
        sources["username"] = where if found.user else f"{where} (no User: the local user)"
    if "port" not in merged and found.port:
        merged["port"], sources["port"] = found.port, where
    if found.proxy_jump:
        sources["proxy_jump"] = f"{found.proxy_jump} ({where})"
        if "jump" not in merged:
            merged["jump"] = sshconfig.resolve_jump(ssh_config, found.proxy_jump)
            sources["jump"] = f"ProxyJump of {where}"
    if found.identity_files and "keyfile" not in merged:
        sources["identity_files"] = f"{', '.join(found.identity_files)} ({where})"


def _one_password(node: Node, src: Source) -> None:
    if "password" in node.attrs and "password-env" in node.attrs:
        src.report(
            node,
            f"<{node.tag}> has both password and password-env",
            "keep one of them",
            attr="password-env",
        )


def _client_env_names(layout: _Layout, settings: Settings, src: Source) -> None:
    """Refuse a ``password-env`` that names a variable fleetstat reads itself, or one
    outside ``client-env-prefix``: a client (one added on the web page, say) must not
    be handed the collector's own secrets, or any other variable of its environment."""
    prefix, own = settings.client_env_prefix, own_env_names()
    for node in [*layout.groups, *(node for node, _ in layout.members)]:
        name = node.attrs.get("password-env", "").strip()
        if name in own:
            src.report(
                node,
                f"password-env names {name}, a variable fleetstat reads itself: no client "
                "may be handed the collector's own secrets",
                f"put the client's password in a variable of its own under {prefix}, like "
                f"{prefix}WEB1 (the default client-env-prefix is FLEETSTAT_CLIENT_)",
                attr="password-env",
            )
        elif name and not name.startswith(prefix):
            src.report(
                node,
                f"password-env names {name}, which does not start with {prefix}: a client "
                "may name only the variables under client-env-prefix",
                f"rename the variable to {prefix}{name}, or set client-env-prefix in "
                "<settings> to the start of your clients' variables",
                attr="password-env",
            )


def _logins(node: Node, found: dict[str, Any], src: Source) -> dict[str, Any]:
    """``found`` with ``keyfile`` and ``certificate`` made absolute (problems noted).

    ``password-env`` stays a name: its variable is read when a pass connects
    (``config.with_passwords``).
    """
    for attr, what in (("keyfile", "a private key"), ("certificate", "a user certificate")):
        if attr in found:
            path = src.collect(functools.partial(_existing, node, attr, found[attr], what, src))
            found.pop(attr) if path is None else found.update({attr: path})
    return found


def _existing(node: Node, attr: str, path: Path, what: str, src: Source) -> Path:
    full = src.base / path
    if not full.is_file():
        raise src.error(
            node,
            f"{attr} {str(full)!r} does not exist",
            f"give the path of {what}; a relative path starts at the config's folder",
            attr=attr,
        )
    return full


def _alerts(node: Node, src: Source) -> tuple[AlertRule, ...]:
    """The ``<alert>`` rules inside ``node`` that are valid; one per type and mount."""
    rules = [_alert(child, src) for child in node.children if child.tag == "alert"]
    alerts = tuple(rule for rule in rules if rule is not None)
    _no_duplicate_rules(alerts, src)
    return alerts


def _alert(node: Node, src: Source) -> AlertRule | None:
    mark = src.mark()
    check(node, src)
    require(node, ("type", "limit"), src, '<alert type="memory" limit="90%"/>')
    found = values(node, src)
    metric = METRICS.get(found.get("type", ""))
    if metric is not None:
        for name in ("limit", "clear"):
            if name in node.attrs:
                attr = Attr(name, name, metric.unit.parse_limit, "", "", "")
                found[name] = src.collect(partial(parse_attr, node, attr, src))
    if "mount" in found and metric is not None and not metric.takes_mount:
        src.report(
            node, f"mount on a {metric.name} alert", 'mount belongs to type="disk" only', "mount"
        )
    limit, clear = found.get("limit"), found.get("clear")
    if limit is not None and clear is not None and clear > limit:
        src.report(
            node,
            f"clear={node.attrs['clear']!r} is above limit={node.attrs['limit']!r}",
            "clear is where a firing alert resolves: give a value at or below the limit",
            "clear",
        )
    return None if src.failed_since(mark) else AlertRule(**found, line=node.line)


def _no_duplicate_rules(alerts: tuple[AlertRule, ...], src: Source) -> None:
    seen: dict[str, AlertRule] = {}
    for rule in alerts:
        if rule.key in seen:
            src.problems.append(
                ConfigError(
                    str(src.path),
                    rule.line,
                    f"a second {rule.key} alert in this element (the first is on "
                    f"line {seen[rule.key].line})",
                    'keep one; watch other disks with mount="/path"',
                )
            )
        seen.setdefault(rule.key, rule)


def _first_of_address(
    client: Client, built: Mapping[str, tuple[Client, Sources]], src: Source
) -> bool:
    first = built.get(client.address)
    if first is None:
        return True
    src.problems.append(
        ConfigError(
            str(src.path),
            client.line,
            f"client {client.address} is listed twice, on lines {first[0].line} and {client.line}",
            "remove one, or give them different ports",
        )
    )
    return False


# ---------------------------------------------------------------- <settings>


def _settings_of(node: Node | None, src: Source) -> Settings:
    """The settings of ``node`` (defaults when None) with the environment on top."""
    found, smtp = _settings_xml(node, src) if node is not None else ({}, {})
    settings = _settings(found, smtp, src.environ, str(src.path), src.base)
    if settings.ssh_config is not None:
        where = str(src.path) if "ssh_config" in found else "FLEETSTAT_SSH_CONFIG"
        sshconfig.check_readable(settings.ssh_config, where)
    return settings


def _settings_xml(node: Node, src: Source) -> tuple[dict[str, Any], dict[str, Any]]:
    check(node, src)
    smtp_nodes = [child for child in node.children if child.tag == "smtp"]
    found = values(node, src)
    for extra in smtp_nodes[1:]:
        src.report(extra, "a second <smtp>", "keep one <smtp> in <settings>")
    if not smtp_nodes:
        return found, {}
    smtp = smtp_nodes[0]
    if "password" in smtp.attrs:
        src.report(
            smtp,
            "the SMTP password cannot be written in the config",
            f"remove password and set {SMTP_PASSWORD_ENV} or "
            f"{SMTP_PASSWORD_FILE_ENV} (a file holding it)",
            attr="password",
        )
        smtp = replace(smtp, attrs={k: v for k, v in smtp.attrs.items() if k != "password"})
    check(smtp, src)
    return found, values(smtp, src)


# ---------------------------------------------------------------- warnings


def _warnings(
    src: Source, layout: _Layout, clients: tuple[Client, ...], settings: Settings, mode: int
) -> tuple[str, ...]:
    warnings = []
    nodes = [node for node, _ in layout.members] + layout.groups
    if any("password" in node.attrs for node in nodes) and mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(
            f"{src.path} holds passwords and is readable by others (mode {stat.filemode(mode)}): "
            f"run chmod 600 {src.path}, or use password-env"
        )
    for group in layout.groups:
        if not any(child.tag == "client" for child in group.children):
            name = group.attrs.get("name", "")
            warnings.append(f"{src.path}:{group.line}: group {name} holds no <client>")
    if settings.host_keys == "off":
        warnings.append("host-keys is off: any machine on the path can pose as a client")
    for client in clients:
        if settings.cpu_interval == 0 and any(rule.type == "cpu" for rule in client.alerts):
            warnings.append(
                f"{src.path}:{client.line}: client {client.label} has a cpu alert but "
                "cpu-interval is 0: a pass without the last sample's counters (the first, "
                "after a reboot or a gap longer than cpu-max-gap) has no CPU figure"
            )
        if client.alerts and not client.mail:
            warnings.append(
                f"{src.path}:{client.line}: client {client.label} has alerts but no mail; "
                "they are recorded but nobody is mailed"
            )
    return tuple(warnings)
