"""One host over SSH: connect, run the agent in a private temp dir, leave nothing behind.

``run_agent`` is the whole job for one client; ``Connections`` runs it for a collector
that keeps its connections between passes. Each failure is raised as one
``errors.HostError`` whose ``outcome`` is the ``model.Outcome`` it is recorded as;
asyncssh's exceptions are translated in one place, ``failures.translate``.

The parts: ``connect`` (algorithms, retries; host keys are ``fleetstat.ssh.hostkeys``),
``probe`` (which shell answers), ``posix`` and ``supervisor`` (the one command of a
POSIX host), ``framing`` (the answer in what a login printed), ``windows`` (the command
tables of cmd.exe and PowerShell), ``session`` (a command's output read with caps),
``steps`` (one host on one connection), ``pool`` (the connections of a collector).
"""

from __future__ import annotations

from fleetstat.core import model
from fleetstat.ssh.connect import connect
from fleetstat.ssh.framing import Output
from fleetstat.ssh.pool import Connections
from fleetstat.ssh.steps import CLEANUP_GRACE
from fleetstat.ssh.supervisor import AGENT_NAME
from fleetstat.ssh.supervisor import PREFIX as TEMP_PREFIX


async def run_agent(
    client: model.Client, settings: model.Settings, payload: bytes, request: bytes
) -> Output:
    """Run the agent on ``client`` over a connection of its own; its output.

    See ``Connections.run_agent``; the connection is closed at the end.
    """
    async with Connections(keep=False, max_kept=0) as connections:
        return await connections.run_agent(client, settings, payload, request)


__all__ = [
    "AGENT_NAME",
    "CLEANUP_GRACE",
    "TEMP_PREFIX",
    "Connections",
    "Output",
    "connect",
    "run_agent",
]
