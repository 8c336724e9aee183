"""agent.pyz is reproducible, holds only sources, and runs."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from fleetstat.collect import envelope, payload
from fleetstat.ssh.framing import unframe


def test_two_builds_are_byte_identical() -> None:
    assert payload.zip_bytes(payload.archive_entries()) == payload.build_agent()


def test_a_build_in_another_process_has_the_same_digest() -> None:
    code = "from fleetstat.collect import payload; print(payload.agent_digest())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == payload.agent_digest()


def test_zip_holds_only_python_sources_without_pycache() -> None:
    names = zipfile.ZipFile(io.BytesIO(payload.build_agent())).namelist()
    assert names == sorted(names)
    assert all(name.endswith(".py") for name in names)
    assert not any("__pycache__" in name for name in names)
    assert {"__main__.py", "fleetstat_agent/__main__.py", "pyaes/aes.py"} <= set(names)


def test_zip_entries_have_fixed_time_and_mode() -> None:
    for info in zipfile.ZipFile(io.BytesIO(payload.build_agent())).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_written_agent_runs_and_answers(tmp_path: Path) -> None:
    pyz = payload.write_agent(tmp_path / "agent.pyz")
    assert pyz.read_bytes() == payload.build_agent()
    key = envelope.new_key()
    request = envelope.request_bytes(key, cpu_interval=0.0, since={}, max_events=0)
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(pyz)],
        input=request,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert envelope.open_answer(unframe(done.stdout).answer, key).host.hostname


def test_the_agents_sources_go_in_without_docstrings_and_comments_on_the_same_lines() -> None:
    archive = zipfile.ZipFile(io.BytesIO(payload.build_agent()))
    for path in payload.agent_sources().glob("*.py"):
        lean = archive.read(f"{payload.AGENT_PACKAGE}/{path.name}").decode()
        source = path.read_text()
        assert len(lean.splitlines()) == len(source.splitlines()), path.name
        for number, (kept, original) in enumerate(
            zip(lean.splitlines(), source.splitlines(), strict=True)
        ):
            if kept.strip() not in ("", '""'):
                assert original.startswith(kept.rstrip()), (path.name, number + 1)
        assert "#" not in "".join(line for line in lean.splitlines() if line.lstrip()[:1] == "#")


def digest_in_a_new_process(cache: Path) -> str:
    """``agent_digest()`` of a fresh process whose cache folder is under ``cache``."""
    code = "from fleetstat.collect import payload; print(payload.agent_digest())"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip()


def test_the_built_agent_is_cached_privately_and_read_back(tmp_path: Path) -> None:
    assert digest_in_a_new_process(tmp_path) == payload.agent_digest()
    folder = tmp_path / "fleetstat"
    [cached] = folder.glob("agent-*.pyz")
    assert cached.name == f"agent-{payload.inputs_digest(payload.source_files())}.pyz"
    assert cached.read_bytes() == payload.build_agent()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600

    cached.write_bytes(b"not an agent")  # what is cached is what goes to the clients
    assert digest_in_a_new_process(tmp_path) == hashlib.sha256(b"not an agent").hexdigest()


def test_a_new_build_removes_the_archives_of_other_sources(tmp_path: Path) -> None:
    (tmp_path / "fleetstat").mkdir(mode=0o700)
    older = tmp_path / "fleetstat" / "agent-0123456789abcdef0123456789abcdef.pyz"
    older.write_bytes(b"an agent of other sources")
    digest_in_a_new_process(tmp_path)
    assert [p.name for p in (tmp_path / "fleetstat").iterdir()] == [
        f"agent-{payload.inputs_digest(payload.source_files())}.pyz"
    ]


def test_a_cached_agent_others_may_write_is_not_used(tmp_path: Path) -> None:
    digest_in_a_new_process(tmp_path)
    [cached] = (tmp_path / "fleetstat").glob("agent-*.pyz")
    cached.write_bytes(b"planted")
    cached.chmod(0o666)
    assert digest_in_a_new_process(tmp_path) == payload.agent_digest()


def test_any_change_of_a_source_names_another_archive() -> None:
    sources = payload.source_files()
    changed = {**sources, "fleetstat_agent/linux.py": sources["fleetstat_agent/linux.py"] + b"\n"}
    assert payload.inputs_digest(changed) != payload.inputs_digest(sources)
