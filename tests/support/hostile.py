"""Hostile clients: a ``python`` on the client that answers with a crafted, valid token.

A client holds its request key, so it can seal anything. ``hostile_python`` writes an
executable that the collector runs in place of the client's interpreter: it loads the
uploaded ``agent.pyz``, collects a real answer, lets ``change`` (Python source working
on the dict ``answer``, or setting ``raw`` to the JSON text to send) rewrite it, and seals
it with the request's key exactly as the agent does. The answer decrypts; only its content is a lie.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"

SCRIPT = """#!{python}
import json, sys, zlib
sys.path.insert(0, sys.argv[1])
from fleetstat_agent import __main__ as agent
request = agent.parse_request(sys.stdin.read())
answer = agent.collect(agent.load_platform(sys.platform), request, sys.platform)
raw = None
{change}
data = raw.encode() if raw is not None else json.dumps(answer).encode()
token = agent.fernet.encrypt(request["key"], zlib.compress(data))
sys.stdout.write(token.decode("ascii") + "\\n")
"""


@contextlib.contextmanager
def hostile_python(change: str) -> Iterator[str]:
    """The path of an interpreter the test user may run that answers as ``change`` says."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python3"
        script.write_text(SCRIPT.format(python=SYSTEM_PYTHON, change=change))
        script.chmod(0o755)
        yield str(script)


@contextlib.contextmanager
def printing_python(text: str) -> Iterator[str]:
    """The path of an interpreter that ignores its input and prints ``text``."""
    with tempfile.TemporaryDirectory(prefix="garbage-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python3"
        script.write_text(f"#!/bin/sh\ncat > /dev/null\nprintf '%s\\n' '{text}'\n")
        script.chmod(0o755)
        yield str(script)


@contextlib.contextmanager
def sleeping_python() -> Iterator[str]:
    """The path of an interpreter that ignores its input and sleeps for good."""
    with tempfile.TemporaryDirectory(prefix="hang-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python3"
        script.write_text("#!/bin/sh\nexec sleep 600\n")
        script.chmod(0o755)
        yield str(script)
