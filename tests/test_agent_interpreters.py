"""The built agent.pyz runs on every Python from 3.6 up, with the standard library only."""

from __future__ import annotations

import ast
import glob
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fleetstat.collect import envelope, payload
from fleetstat.ssh.framing import unframe

AGENT_DIR = Path(payload.agent_sources())
PYENV_PYTHONS = sorted(glob.glob("/root/.pyenv/versions/*/bin/python3"))
MIN_VERSION = (3, 6)

pytestmark = pytest.mark.slow


def version_of(python: str) -> tuple[int, int]:
    """(major, minor) of a pyenv interpreter, read from its directory name."""
    match = re.match(r"(\d+)\.(\d+)", Path(python).parents[1].name)
    assert match, python
    return int(match.group(1)), int(match.group(2))


SUPPORTED = [p for p in PYENV_PYTHONS if version_of(p) >= MIN_VERSION]


@pytest.fixture(scope="module")
def agent_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return payload.write_agent(tmp_path_factory.mktemp("agent") / "agent.pyz")


@pytest.mark.skipif(not SUPPORTED, reason="no pyenv Pythons in /root/.pyenv/versions")
@pytest.mark.parametrize("python", SUPPORTED, ids=lambda p: Path(p).parents[1].name)
def test_agent_pyz_answers_under_isolated_python(python: str, agent_pyz: Path) -> None:
    key = envelope.new_key()
    request = envelope.request_bytes(key, cpu_interval=0.1, since={}, max_events=20)
    done = subprocess.run(
        [python, "-I", "-S", str(agent_pyz)],
        input=request,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    answer = envelope.open_answer(unframe(done.stdout).answer, key)
    assert answer.host.python.startswith("{}.{}.".format(*version_of(python)))
    assert answer.memory is not None
    assert answer.cpu is not None
    assert [part for part, _ in answer.errors if part != "events"] == []


def test_agent_sources_need_at_most_python_3_6() -> None:
    vermin = Path(sys.executable).parent / "vermin"
    if not vermin.exists():
        pytest.skip("vermin is not installed next to this Python")
    done = subprocess.run(
        [str(vermin), "-t=3.6-", "--no-tips", "--violations", "--eval-annotations", str(AGENT_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def imported_modules(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, relative level) of every import statement in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def foreign_imports(path: Path) -> list[str]:
    """Imports in ``path`` that are neither stdlib, relative (the agent's own) nor pyaes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        name
        for name, level in imported_modules(tree)
        if level == 0 and name.split(".")[0] not in sys.stdlib_module_names | {"pyaes"}
    ]


@pytest.mark.parametrize("source", sorted(AGENT_DIR.glob("*.py")), ids=lambda p: p.name)
def test_agent_imports_only_the_standard_library_itself_and_pyaes(source: Path) -> None:
    assert foreign_imports(source) == []


def test_import_check_catches_a_third_party_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\nimport requests\nfrom . import linux\nfrom fleetstat import x\n"
    )
    assert foreign_imports(sample) == ["requests", "fleetstat"]
