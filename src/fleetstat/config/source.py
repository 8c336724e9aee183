"""The file being read, and the checks every element gets.

``Source`` collects the problems it is told about instead of stopping at the first, so
one read reports every mistake of a file; ``raise_problems`` raises them together.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fleetstat.config.attributes import CHILDREN, ELEMENTS, Attr
from fleetstat.config.tree import Node
from fleetstat.config.values import _did_you_mean
from fleetstat.core.errors import ConfigError, Invalid

T = TypeVar("T")


@dataclass
class Source:
    """The file being read: where errors point, what relative paths hang from, what failed."""

    path: Path
    data: bytes
    environ: Mapping[str, str]
    problems: list[ConfigError] = field(default_factory=list)

    @property
    def base(self) -> Path:
        """The config's folder: relative paths start here."""
        return self.path.absolute().parent

    def error(self, node: Node, problem: str, fix: str = "", attr: str = "") -> ConfigError:
        """A ``ConfigError`` at ``node`` (at its ``attr`` when given)."""
        return ConfigError(str(self.path), self.line(node, attr), problem, fix)

    def report(self, node: Node, problem: str, fix: str = "", attr: str = "") -> None:
        """Note a problem at ``node`` and go on reading."""
        self.problems.append(self.error(node, problem, fix, attr))

    def collect(self, build: Callable[[], T]) -> T | None:
        """``build()``, or None when it raised a ConfigError (which is noted)."""
        try:
            return build()
        except ConfigError as err:
            self.problems.extend(err.each())
            return None

    def mark(self) -> int:
        """A point to ask ``failed_since`` about."""
        return len(self.problems)

    def failed_since(self, mark: int) -> bool:
        """True when a problem was noted after ``mark``."""
        return len(self.problems) > mark

    def raise_problems(self) -> None:
        """Raise every noted problem at once (one ConfigError, or ConfigErrors)."""
        if self.problems:
            raise ConfigError.of(self.problems)

    def line(self, node: Node, attr: str = "") -> int:
        """The line of ``attr`` in ``node``'s start tag, or of the tag itself."""
        if not attr:
            return node.line
        pattern = re.compile(rb"\s" + re.escape(attr.encode()) + rb"\s*=")
        found = pattern.search(self.data, node.offset)
        return bisect.bisect_right(self._line_ends, found.start()) + 1 if found else node.line

    @functools.cached_property
    def _line_ends(self) -> list[int]:
        """The offset of every newline of the file, in order (a line number is a search)."""
        return [match.start() for match in re.finditer(b"\n", self.data)]

    def where(self, node: Node, attr: str = "") -> str:
        """``line N`` of ``attr`` (or of ``node``), for saying where a value came from."""
        return f"line {self.line(node, attr)}"


def check(node: Node, src: Source) -> None:
    """Note unknown attributes, unknown children and stray text in ``node``."""
    known = [attr.name for attr in ELEMENTS[node.tag]]
    for name in node.attrs:
        if name not in known:
            src.report(
                node, f"<{node.tag}> has no attribute {name!r}", _did_you_mean(name, known), name
            )
    for child in node.children:
        _check_child(node, child, src)
    if node.text.strip():
        src.report(
            node,
            f"text inside <{node.tag}>: {node.text.strip()[:40]!r}",
            'write values as attributes, like <client ip="..."/>',
        )


def _check_child(node: Node, child: Node, src: Source) -> None:
    allowed = CHILDREN[node.tag]
    if child.tag in allowed:
        return
    if child.tag == "group" and node.tag == "group":
        src.report(
            child,
            f"<group> inside <group name={node.attrs.get('name', '')!r}> (line {node.line}): "
            "groups do not nest",
            "put every <group> straight inside <clients>; a client belongs to one group",
        )
        return
    holds = ", ".join(f"<{tag}>" for tag in allowed) or "no elements"
    hint = _did_you_mean(child.tag, allowed) if allowed else "remove it"
    src.report(
        child,
        f"unknown element <{child.tag}> inside <{node.tag}>",
        f"{hint} (<{node.tag}> holds {holds})",
    )


def values(node: Node, src: Source, table: Iterable[Attr] | None = None) -> dict[str, Any]:
    """The attributes of ``node`` that parse, by model field name; the others are noted."""
    parsed = {}
    for attr in ELEMENTS[node.tag] if table is None else table:
        if attr.name not in node.attrs:
            continue
        try:
            parsed[attr.field] = parse_attr(node, attr, src)
        except ConfigError as err:
            src.problems.append(err)
    return parsed


def parse_attr(node: Node, attr: Attr, src: Source) -> Any:
    """The value of ``attr`` in ``node``; ConfigError at its line (a secret never shown)."""
    raw = node.attrs[attr.name]
    try:
        return attr.parse(raw)
    except Invalid as err:
        shown = attr.name if attr.secret else f"{attr.name}={raw!r}"
        raise src.error(
            node, f"{shown} on <{node.tag}>: {err.problem}", err.fix, attr=attr.name
        ) from None


def require(node: Node, names: Iterable[str], src: Source, example: str) -> bool:
    """Note each of ``names`` missing from ``node``; True when none is.

    A name that an unknown attribute of ``node`` is a misspelling of is not noted again:
    the unknown attribute's error already says "did you mean".
    """
    known = [attr.name for attr in ELEMENTS[node.tag]]
    unknown = [name for name in node.attrs if name not in known]
    missing = [name for name in names if name not in node.attrs]
    for name in missing:
        if not difflib.get_close_matches(name, unknown, n=1, cutoff=0.6):
            src.report(node, f"<{node.tag}> has no {name}", f"add it: {example}")
    return not missing
