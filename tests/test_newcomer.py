"""The newcomer's path: a fresh clone, `make demo`, as a user who is not root."""

from __future__ import annotations

import email
import email.policy
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEWCOMER = "fleetstat-new"

pytestmark = pytest.mark.slow


SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN}")
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [_tool("useradd"), "--create-home", "--shell", "/bin/bash", name], check=True
        )
        return pwd.getpwnam(name)


@pytest.fixture
def fresh_clone() -> tuple[Path, pwd.struct_passwd]:
    """A clone of this repository's committed state, owned by an ordinary user."""
    if os.geteuid() != 0:
        pytest.skip("making an ordinary user to run the demo as needs root")
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    user = _ensure_user(NEWCOMER)
    base = Path(tempfile.mkdtemp(prefix="fleetstat-newcomer-"))
    clone = base / "fleetstat"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run([_tool("chown"), "-R", f"{user.pw_uid}:{user.pw_gid}", str(base)], check=True)
    os.chmod(base, 0o755)
    yield clone, user
    shutil.rmtree(base, ignore_errors=True)


def test_make_demo_runs_a_whole_collection_as_an_ordinary_user(fresh_clone):
    clone, user = fresh_clone
    env = {
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [_tool("runuser"), "-u", user.pw_name, "--", "make", "-C", str(clone), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert "Warning" not in output
    assert "3/3 hosts ok" in output
    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert ip in output

    demo = clone / "fleetstat-demo"
    with sqlite3.connect(demo / "fleetstat.db") as db:
        ips = {row[0] for row in db.execute("SELECT ip FROM samples")}
        outcomes = {row[0] for row in db.execute("SELECT outcome FROM collection_attempts")}
    assert ips == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert outcomes == {"ok"}

    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted((demo / "mail").glob("*.eml"))
    ]
    subjects = [str(m["Subject"]).strip() for m in mails]
    assert any("FIRING" in s for s in subjects), subjects
    assert sum("security events" in s for s in subjects) == 1, subjects  # one digest
    assert len(subjects) == 2, subjects  # and one alert mail: one recipient
    assert all(m["To"] == "admin@demo.example" for m in mails)
    for subject in subjects:
        assert subject in output
