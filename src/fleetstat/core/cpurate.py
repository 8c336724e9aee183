"""CPU percent without a sleep: from the counters of a host's previous sample.

The agent reports its raw counters (busy and total CPU seconds since boot) every
pass. Busy over total between two samples is the host's CPU use over the time
between them, as Prometheus' ``rate()`` over node_exporter's counters computes it.
So from the second pass on the agent is told not to sleep; it still measures over
``cpu-interval`` itself on the first pass, after a gap longer than ``cpu-max-gap``
and when its counters went back (a reboot).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetstat.core.model import Cpu, CpuMethod


@dataclass(frozen=True)
class Counters:
    """One sample's CPU counters (seconds since boot) and the agent's clock then."""

    busy: float
    total: float
    at: datetime


def request_since(
    previous: Counters | None, now: datetime, max_gap: float
) -> dict[str, Any] | None:
    """The counters to send the agent so it need not sleep, or None (it measures itself).

    None on a first pass and when the previous sample is more than ``max_gap`` seconds
    old (a rate over hours says little about now).
    """
    if previous is None or (now - previous.at).total_seconds() > max_gap:
        return None
    return {"busy": previous.busy, "total": previous.total}


def apply(cpu: Cpu, at: datetime, previous: Counters | None) -> Cpu:
    """``cpu`` with its percent taken from ``previous`` when the agent did not measure.

    ``at`` is the agent's clock of this answer. A percent the agent measured is kept
    (method ``interval``). Otherwise busy over total since ``previous`` (method
    ``counters``, ``seconds`` the wall time between the samples); without a usable
    previous sample (none, counters went back, no time passed) the percent stays None
    (method ``none``).
    """
    if cpu.percent is not None:
        return dataclasses.replace(cpu, method=CpuMethod.INTERVAL, seconds=cpu.interval)
    percent = rate(previous, cpu) if previous is not None else None
    if percent is None or previous is None:
        return dataclasses.replace(cpu, method=CpuMethod.NONE, seconds=0.0)
    seconds = round((at - previous.at).total_seconds(), 3)
    return dataclasses.replace(cpu, percent=percent, method=CpuMethod.COUNTERS, seconds=seconds)


def rate(previous: Counters, cpu: Cpu) -> float | None:
    """Percent busy (0–100, one decimal) from ``previous`` to ``cpu``; None when the
    counters went back or did not move."""
    total = cpu.total - previous.total
    busy = cpu.busy - previous.busy
    if total <= 0 or busy < 0:
        return None
    return round(min(100.0, busy * 100.0 / total), 1)
