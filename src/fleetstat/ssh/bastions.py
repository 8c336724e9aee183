"""Bastions shared by the hosts behind them: one login to each jump host, not one per host.

A client with ``jump`` (its own, its group's, or ``ProxyJump`` of ``ssh-config``) is
reached through a TCP forward opened as a channel over the collector's one
authenticated connection to that jump host (a chain ``a,b`` is one connection to ``b``
through ``a``). It is opened by the first host that needs it and kept while the
collector runs (one pass for ``run``, all passes for ``watch``). At most
``jump-concurrency`` hosts log in through one bastion at a time, so its ``MaxStartups``
never drops them.

The bastion's host key is checked like any host's (the ``known-hosts`` setting); a
``ProxyJump`` of ``ssh-config`` is checked as ``ssh`` checks it, against that config's
``UserKnownHostsFile``.

A bastion that cannot be reached or refuses the login fails the host that tried it with
the bastion's outcome (``unreachable``, ``auth_failed`` …) naming the bastion — its one
alert — and, for ``RETRY_AFTER`` seconds, every other host behind it at once as
``jump_failed``, which alerts nobody and leaves their alert states as they were.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

import asyncssh

from fleetstat.core import model
from fleetstat.core.errors import HostError

#: Seconds a bastion's failure is given to the hosts behind it before it is tried again.
RETRY_AFTER = 30.0


@dataclass
class Bastion:
    """One jump host (and the hops before it): its connection, or why there is none."""

    spec: str
    gate: asyncio.Semaphore
    conn: asyncssh.SSHClientConnection | None = None
    failure: HostError | None = None
    failed_at: float = 0.0
    opened: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def hop(spec: str, client: model.Client) -> model.Client:
    """The last hop of ``spec`` as a client to log in to: its user (none: ssh-config's
    or the local one), host and port; the key file and certificate of ``client``."""
    last = spec.rsplit(",", 1)[-1]
    user, _, rest = last.rpartition("@")
    host, port = rest, 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else 22
    elif rest.count(":") == 1:
        host, _, number = rest.partition(":")
        port = int(number)
    return dataclasses.replace(
        client, ip=host, port=port, username=user, name=f"bastion {spec}", password=None,
        password_env=None, jump=None, alerts=(),
    )  # fmt: skip


class Bastions:
    """The bastions of one collector, by their spec."""

    def __init__(self, per_bastion: int) -> None:
        self.per_bastion = per_bastion
        self._by_spec: dict[str, Bastion] = {}

    async def through(
        self, client: model.Client, settings: model.Settings, deadline: float
    ) -> Bastion:
        """The open bastion of ``client``; ``HostError`` naming it when it cannot be had."""
        from fleetstat.ssh.connect import connect_by

        assert client.jump is not None
        # shared only by clients that log in to it alike
        key = f"{client.jump}|{client.keyfile}|{client.certificate}"
        bastion = self._by_spec.get(key)
        if bastion is None:
            bastion = Bastion(client.jump, asyncio.Semaphore(self.per_bastion))
            self._by_spec[key] = bastion
        async with bastion.lock:
            loop = asyncio.get_running_loop()
            if bastion.conn is not None and not bastion.conn.is_closed():
                return bastion
            if bastion.failure and loop.time() - bastion.failed_at < RETRY_AFTER:
                raise _behind(client, bastion.failure)
            hops = client.jump.split(",")
            try:
                bastion.conn = await connect_by(
                    hop(client.jump, client),
                    settings,
                    deadline,
                    tunnel=",".join(hops[:-1]),
                    by_config=settings.ssh_config is not None,
                )
            except HostError as err:
                bastion.failure, bastion.failed_at = err, loop.time()
                raise _tried(client, err) from err
            bastion.failure = None
            bastion.opened += 1
            return bastion

    @property
    def logins(self) -> int:
        """How many times a bastion was logged in to."""
        return sum(b.opened for b in self._by_spec.values())

    async def aclose(self) -> None:
        """Close every bastion connection."""
        open_ = [b.conn for b in self._by_spec.values() if b.conn is not None]
        for conn in open_:
            conn.close()
        await asyncio.gather(*(conn.wait_closed() for conn in open_), return_exceptions=True)
        self._by_spec.clear()


def _tried(client: model.Client, err: HostError) -> HostError:
    """The bastion's failure as the error of the host that tried it: its own outcome
    (unreachable, auth_failed, …), so its alert is the bastion's one alert."""
    return HostError(
        f"bastion {client.jump}: {err} (the other hosts behind it are jump_failed)",
        outcome=err.outcome,
        transient=err.transient,
        host=client.address,
    )


def _behind(client: model.Client, err: HostError) -> HostError:
    """The bastion's failure for every other host behind it: ``jump_failed``, which
    alerts nobody (the host that tried the bastion alerts once for all of them)."""
    return HostError(
        f"behind bastion {client.jump}, which failed: {err}",
        outcome=model.Outcome.JUMP_FAILED,
        transient=True,
        host=client.address,
    )
