"""A pass's progress for tests: calls back with how many hosts are done, as each finishes."""

from __future__ import annotations

from collections.abc import Callable

from fleetstat.model import Client, HostResult


class OnFinished:
    """A ``job.Progress`` that calls ``callback(done, total)`` each time a host is done."""

    def __init__(self, callback: Callable[[int, int], None], total: int) -> None:
        self._callback = callback
        self._total = total
        self._done = 0

    def waiting_for_lock(self, holder: str) -> None:
        """Nothing to show."""

    def started(self, client: Client) -> None:
        """Nothing to show."""

    def finished(self, result: HostResult) -> None:
        """Count the host and call back."""
        self._done += 1
        self._callback(self._done, self._total)
