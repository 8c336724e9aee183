"""docs/architecture.md is the truth about the layout: every package and module is named
there, imports follow its table of layers, no two modules import each other round a loop,
and only the store writes to the database."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fleetstat"
DOC = ROOT / "docs" / "architecture.md"

#: SQLAlchemy's statement builders: outside ``store/`` nobody makes SQL.
STATEMENTS = {"insert", "update", "delete", "select", "text", "func", "bindparam"}
#: What a session writes with.
WRITES = {"execute", "add", "add_all", "merge", "delete", "scalar", "scalars"}


@dataclass(frozen=True)
class Module:
    name: str  # fleetstat.collect.job
    path: Path

    @property
    def relative(self) -> str:
        """As the doc names it: ``collect/job.py``."""
        return self.path.relative_to(PACKAGE).as_posix()

    @property
    def package(self) -> str:
        """The row of the table it belongs to: ``collect/``, or ``__init__.py``."""
        parts = self.path.relative_to(PACKAGE).parts
        return f"{parts[0]}/" if len(parts) > 1 else parts[0]

    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(encoding="utf-8"))


def modules() -> list[Module]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "versions" in path.parts:  # migrations: named as their folder
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(Module(".".join(parts), path))
    return found


MODULES = modules()
BY_NAME = {module.name: module for module in MODULES}


def imported(module: Module) -> Iterator[str]:
    """Every fleetstat module ``module`` imports, anywhere in it (functions and
    ``TYPE_CHECKING`` blocks too): an import is a dependency wherever it stands."""
    is_package = module.path.name == "__init__.py"
    for node in ast.walk(module.tree()):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.name.split(".")
                if not is_package:
                    here.pop()
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in BY_NAME else base for t in targets]
        else:
            continue
        for target in targets:
            known = target
            while known not in BY_NAME and "." in known:
                known = known.rsplit(".", 1)[0]
            if known in BY_NAME and known != module.name:
                yield known


GRAPH = {module.name: set(imported(module)) for module in MODULES}


def allowed() -> dict[str, set[str]]:
    """The table of docs/architecture.md: package → the packages it may import."""
    rows = re.findall(r"^\| `([\w./]+)` \|[^|\n]+\| ([^|\n]+) \|$", DOC.read_text(), re.M)
    return {package: set(re.findall(r"`([\w./]+)`", may)) for package, may in rows}


def test_every_package_has_a_row_in_the_table_and_every_row_a_package() -> None:
    assert set(allowed()) == {module.package for module in MODULES}


def only_a_docstring(module: Module) -> bool:
    """A package's ``__init__.py`` that only says what the package is (its row does)."""
    body = module.tree().body
    return (
        module.path.name == "__init__.py"
        and len(body) == 1
        and ast.get_docstring(module.tree()) is not None
    )


def test_every_module_is_named_in_the_architecture() -> None:
    text = DOC.read_text()
    named = [m for m in MODULES if not only_a_docstring(m)]
    missing = [m.relative for m in named if f"`{m.relative}`" not in text]
    assert missing == [], f"docs/architecture.md names no {missing}"
    assert "`store/migrations/versions/`" in text


def test_imports_follow_the_layers_of_the_table() -> None:
    table = allowed()
    crossing = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if BY_NAME[target].package != BY_NAME[name].package
        and BY_NAME[target].package not in table[BY_NAME[name].package]
    )
    assert crossing == []


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([node, *group]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_round_a_loop() -> None:
    assert loops(GRAPH) == []


def test_the_loop_finder_finds_a_loop() -> None:
    looped = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert loops(looped) == [["a", "b", "c"]]


def writes_outside_the_store(module: Module) -> list[str]:
    found = []
    for node in ast.walk(module.tree()):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"imports {a.name}" for a in node.names if a.name in STATEMENTS]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITES
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ):
            found.append(f"calls session.{node.func.attr} on line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.package != "store/"], ids=lambda m: m.relative
)
def test_only_the_store_speaks_sql(module: Module) -> None:
    assert writes_outside_the_store(module) == []


def test_the_check_for_sql_sees_a_write(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "from sqlalchemy import update\n\ndef f(session):\n    session.execute(update(T))\n"
    )
    assert writes_outside_the_store(Module("x", source)) == [
        "imports update",
        "calls session.execute on line 4",
    ]


def test_few_modules_stay_at_the_top_and_none_passes_500_lines() -> None:
    top = sorted(m.relative for m in MODULES if m.package == m.relative)
    assert top == ["__init__.py"]
    long = {m.relative: n for m in MODULES if (n := len(m.path.read_text().splitlines())) > 500}
    assert long == {}
