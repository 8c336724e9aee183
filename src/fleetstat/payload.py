"""Builds ``agent.pyz``: the agent's sources and ``pyaes`` in one reproducible zipapp.

The same sources always give the same bytes (sorted entries, fixed timestamps and
permissions, one compression level), so the archive's digest names a version of the
agent. Inside the zip the agent package is ``fleetstat_agent`` (the server's own
``fleetstat/__init__.py`` needs a newer Python than the agent does) and ``pyaes`` keeps
its name; a ``__main__.py`` at the top runs the agent.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

AGENT_PACKAGE = "fleetstat_agent"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
COMPRESS_LEVEL = 9
MAIN = (
    b'"""Run the fleetstat agent: one request on stdin, one answer on stdout."""\n'
    b"import sys\n\n"
    b"from fleetstat_agent.__main__ import main\n\n"
    b"sys.exit(main())\n"
)


def agent_sources() -> Path:
    """The directory of the agent's own sources (``fleetstat/agent``)."""
    return Path(__file__).resolve().parent / "agent"


def pyaes_sources() -> Path:
    """The directory of the installed ``pyaes`` package."""
    spec = importlib.util.find_spec("pyaes")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyaes is not installed; the agent needs it inside agent.pyz")
    return Path(spec.origin).parent


def python_files(directory: Path, prefix: str) -> dict[str, bytes]:
    """``{archive name: bytes}`` of the ``.py`` files directly in ``directory``."""
    return {f"{prefix}/{path.name}": path.read_bytes() for path in directory.glob("*.py")}


def archive_entries() -> dict[str, bytes]:
    """Every file of ``agent.pyz``: archive name to contents."""
    entries = {"__main__.py": MAIN}
    entries.update(python_files(agent_sources(), AGENT_PACKAGE))
    entries.update(python_files(pyaes_sources(), "pyaes"))
    return entries


def zip_entry(name: str) -> zipfile.ZipInfo:
    """A ``ZipInfo`` with fixed time, permissions, creator and compression."""
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.external_attr = FILE_MODE << 16
    info.create_system = 3  # Unix, so the mode above is read as one
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A reproducible zip of ``entries``, in sorted order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compresslevel=COMPRESS_LEVEL) as archive:
        for name in sorted(entries):
            archive.writestr(zip_entry(name), entries[name], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


@functools.cache
def build_agent() -> bytes:
    """The bytes of ``agent.pyz``, built once per process from the installed sources."""
    return zip_bytes(archive_entries())


@functools.cache
def agent_digest() -> str:
    """The SHA-256 (hex) of ``build_agent()``: names this version of the agent."""
    return hashlib.sha256(build_agent()).hexdigest()


def write_agent(path: str | Path) -> Path:
    """Write ``agent.pyz`` to ``path`` (a file name); returns the path written."""
    target = Path(path)
    target.write_bytes(build_agent())
    return target
