"""The metrics an ``<alert>`` can watch, declared once: ``METRICS``.

Each row says what the metric is called, its unit, how its value is read from an
agent's answer and from a stored sample, how its value and limit are written, and the
line the documentation gives it. The config's ``type`` choices and limit parsing, the
alert evaluation, the alert mail's values and history, and the docs test all derive
from this table. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetstat.model import Answer

if TYPE_CHECKING:
    from fleetstat.store.models import Sample


class Unit(enum.StrEnum):
    """How a metric's value and limit are written: ``87.2%``, or a number like ``1.52``."""

    PERCENT = "percent"
    PER_CORE = "load per core"


#: One stored sample as a metric reads it: the ``samples`` row and its disks' percent by mount.
StoredDisks = Mapping[str, float]


@dataclass(frozen=True)
class Metric:
    """One watchable figure.

    ``read(answer, mount)`` gives the value in ``unit`` and the label a reason starts
    with (``cpu``, ``disk /var``), or (None, label) when the answer lacks it.
    ``stored(sample, disks, mount)`` gives the same value from a stored sample.
    ``doc`` is the documentation's description of the value (docs/alerts.md).
    """

    name: str
    unit: Unit
    doc: str
    read: Callable[[Answer, str | None], tuple[float | None, str]]
    stored: Callable[[Sample, StoredDisks, str | None], float | None]
    takes_mount: bool = False

    def format_value(self, value: float | None) -> str:
        """The value in its unit: ``87.2%``, ``1.52``; ``-`` when there is none."""
        if value is None:
            return "-"
        return f"{value:.1f}%" if self.unit is Unit.PERCENT else f"{value:.2f}"

    def format_limit(self, limit: float) -> str:
        """A limit as the config writes it: ``20%``, ``1.5``."""
        return f"{limit:g}%" if self.unit is Unit.PERCENT else f"{limit:g}"


# ---------------------------------------------------------------- readers


def _memory(answer: Answer, _mount: str | None) -> tuple[float | None, str]:
    return (answer.memory.percent if answer.memory else None), "memory"


def _cpu(answer: Answer, _mount: str | None) -> tuple[float | None, str]:
    return (answer.cpu.percent if answer.cpu else None), "cpu"


def _swap(answer: Answer, _mount: str | None) -> tuple[float | None, str]:
    return (answer.swap.percent if answer.swap else None), "swap"


def _load(answer: Answer, _mount: str | None) -> tuple[float | None, str]:
    if answer.load is None or answer.cpu is None or answer.cpu.count <= 0:
        return None, "load"
    return answer.load[0] / answer.cpu.count, "load"


def _disk(answer: Answer, mount: str | None) -> tuple[float | None, str]:
    """The fullest measured filesystem, or the one at ``mount``; none for one that did not
    answer (its ``error``) or a read-only image (never "the fullest")."""
    if mount is None:
        measured = [disk for disk in answer.disks if disk.measured]
        if not measured:
            return None, "disk"
        fullest = max(measured, key=lambda disk: disk.percent)
        return fullest.percent, f"disk {fullest.mount}"
    for disk in answer.disks:
        if disk.mount == mount:
            return (None if disk.error else disk.percent), f"disk {mount}"
    return None, f"disk {mount}"


def missing_mount(answer: Answer, mount: str) -> bool:
    """True when ``answer`` lists filesystems but none mounted at ``mount``."""
    return bool(answer.disks) and all(disk.mount != mount for disk in answer.disks)


def _stored_load(sample: Sample, _disks: StoredDisks, _mount: str | None) -> float | None:
    if sample.load1 is None or not sample.cpu_count:
        return None
    return sample.load1 / sample.cpu_count


def _stored_disk(_sample: Sample, disks: StoredDisks, mount: str | None) -> float | None:
    return disks.get(mount) if mount else max(disks.values(), default=None)


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "memory",
            Unit.PERCENT,
            "memory in use: (total − available) / total",
            _memory,
            lambda sample, _disks, _mount: sample.mem_percent,
        ),
        Metric(
            "cpu",
            Unit.PERCENT,
            "CPU busy since the last pass, or over `cpu-interval` (see below)",
            _cpu,
            lambda sample, _disks, _mount: sample.cpu_percent,
        ),
        Metric(
            "swap",
            Unit.PERCENT,
            "swap in use (0 when there is no swap)",
            _swap,
            lambda sample, _disks, _mount: sample.swap_percent,
        ),
        Metric(
            "disk",
            Unit.PERCENT,
            "percent used, as `df` shows it, of the fullest real filesystem or of the one "
            "mounted at `mount`",
            _disk,
            _stored_disk,
            takes_mount=True,
        ),
        Metric(
            "load",
            Unit.PER_CORE,
            "1-minute load average divided by the number of CPUs (load **per core**); "
            "none on Windows",
            _load,
            _stored_load,
        ),
    )
}

#: The ``type`` values of ``<alert>``, in the table's order.
ALERT_TYPES = tuple(METRICS)
