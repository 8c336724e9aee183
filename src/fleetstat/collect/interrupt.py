"""SIGINT and SIGTERM for a command that runs passes: each signal takes the next step.

``run(main)`` is ``asyncio.run(main)`` with the signals handled on the loop:

- with a ``graceful`` step (``watch``), the first signal calls it and ``main`` ends on
  its own (after the pass in flight);
- the next one (the first, without ``graceful``: ``run``) cancels ``main`` once: the
  collector stops the hosts in flight and cleans up, their results are stored as
  ``interrupted``, and ``Interrupted`` comes out (exit 130 for SIGINT, 143 for SIGTERM);
- one more aborts the process at once, saying what may be left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fleetstat.core.errors import Interrupted

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: What an abort may leave, said when a signal comes during the cleanup.
LEFT_BEHIND = (
    "the hosts that were in flight may keep a fleetstat temp dir (the next run removes it) "
    "and an agent process, and this run stays unfinished in the database (finished_at empty)"
)

__all__ = ["LEFT_BEHIND", "SIGNALS", "Interrupted", "again", "run"]


def run(
    main: Coroutine[Any, Any, T],
    *,
    graceful: Callable[[int], None] | None = None,
    left: str = LEFT_BEHIND,
) -> T:
    """Run ``main`` to its end, or stop it step by step on SIGINT/SIGTERM (see the module)."""
    return asyncio.run(_guarded(main, graceful, left))


async def _guarded(
    main: Coroutine[Any, Any, T], graceful: Callable[[int], None] | None, left: str
) -> T:
    task = asyncio.ensure_future(main)
    signals = _Steps(task, graceful, left)
    loop = asyncio.get_running_loop()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, signals.on_signal, signum)
    try:
        return await task
    except asyncio.CancelledError:
        if signals.cancelled_by is None:
            raise
        raise Interrupted(signals.cancelled_by) from None
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)


class _Steps:
    """What the next signal does: graceful stop, then cancel, then abort."""

    def __init__(
        self, task: asyncio.Future[Any], graceful: Callable[[int], None] | None, left: str
    ) -> None:
        self._task = task
        self._graceful = graceful
        self._left = left
        self.cancelled_by: int | None = None

    def on_signal(self, signum: int) -> None:
        """Take the next step for ``signum``."""
        name = signal.Signals(signum).name
        if self._graceful is not None:
            graceful, self._graceful = self._graceful, None
            graceful(signum)
        elif self.cancelled_by is None:
            self.cancelled_by = signum
            _say(f"{name}: stopping the hosts in flight and cleaning up — {again(signum)}")
            self._task.cancel()
        else:
            _say(f"{name} again: aborted at once; {self._left}")
            os._exit(128 + signum)


def again(signum: int) -> str:
    """``Ctrl-C again to abort`` (SIGINT), or the same for SIGTERM."""
    return "Ctrl-C again to abort" if signum == signal.SIGINT else "SIGTERM again to abort"


def _say(text: str) -> None:
    print(f"fleetstat: {text}", file=sys.stderr, flush=True)
