"""Reading an Ansible inventory (INI or YAML) and the variables each host ends up with.

Pure functions over text: ``parse_ini`` and ``parse_yaml`` give an ``Inventory``;
``host_vars`` and ``group_vars`` merge variables as Ansible does (``all`` first, then
groups by depth, ``ansible_group_priority`` and name, then the host's own). Host
patterns with ranges (``web[01:03]``) and ``host:port`` are expanded as Ansible does.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleetstat.core.errors import ConfigError

ALL, UNGROUPED = "all", "ungrouped"
_SECTION = re.compile(r"\[([^\]:\s]+)(?::(\w+))?\]")
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\]")
_PORT = re.compile(r"(.*[^:]):([0-9]+)")


class Vaulted:
    """A value encrypted with ansible-vault (``!vault``): fleetstat cannot read it."""

    def __repr__(self) -> str:
        return "<vaulted>"


@dataclass
class Group:
    """One Ansible group: its direct hosts and child groups (in file order) and its vars."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    """Groups by name (``all`` and ``ungrouped`` included) and each host's own vars."""

    groups: dict[str, Group] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        """The group ``name``, made (as a child of ``all``) on first mention."""
        if name not in self.groups:
            self.groups[name] = Group(name)
            if name != ALL:
                self.group(ALL).children.append(name)
        return self.groups[name]

    def add_host(self, group: str, host: str, variables: Mapping[str, Any]) -> None:
        """Put ``host`` in ``group`` with ``variables`` laid over what it had."""
        self.hosts.setdefault(host, {}).update(variables)
        members = self.group(group).hosts
        if host not in members:
            members.append(host)

    def add_child(self, parent: str, child: str) -> None:
        """Make ``child`` a child of ``parent`` (and no longer a direct child of ``all``)."""
        self.group(child)
        children = self.group(parent).children
        if child not in children:
            children.append(child)
        if parent != ALL and child in self.group(ALL).children:
            self.group(ALL).children.remove(child)


def read(path: Path) -> Inventory:
    """The inventory in ``path``: YAML for ``.yml``/``.yaml``/``.json``, INI otherwise.

    A file without such a suffix that is a YAML mapping of groups is read as YAML too.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            str(path), None, f"cannot read the inventory: {err}", "check the path"
        ) from err
    if path.suffix.lower() in (".yml", ".yaml", ".json") or _looks_like_yaml(text):
        return parse_yaml(text, str(path))
    return parse_ini(text, str(path))


def _looks_like_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return stripped == "---" or (stripped.endswith(":") and not stripped.startswith("["))
    return False


# ---------------------------------------------------------------- INI


def parse_ini(text: str, where: str) -> Inventory:
    """An Ansible INI inventory: ``[group]``, ``[group:vars]``, ``[group:children]``."""
    inventory = Inventory()
    inventory.group(ALL)
    section, kind = UNGROUPED, "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = _SECTION.fullmatch(line.split(" #")[0].strip())
        if header:
            section, kind = header[1], header[2] or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise ConfigError(
                    where, number, f"unknown section kind :{kind}", "use :vars or :children"
                )
            inventory.group(section)
            continue
        try:
            _ini_line(inventory, section, kind, line)
        except ValueError as err:
            raise ConfigError(
                where, number, f"cannot read {line!r}: {err}", "fix the line"
            ) from None
    return inventory


def _ini_line(inventory: Inventory, section: str, kind: str, line: str) -> None:
    if kind == "children":
        inventory.add_child(section, line.split(maxsplit=1)[0])
        return
    if kind == "vars":
        name, equals, value = line.partition("=")
        if not equals:
            raise ValueError("a :vars line is name=value")
        inventory.group(section).vars[name.strip()] = _ini_value(value.strip())
        return
    pattern, *pairs = shlex.split(line, comments=True)
    variables = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            raise ValueError(f"{pair!r} is not name=value")
        variables[name] = value
    for host, port in expand(pattern):
        extra = {"ansible_port": port} if port is not None else {}
        inventory.add_host(section, host, {**extra, **variables})


def _ini_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value.split(" #", maxsplit=1)[0].strip()


def expand(pattern: str) -> Iterator[tuple[str, int | None]]:
    """Each host of ``pattern`` (ranges like ``[01:10]`` or ``[a:f]``), with its ``:port``.

    ``host:22`` has a port; an IPv6 address (several colons outside ranges) has none.
    """
    port: int | None = None
    outside = re.sub(r"\[[^\]]*\]", "", pattern)
    found = _PORT.fullmatch(pattern)
    if found and outside.count(":") == 1:
        pattern, port = found[1], int(found[2])
    for host in _ranges(pattern):
        yield host, port


def _ranges(pattern: str) -> Iterator[str]:
    found = _RANGE.search(pattern)
    if not found:
        yield pattern
        return
    start, end, step = found[1], found[2], int(found[3] or 1)
    head, tail = pattern[: found.start()], pattern[found.end() :]
    for item in _range_items(start, end, step):
        yield from _ranges(head + item + tail)


def _range_items(start: str, end: str, step: int) -> list[str]:
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        return [str(n).zfill(width) for n in range(int(start), int(end) + 1, step)]
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        return list(letters[letters.index(start) : letters.index(end) + 1 : step])
    raise ValueError(f"range [{start}:{end}] is neither numbers nor single letters")


# ---------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML with Ansible's ``!vault`` (kept as ``Vaulted``) and ``!unsafe`` tags."""


_Loader.add_constructor("!vault", lambda loader, node: Vaulted())
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def parse_yaml(text: str, where: str) -> Inventory:
    """An Ansible YAML inventory: groups with ``hosts``, ``vars`` and ``children``."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(where, line, f"not valid YAML: {err}", "fix the YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(
            where, None, "the inventory is not a mapping of groups", "start with all:"
        )
    inventory = Inventory()
    inventory.group(ALL)
    for name, body in data.items():
        _yaml_group(inventory, ALL, str(name), body, where)
    return inventory


def _yaml_group(inventory: Inventory, parent: str, name: str, body: Any, where: str) -> None:
    if name != ALL:
        inventory.add_child(parent, name)
    body = body or {}
    if not isinstance(body, dict):
        raise ConfigError(
            where, None, f"group {name!r} is not a mapping", "give it hosts:, vars:, children:"
        )
    group = inventory.group(name)
    group.vars.update(body.get("vars") or {})
    for pattern, variables in (body.get("hosts") or {}).items():
        for host, port in expand(str(pattern)):
            extra = {"ansible_port": port} if port is not None else {}
            inventory.add_host(name, host, {**extra, **(variables or {})})
    for child, child_body in (body.get("children") or {}).items():
        _yaml_group(inventory, name, str(child), child_body, where)


# ---------------------------------------------------------------- what each host ends up with


def finish(inventory: Inventory) -> Inventory:
    """``inventory`` with every host that is in no group but ``all`` put in ``ungrouped``."""
    grouped = {
        host for name, group in inventory.groups.items() if name != ALL for host in group.hosts
    }
    for host in list(inventory.groups[ALL].hosts):
        if host not in grouped:
            inventory.add_host(UNGROUPED, host, {})
    return inventory


def ancestors(inventory: Inventory, name: str) -> set[str]:
    """``name`` and every group above it, ``all`` included."""
    found, todo = {name, ALL}, [name]
    while todo:
        current = todo.pop()
        for parent, group in inventory.groups.items():
            if current in group.children and parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def depth(inventory: Inventory, name: str) -> int:
    """How far below ``all`` a group is (its longest path)."""
    parents = [p for p, group in inventory.groups.items() if name in group.children]
    return 0 if name == ALL else 1 + max((depth(inventory, p) for p in parents), default=0)


def groups_of(inventory: Inventory, host: str) -> list[str]:
    """The groups ``host`` is directly in, in file order (``all`` never, ``ungrouped`` maybe)."""
    return [name for name, group in inventory.groups.items() if name != ALL and host in group.hosts]


def group_vars(inventory: Inventory, names: set[str]) -> dict[str, Any]:
    """The vars of the groups ``names`` merged as Ansible merges them."""

    def order(name: str) -> tuple[int, int, str]:
        priority = inventory.groups[name].vars.get("ansible_group_priority", 1)
        return depth(inventory, name), int(priority), name

    merged: dict[str, Any] = {}
    for name in sorted(names, key=order):
        merged.update(inventory.groups[name].vars)
    return merged


def host_vars(inventory: Inventory, host: str) -> dict[str, Any]:
    """Every variable ``host`` ends up with: its groups' (and their parents'), then its own."""
    names = set().union(*(ancestors(inventory, g) for g in groups_of(inventory, host)), {ALL})
    return group_vars(inventory, names) | inventory.hosts[host]
