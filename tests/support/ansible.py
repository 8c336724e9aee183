"""ansible-core for the inventory tests, in a virtualenv of its own outside the repository.

``ansible_inventory`` (session) gives the path of ``ansible-inventory``: from
``$FLEETSTAT_ANSIBLE_VENV`` or ``~/.cache/fleetstat-tests/ansible-core`` when it is
installed there (``.ci/run`` installs it there), else installed into a session temp dir.
ansible-core's controller needs Python >= 3.12, found with pyenv or on ``PATH``. The test
skips, saying why, only when no such Python or no package index can be had; with
``FLEETSTAT_REQUIRE_FIXTURES=1`` (CI) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CACHE = Path("~/.cache/fleetstat-tests/ansible-core").expanduser()
VENV_ENV = "FLEETSTAT_ANSIBLE_VENV"
INSTALL_TIMEOUT = 600  # seconds for venv + pip install ansible-core


def _installed(venv: Path) -> Path | None:
    tool = venv / "bin" / "ansible-inventory"
    return tool if os.access(tool, os.X_OK) else None


def _python_312() -> str | None:
    """A Python >= 3.12 interpreter: pyenv's, else one on PATH."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
        found = sorted(Path(root.stdout.strip(), "versions").glob("3.1[2-9]*/bin/python3"))
        if found:
            return str(found[0])
    except (OSError, subprocess.CalledProcessError):
        pass
    return shutil.which("python3.12") or shutil.which("python3.13")


def _give_up(reason: str) -> None:
    if os.environ.get("FLEETSTAT_REQUIRE_FIXTURES") == "1":
        pytest.fail(f"{reason}; FLEETSTAT_REQUIRE_FIXTURES=1 requires ansible-core")
    pytest.skip(reason)


def _install(venv: Path) -> Path:
    python = _python_312()
    if python is None:
        _give_up("ansible-core needs Python >= 3.12, and none was found (pyenv or PATH)")
    assert python is not None
    steps = [
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "ansible-core"],
    ]
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            _give_up(f"installing ansible-core failed: {' '.join(step)}: {done.stderr[-500:]}")
    tool = _installed(venv)
    assert tool is not None, "ansible-core installed without ansible-inventory"
    return tool


@pytest.fixture(scope="session")
def ansible_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``ansible-inventory`` executable (see the module's docstring)."""
    named = os.environ.get(VENV_ENV)
    for venv in ([Path(named)] if named else []) + [CACHE]:
        tool = _installed(venv)
        if tool:
            yield tool
            return
    yield _install(tmp_path_factory.mktemp("ansible") / "venv")


def ansible_list(tool: Path, inventory: Path, home: Path) -> dict:  # type: ignore[type-arg]
    """``ansible-inventory -i inventory --list`` as JSON; ansible's files stay under ``home``."""
    import json

    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp")}
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    done = subprocess.run(
        [str(tool), "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]
