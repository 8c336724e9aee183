"""The one mapping from asyncssh's and the OS's exceptions to a host's outcome."""

from __future__ import annotations

import os
import re
from typing import Protocol

import asyncssh

from fleetstat.core import model
from fleetstat.core.errors import HostError


class RefusalSource(Protocol):
    """What saw the host key: its ``refused`` says why a key was refused (or None)."""

    @property
    def refused(self) -> str | None:
        """Why the key was refused, or None."""

    @property
    def certificate_missing(self) -> str | None:
        """Why a drop during the key exchange is the host key's fault, or None."""


def fail(client: model.Client, outcome: model.Outcome, message: str) -> HostError:
    """A ``HostError`` for ``client``; unreachable and timeout are transient."""
    transient = outcome in (model.Outcome.UNREACHABLE, model.Outcome.TIMEOUT)
    return HostError(message, outcome=outcome, transient=transient, host=client.address)


def os_reason(err: OSError) -> str:
    """What an OS error means, in the system's words ("connection refused")."""
    if err.errno:
        return os.strerror(err.errno).lower()
    return str(err) or type(err).__name__


def translate(client: model.Client, err: BaseException, checker: RefusalSource | None) -> HostError:
    """The ``HostError`` that ``err`` (raised while talking to ``client``) is recorded as."""
    outcome = model.Outcome
    if isinstance(err, HostError):
        return err
    if isinstance(err, asyncssh.PermissionDenied):
        return fail(client, outcome.AUTH_FAILED, f"authentication failed: {err.reason}")
    if isinstance(err, asyncssh.HostKeyNotVerifiable):
        why = checker.refused if checker and checker.refused else err.reason
        return fail(client, outcome.HOST_KEY_MISMATCH, why)
    if isinstance(err, TimeoutError):
        return fail(client, outcome.UNREACHABLE, "no SSH answer within the connect timeout")
    dropped = isinstance(err, OSError | asyncssh.DisconnectError | asyncssh.ConnectionLost)
    if dropped and checker is not None and checker.certificate_missing:
        return fail(client, outcome.HOST_KEY_MISMATCH, checker.certificate_missing)
    common = (
        _NO_MATCH.fullmatch(err.reason) if isinstance(err, asyncssh.KeyExchangeFailed) else None
    )
    if common:
        kind, ours, theirs = common.groups()
        return fail(
            client,
            outcome.NO_COMMON_ALGORITHM,
            f"no {kind} algorithm in common: fleetstat offers {_listed(ours)}; "
            f"the server offers {_listed(theirs)}",
        )
    if isinstance(err, asyncssh.DisconnectError):
        return fail(client, outcome.UNREACHABLE, f"connection closed: {err.reason}")
    if isinstance(err, OSError):
        return fail(client, outcome.UNREACHABLE, os_reason(err))
    if isinstance(err, asyncssh.ChannelOpenError) and err.code == asyncssh.OPEN_CONNECT_FAILED:
        # a bastion's forward to the host failed: the host is down or refuses
        return fail(client, outcome.UNREACHABLE, f"the bastion could not reach it: {err.reason}")
    if isinstance(err, asyncssh.ChannelOpenError | asyncssh.Error):
        return fail(client, outcome.AGENT_FAILED, f"SSH: {err}")
    raise err  # not the client's doing: fleetstat's own error, which the collector reports


#: asyncssh's words when a kind of algorithm has no match: the kind, what it sent, got.
_NO_MATCH = re.compile(r"No matching (.+) algorithm found, sent (.*) and received (.*)")


def _listed(algorithms: str) -> str:
    return ", ".join(algorithms.split(",")) if algorithms != "<None>" else "nothing"


def retry_now(err: BaseException) -> bool:
    """True for a connection dropped before authentication (reset, closed during key exchange)."""
    if isinstance(err, asyncssh.PermissionDenied | asyncssh.HostKeyNotVerifiable):
        return False
    if isinstance(err, ConnectionRefusedError | TimeoutError):
        return False
    return isinstance(err, ConnectionResetError | BrokenPipeError | asyncssh.ConnectionLost) or (
        isinstance(err, asyncssh.DisconnectError)
        and err.code in (asyncssh.DISC_CONNECTION_LOST, asyncssh.DISC_PROTOCOL_ERROR)
    )


def noted(err: HostError, note: str) -> HostError:
    """``err`` with ``note`` added to its message."""
    return HostError(f"{err}; {note}", outcome=err.outcome, transient=err.transient, host=err.host)
