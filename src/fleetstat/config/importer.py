"""``fleetstat import ansible``: a fleetstat config from an Ansible inventory.

Each Ansible group that holds hosts directly becomes a ``<group>`` whose attributes are
what its hosts share (the group's vars with its parents' and ``all``'s below them, as
Ansible merges them); each host becomes a ``<client>`` holding only what differs. A host
in several groups goes into the most specific one, and the others' vars that reach it
are written on the client. What cannot be carried over (vaulted or templated values,
other connection types, key files that do not exist here) is said in an XML comment
where it belongs, so the result passes ``check-config`` as written.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from fleetstat.config import CLIENT_ATTRS, Invalid, inventory
from fleetstat.config.inventory import UNGROUPED, Inventory, Vaulted
from fleetstat.core.errors import ConfigError

#: fleetstat attribute → the Ansible variables that give it, the first set one winning.
CARRIED = {
    "ip": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "username": ("ansible_user", "ansible_ssh_user"),
    "password": ("ansible_password", "ansible_ssh_pass"),
    "keyfile": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "python": ("ansible_python_interpreter",),
}
GROUP_HELD = ("port", "username", "keyfile", "python")
ORDER = ("ip", "name", "port", "username", "password", "keyfile", "python")
SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh")
AUTO_PYTHON = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
#: Read by this importer without being carried over as attributes.
USED = {name for names in CARRIED.values() for name in names} | {
    "ansible_connection",
    "ansible_group_priority",
}
_PARSERS = {attr.name: attr.parse for attr in CLIENT_ATTRS}


@dataclass
class Imported:
    """The config text and what went into it."""

    text: str
    clients: int = 0
    groups: int = 0
    passwords: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    host: str
    attrs: dict[str, str]
    notes: list[str]


def import_ansible(path: Path, base: Path | None = None, user: str | None = None) -> Imported:
    """The config for the Ansible inventory at ``path``.

    Relative key files start at ``base`` (default: the current directory, as for
    ``ansible``); a host with no ``ansible_user`` logs in as ``user`` (default: the
    user running the import, as ``ansible`` does).
    """
    found = inventory.finish(inventory.read(path))
    result = convert(found, path.name, base or Path.cwd(), user or getpass.getuser())
    if not result.clients:
        why = "; ".join(result.notes) or "it lists no host"
        raise ConfigError(
            str(path),
            None,
            f"no host of the inventory can be carried over: {why}",
            "add hosts reached over SSH",
        )
    return result


def convert(found: Inventory, source: str, base: Path, user: str) -> Imported:
    """The config text for ``found`` (read from a file named ``source``)."""
    result = Imported(text="")
    members = _placement(found)
    body: list[str] = []
    seen: set[str] = set()
    for group, hosts in members.items():
        shared, notes = _group_attrs(found, group, base)
        entries = [_client(found, host, shared, base, user) for host in hosts]
        for entry in entries:
            _drop_repeat(entry, shared, seen)
            result.notes += entry.notes
        result.clients += sum(1 for entry in entries if "ip" in entry.attrs)
        result.passwords += sum(1 for entry in entries if "password" in entry.attrs)
        body += _group_lines(group, shared, notes, entries, result)
    skipped = sorted(_unused(found))
    header = [f"<!-- fleetstat config imported from the Ansible inventory {_comment(source)}. -->"]
    if skipped:
        unused = _comment(", ".join(skipped))
        header.append(f"<!-- Not carried over (fleetstat has no use for them): {unused}. -->")
    if _jumps(found):
        header.append(
            "<!-- Some hosts are reached through a jump host (ProxyJump or -J in ansible_ssh_"
            "common_args): write it in an OpenSSH config and name that file in <settings "
            'ssh-config="...">. -->'
        )
    result.text = "\n".join([*header, "<clients>", *body, "</clients>"]) + "\n"
    return result


def _placement(found: Inventory) -> dict[str, list[str]]:
    """Each host under the one group it goes into: its deepest direct group, else ungrouped."""
    members: dict[str, list[str]] = {}
    for host in found.hosts:
        direct = [g for g in inventory.groups_of(found, host) if g != UNGROUPED] or [UNGROUPED]
        deepest = max(direct, key=lambda g: inventory.depth(found, g))
        members.setdefault(deepest, []).append(host)
    ungrouped = members.pop(UNGROUPED, [])
    return {**members, UNGROUPED: ungrouped} if ungrouped else members


def _group_attrs(found: Inventory, group: str, base: Path) -> tuple[dict[str, str], list[str]]:
    if group == UNGROUPED:
        return {}, []
    shared = inventory.group_vars(found, inventory.ancestors(found, group))
    attrs, notes = _attributes(shared, base)
    return {k: v for k, v in attrs.items() if k in GROUP_HELD}, notes


def _client(found: Inventory, host: str, shared: dict[str, str], base: Path, user: str) -> _Entry:
    variables = inventory.host_vars(found, host)
    connection = str(variables.get("ansible_connection", "ssh"))
    if connection not in SSH_CONNECTIONS:
        return _Entry(
            host, {}, [f"{host}: connection type {connection!r} is not SSH: not carried over"]
        )
    attrs, notes = _attributes(variables, base)
    if "ip" in attrs:
        attrs["name"] = host
    else:
        ip = _valid("ip", host)
        if ip is None:
            return _Entry(
                host,
                {},
                [f"{host}: not a host name or address, and no ansible_host: not carried over"],
            )
        attrs["ip"] = ip
    own = {k: v for k, v in attrs.items() if shared.get(k) != v}
    if "username" not in own and "username" not in shared:
        own["username"] = user
        notes.append(f"{host}: no ansible_user; logs in as {user}, as ansible would")
    group_notes = _attributes(_shared_vars(found, host), base)[1]
    notes = [f"{host}: {note}" if not note.startswith(host) else note for note in notes]
    notes = [note for note in notes if note.partition(": ")[2] not in group_notes]
    others = [g for g in inventory.groups_of(found, host) if g != UNGROUPED][1:]
    if others:
        also = ", ".join(others)
        notes.append(f"{host}: also in the Ansible groups {also}; a fleetstat client has one group")
    return _Entry(host, own, notes)


def _shared_vars(found: Inventory, host: str) -> dict[str, Any]:
    names = [g for g in inventory.groups_of(found, host) if g != UNGROUPED]
    deepest = max(names, key=lambda g: inventory.depth(found, g)) if names else None
    return inventory.group_vars(found, inventory.ancestors(found, deepest)) if deepest else {}


def _attributes(variables: Mapping[str, Any], base: Path) -> tuple[dict[str, str], list[str]]:
    """The fleetstat attributes that ``variables`` give, and notes for what they cannot."""
    attrs: dict[str, str] = {}
    notes: list[str] = []
    for attr, names in CARRIED.items():
        name = next((n for n in names if n in variables), None)
        if name is None:
            continue
        value = variables[name]
        problem = _cannot_carry(attr, value)
        if problem:
            notes.append(f"{name} {problem}: not carried over")
            continue
        text = _keyfile(str(value), base) if attr == "keyfile" else str(value).strip()
        if attr == "python" and text in AUTO_PYTHON:
            continue
        if attr == "keyfile" and not Path(text).is_file():
            notes.append(f"{name} {text} does not exist here: not carried over")
            continue
        checked = _valid(attr, text)
        if checked is None:
            notes.append(f"{name}={text!r} is not a valid {attr}: not carried over")
            continue
        attrs[attr] = checked
    return attrs, notes


def _cannot_carry(attr: str, value: Any) -> str:
    if isinstance(value, Vaulted):
        return "is vaulted (ansible-vault); give the password in the environment with password-env"
    if isinstance(value, (dict, list)):
        return "is not a single value"
    if "{{" in str(value) or "{%" in str(value):
        return "is a template"
    return ""


def _keyfile(text: str, base: Path) -> str:
    return str(base / Path(text).expanduser())


def _valid(attr: str, text: str) -> str | None:
    """``text`` as fleetstat writes it when its parser for ``attr`` accepts it, else None."""
    try:
        value = _PARSERS[attr](text)
    except Invalid:
        return None
    return text if attr in ("keyfile", "password") else str(value)


def _drop_repeat(entry: _Entry, shared: dict[str, str], seen: set[str]) -> None:
    """Empty ``entry`` (with a note) when its ``ip:port`` was imported before."""
    if "ip" not in entry.attrs:
        return
    address = f"{entry.attrs['ip']}:{entry.attrs.get('port', shared.get('port', '22'))}"
    if address in seen:
        entry.attrs = {}
        entry.notes = [f"{entry.host}: {address} is imported already: not carried over"]
    seen.add(address)


def _group_lines(
    group: str, shared: dict[str, str], notes: list[str], entries: list[_Entry], result: Imported
) -> list[str]:
    inner = []
    for entry in entries:
        inner += [f"<!-- {_comment(note)} -->" for note in entry.notes]
        if entry.attrs:
            inner.append(f"<client {_attrs(entry.attrs)}/>")
    if group == UNGROUPED or not any(entry.attrs for entry in entries):
        return [f"  {line}" for line in inner]
    result.groups += 1
    result.notes += notes
    lines = [f"  <!-- {_comment(f'group {group}: {note}')} -->" for note in notes]
    held = _attrs({"name": group, **shared})
    return [*lines, f"  <group {held}>", *(f"    {line}" for line in inner), "  </group>"]


def _attrs(attrs: Mapping[str, str]) -> str:
    keys = sorted(attrs, key=lambda k: ORDER.index(k) if k in ORDER else -1)
    return " ".join(f"{key}={quoteattr(attrs[key])}" for key in keys)


def _unused(found: Inventory) -> set[str]:
    names = {n for group in found.groups.values() for n in group.vars}
    names |= {n for variables in found.hosts.values() for n in variables}
    return {n for n in names if n.startswith("ansible_") and n not in USED}


def _jumps(found: Inventory) -> bool:
    """True when some SSH arguments in ``found`` name a jump host."""
    everything = [*found.hosts.values(), *(group.vars for group in found.groups.values())]
    for variables in everything:
        for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
            text = str(variables.get(name, ""))
            if "ProxyJump" in text or "-J" in text.split():
                return True
    return False


def _comment(text: str) -> str:
    """``text`` safe inside an XML comment (no ``--``, no trailing ``-``)."""
    while "--" in text:
        text = text.replace("--", "- -")
    return text.rstrip("-")
