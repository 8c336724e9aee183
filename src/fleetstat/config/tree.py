"""The hardened XML reader: a tree of ``Node``s that remember their line.

DTDs, entities and external references are refused; a syntax error becomes a
``ConfigError`` at its line, with a plain fix for each attribute when typographic quotes
are the cause.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from fleetstat.core.errors import ConfigError


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


def parse_tree(data: bytes, where: str, secrets: Collection[str] = ()) -> Node:
    """The root ``Node`` of ``data``; DTDs and entities refused; errors as ConfigError.

    The values of the attributes named in ``secrets`` (and of any whose name holds
    "pass" or "secret") never appear in an error.
    """
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
        raise _syntax_error(err, data, where, secrets) from None
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
_SKIP = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[.*?(?:\]\]>|$)|<[?!][^>]*>?", re.DOTALL)
_START = re.compile(r"<([A-Za-z_][\w.:-]*)")
_ATTR = re.compile(r"\s*([\w.:-]+)\s*=\s*")
_VALUE = {
    '"': re.compile(r'"[^"]*"?'),
    "'": re.compile(r"'[^']*'?"),
    **{quote: re.compile(rf"[{_QUOTES}][^{_QUOTES}\n>]*[{_QUOTES}]?") for quote in _QUOTES},
}
_BARE = re.compile(r"[^\s>]*")


@dataclass(frozen=True)
class Quoted:
    """An attribute written with typographic quotes: ``tag``, ``attr``, its ``line``, ``value``."""

    tag: str
    attr: str
    line: int
    quote: str
    value: str


def typographic_attributes(text: str) -> list[Quoted]:
    """Every attribute of every start tag in ``text`` whose value has typographic quotes.

    Comments, CDATA, processing instructions and the text between tags are skipped, and
    a quote inside a straight-quoted value is part of that value, so each hit is an
    attribute the XML parser really fails on.
    """
    found: list[Quoted] = []
    at = text.find("<")
    while at != -1:
        skipped = _SKIP.match(text, at)
        start = _START.match(text, at)
        if skipped:
            at = skipped.end()
        elif start:
            at = _scan_tag(text, start, found)
        else:
            at += 1
        at = text.find("<", at)
    return found


def _scan_tag(text: str, start: re.Match[str], found: list[Quoted]) -> int:
    """Read the attributes of the start tag matched by ``start``; return where it ends."""
    at = start.end()
    while (attr := _ATTR.match(text, at)) is not None:
        at = attr.end()
        quote = text[at : at + 1]
        value = (_VALUE.get(quote) or _BARE).match(text, at)
        assert value is not None  # every pattern matches the empty string or its quote
        if quote in _QUOTES:
            inner = value[0][1:].rstrip(_QUOTES)
            line = text.count("\n", 0, attr.start(1)) + 1
            found.append(Quoted(start[1], attr[1], line, quote, inner))
        at = max(value.end(), at + 1)
    return at


def _is_secret(name: str, secrets: Collection[str]) -> bool:
    lowered = name.lower()
    return name in secrets or "pass" in lowered or "secret" in lowered


def _quote_errors(hits: list[Quoted], where: str, secrets: Collection[str]) -> ConfigError:
    """One error per line with typographic quotes, naming each attribute on it.

    The fix rewrites those attributes with straight quotes; a secret's value is never shown.
    """
    lines: dict[int, list[Quoted]] = {}
    for hit in hits:
        lines.setdefault(hit.line, []).append(hit)
    errors = []
    for line, on_line in lines.items():
        names = ", ".join(f"{hit.attr} on <{hit.tag}>" for hit in on_line)
        quotes = "".join(dict.fromkeys(hit.quote for hit in on_line))
        fixed = " ".join(_straight(hit, secrets) for hit in on_line)
        hidden = any(_is_secret(hit.attr, secrets) for hit in on_line)
        problem = f"typographic quotes ({quotes}) around the value of {names}: "
        problem += "XML needs straight quotes (\" or ')"
        fix = f"write {fixed}" + (" (… is the value as you wrote it)" if hidden else "")
        errors.append(ConfigError(where, line, problem, fix))
    return ConfigError.of(errors)


def _straight(hit: Quoted, secrets: Collection[str]) -> str:
    value = "…" if _is_secret(hit.attr, secrets) else hit.value
    return f'{hit.attr}="{value}"'


def _syntax_error(
    err: ParseError, data: bytes, where: str, secrets: Collection[str]
) -> ConfigError:
    hits = typographic_attributes(_decode(data))
    if hits:
        return _quote_errors(hits, where, secrets)
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
