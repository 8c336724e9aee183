"""The live display of a pass on a terminal: a bar, the count, and the slowest hosts.

It redraws by itself (twice a second, rich's ``Live``), so a pass stuck on a few hosts
still shows time passing and names them: ``waiting for: blackhole 38 s, db02 12 s``.
Not on a terminal it draws nothing; a wait for the pass lock is logged either way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fleetstat.core.model import Client, HostResult

#: How many of the hosts in flight the display names, the longest first.
SLOWEST = 3
BAR = 30


class Progress:
    """The display of one pass over ``total`` hosts on ``out`` (stderr); a context manager."""

    def __init__(
        self,
        total: int,
        out: TextIO | None = None,
        *,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out or sys.stderr
        self._live_wanted = self._out.isatty() if live is None else live
        self._clock = clock
        self._started = clock()
        self._total = total
        self._done = 0
        self._flight: dict[str, float] = {}
        self._live: Any = None
        self._lock_holder: str | None = None

    def __enter__(self) -> Progress:
        if self._live_wanted:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self._out, highlight=False)
            self._live = Live(
                get_renderable=self.line, console=console, refresh_per_second=2, transient=True
            )
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def waiting_for_lock(self, holder: str) -> None:
        """Show that the pass waits for the pass lock, and who holds it, until a host starts.

        The pass itself logs the wait too (a line on stderr, on a terminal or not).
        """
        self._lock_holder = holder

    def started(self, client: Client) -> None:
        """``client`` is in flight from now."""
        self._lock_holder = None
        self._flight[client.label] = self._clock()

    def finished(self, result: HostResult) -> None:
        """A host is done."""
        self._flight.pop(result.client.label, None)
        self._done += 1

    def line(self) -> str:
        """The display's one line: ``[####....] 12/200 hosts 41 s  waiting for: web07 38 s``."""
        now = self._clock()
        if self._lock_holder is not None:
            return f"waiting for the pass lock, held by {self._lock_holder}"
        filled = BAR * self._done // self._total if self._total else BAR
        text = (
            f"[{'#' * filled}{'.' * (BAR - filled)}] {self._done}/{self._total} hosts "
            f"{now - self._started:.0f} s"
        )
        slowest = sorted(self._flight.items(), key=lambda item: item[1])[:SLOWEST]
        if slowest:
            waiting = ", ".join(f"{name} {now - since:.0f} s" for name, since in slowest)
            more = len(self._flight) - len(slowest)
            text += f"  waiting for: {waiting}" + (f" and {more} more" if more > 0 else "")
        return text
