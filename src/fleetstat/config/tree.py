"""The hardened XML reader: a tree of ``Node``s that remember their line.

DTDs, entities and external references are refused; a syntax error becomes a
``ConfigError`` at its line, with a plain fix when typographic quotes are the cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from fleetstat.errors import ConfigError


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
