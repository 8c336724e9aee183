"""Builds ``agent.pyz``: the agent's sources and ``pyaes`` in one reproducible zipapp.

The same sources always give the same bytes (sorted entries, fixed timestamps and
permissions, one compression level), so the archive's digest names a version of the
agent. Inside the zip the agent package is ``fleetstat_agent`` (the server's own
``fleetstat/__init__.py`` needs a newer Python than the agent does) and ``pyaes`` keeps
its name; a ``__main__.py`` at the top runs the agent. The agent's own sources go in
without their docstrings and comments (``lean_source``), every line kept where it
was, so a traceback from a client still names the line of the source here.

Making the lean sources costs a collector more CPU than a hundred hosts' SSH, so the
built archive is kept in fleetstat's cache folder (``$XDG_CACHE_HOME/fleetstat``, else
``~/.cache/fleetstat``), named by a digest of every input, and read back while the
inputs stay the same. Only a file of this user's own, in a folder no one else may
write to, is read back: the archive runs on every client.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import io
import os
import stat
import tokenize
import zipfile
from pathlib import Path

from fleetstat import agent

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
    return Path(agent.__file__).resolve().parent


def pyaes_sources() -> Path:
    """The directory of the installed ``pyaes`` package."""
    spec = importlib.util.find_spec("pyaes")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyaes is not installed; the agent needs it inside agent.pyz")
    return Path(spec.origin).parent


def python_files(directory: Path, prefix: str) -> dict[str, bytes]:
    """``{archive name: bytes}`` of the ``.py`` files directly in ``directory``."""
    return {f"{prefix}/{path.name}": path.read_bytes() for path in directory.glob("*.py")}


def lean_source(source: bytes) -> bytes:
    """``source`` with its docstrings and comments blanked, every other line as it was.

    A docstring becomes ``""`` on its first line and empty lines after it, a comment
    disappears from its line; the line numbers of all code stay the same.
    """
    lines = source.decode("utf-8").splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            _blank(lines, body[0])
    tokens = tokenize.generate_tokens(io.StringIO("".join(lines)).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col].rstrip() + "\n"
    return "".join(lines).encode("utf-8")


def _is_docstring(statement: ast.stmt) -> bool:
    value = getattr(statement, "value", None)
    return (
        isinstance(statement, ast.Expr)
        and isinstance(value, ast.Constant)
        and isinstance(value.value, str)
    )


def _blank(lines: list[str], statement: ast.stmt) -> None:
    """Turn the lines of one docstring statement into ``""`` and empty lines."""
    first, last = statement.lineno - 1, (statement.end_lineno or statement.lineno) - 1
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    lines[first] = indent + '""\n'
    for index in range(first + 1, last + 1):
        lines[index] = "\n"


def source_files() -> dict[str, bytes]:
    """The sources of ``agent.pyz`` as they are installed: archive name to contents."""
    return {
        **python_files(agent_sources(), AGENT_PACKAGE),
        **python_files(pyaes_sources(), "pyaes"),
    }


def archive_entries(sources: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file of ``agent.pyz``: archive name to contents (the agent's own lean)."""
    entries = {"__main__.py": MAIN}
    for name, data in (source_files() if sources is None else sources).items():
        entries[name] = lean_source(data) if name.startswith(f"{AGENT_PACKAGE}/") else data
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
    """The bytes of ``agent.pyz`` from the installed sources: the cached archive of these
    very inputs when there is one, else built (and cached). Once per process."""
    sources = source_files()
    cached = cache_folder() / f"agent-{inputs_digest(sources)}.pyz"
    found = _read_own(cached)
    if found is not None:
        return found
    built = zip_bytes(archive_entries(sources))
    _keep(cached, built)
    return built


def cache_folder() -> Path:
    """fleetstat's cache folder: ``$XDG_CACHE_HOME/fleetstat``, else ``~/.cache/fleetstat``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fleetstat"


def inputs_digest(sources: dict[str, bytes]) -> str:
    """A digest of everything the archive is made of: its sources and this builder."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in sorted(sources):
        digest.update(b"\0%s\0%d\0" % (name.encode(), len(sources[name])))
        digest.update(sources[name])
    return digest.hexdigest()[:32]


def _read_own(path: Path) -> bytes | None:
    """The bytes of ``path`` when it and its folder are this user's and only theirs to write."""
    try:
        for item in (path.parent, path):
            info = item.lstat()
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
        return path.read_bytes() if stat.S_ISREG(path.lstat().st_mode) else None
    except OSError:
        return None


def _keep(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temp file, then a rename) and remove the
    archives of other inputs; silently not at all where the folder cannot be written."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        temp.replace(path)
        for older in path.parent.glob("agent-*.pyz"):  # of sources no longer installed
            if older != path:
                older.unlink(missing_ok=True)
    except OSError:
        return


@functools.cache
def agent_digest() -> str:
    """The SHA-256 (hex) of ``build_agent()``: names this version of the agent."""
    return hashlib.sha256(build_agent()).hexdigest()


def write_agent(path: str | Path) -> Path:
    """Write ``agent.pyz`` to ``path`` (a file name); returns the path written."""
    target = Path(path)
    target.write_bytes(build_agent())
    return target
