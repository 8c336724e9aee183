"""What a pass runs on, and what it tells a person as it goes.

An ``Engine`` collects the clients of one run: ``local.LocalEngine`` in this process,
``shards.CeleryEngine`` as shards on Celery workers. ``job.run_pass`` is handed one (by
default the one the ``engine`` setting names) and strings the rest of the pass around
it. A ``Display`` (``cli.progress.Progress``) is told who is in flight and who is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fleetstat.core.model import Client, Config, HostResult

if TYPE_CHECKING:
    from fleetstat.collect.writer import Writer
    from fleetstat.store import Store


class Display(Protocol):
    """What a pass tells a person's display as it goes."""

    def waiting_for_lock(self, holder: str) -> None:
        """Another pass holds the pass lock; ``holder`` says who (pid, machine, since)."""

    def started(self, client: Client) -> None:
        """``client`` is now in flight."""

    def finished(self, result: HostResult) -> None:
        """A host is done, with ``result``."""


class Engine(Protocol):
    """Collects every client of a run, each stored exactly once."""

    async def collect(
        self, config: Config, store: Store, run_id: int, sink: Writer, display: Display | None
    ) -> list[HostResult]:
        """One result per client of ``config``, in its order, for run ``run_id``.

        A result the engine stores itself goes to ``sink`` (which writes it in the
        pass's order, or spools it); one stored elsewhere (by a worker) is only
        returned, and why it is not stored goes to ``sink.unstored``.
        """
        ...
