"""Hostile clients: a ``python`` on the client that answers with a crafted, valid token.

A client holds its request key, so it can seal anything. ``hostile_python`` writes an
executable that the collector runs in place of the client's interpreter: it runs
fleetstat's supervisor as sent, but where the supervisor runs the uploaded agent it
loads ``agent.pyz``, collects a real answer, lets ``change`` (Python source working on
the dict ``answer``, or setting ``raw`` to the JSON text to send) rewrite it, and seals
it with the request's key exactly as the agent does. The answer decrypts; only its
content is a lie.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"

#: What the agent does instead of its work: a real answer, rewritten, sealed.
HOSTILE = """import json, sys, zlib
sys.path.insert(0, agent)
from fleetstat_agent import __main__ as real
request = real.parse_request(sys.stdin.read())
answer = real.collect(real.load_platform(sys.platform), request, sys.platform)
raw = None
{change}
data = raw.encode() if raw is not None else json.dumps(answer).encode()
token = real.fernet.encrypt(request["key"], zlib.compress(data))
sys.stdout.write(real.frame(token.decode("ascii")))
"""

#: The interpreter: runs fleetstat's supervisor as sent (temp dir, process group,
#: clean-up), but with the agent's run replaced by ``HOSTILE``.
SCRIPT = """#!{python}
import base64, os, sys, zlib
RUN = 'runpy.run_path(agent, run_name="__main__")'
args = sys.argv[1:]
if "-c" in args:
    at = args.index("-c") + 3  # -c BOOTSTRAP STALE SUPERVISOR (compressed, in base64)
    source = zlib.decompress(base64.b64decode(args[at])).decode()
    if RUN not in source:
        sys.exit("hostile python: the supervisor no longer runs the agent with " + RUN)
    instead = "exec(HOSTILE, {{'agent': agent, '__name__': 'hostile'}})"
    source = "HOSTILE = " + repr({hostile!r}) + chr(10) + source.replace(RUN, instead)
    args[at] = base64.b64encode(zlib.compress(source.encode())).decode()
os.execv("{python}", ["{python}", *args])
"""


@contextlib.contextmanager
def hostile_python(change: str) -> Iterator[str]:
    """The path of an interpreter the test user may run that answers as ``change`` says."""
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python3"
        hostile = HOSTILE.format(change=change)
        script.write_text(SCRIPT.format(python=SYSTEM_PYTHON, hostile=hostile))
        script.chmod(0o755)
        yield str(script)


@contextlib.contextmanager
def printing_python(text: str) -> Iterator[str]:
    """The path of an interpreter that prints ``text`` in the agent's frame and exits,
    reading nothing."""
    with tempfile.TemporaryDirectory(prefix="garbage-") as folder:
        Path(folder).chmod(0o755)
        script = Path(folder) / "python3"
        framed = f"\\nfleetstat-answer: {len(text)}\\n{text}\\n"
        script.write_text(f"#!/bin/sh\nprintf '{framed}'\n")
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
