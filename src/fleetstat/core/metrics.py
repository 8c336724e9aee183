"""The metrics an ``<alert>`` can watch, declared once: ``METRICS``.

Each row says what the metric is called, its unit (how its limit is parsed and its
value written), the line the documentation gives it, and the figures it stores: for
each one its ``samples`` column, where the agent's answer holds it and the range it
must lie in. Everything else derives from this table: the answer's validation of those
figures (``limits.LIMITS``), the ``samples`` row (``store.writes.sample_row``), the
hourly rollups (``store.retention.ROLLED_UP``), the ``/metrics`` gauges, the config's
``type`` choices and limit parsing, the alert evaluation, the alert mail's values and
history, and the docs tests. ``docs/alerts.md`` says how to add a metric. Nothing
here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetstat.core.bounds import LOAD, PERCENT, Figure
from fleetstat.core.errors import Invalid
from fleetstat.core.model import Answer

# ---------------------------------------------------------------- units


def plain_number(text: str) -> float:
    """A non-negative decimal number: ``1.5``, ``300``."""
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text.strip()):
        raise Invalid(f"{text!r} is not a number", "write a number like 1.5")
    return float(text)


def percent_limit(text: str) -> float:
    """A percentage 0-100 written ``50%`` or ``50``."""
    fix = "write a percentage from 0 to 100, like 50% or 50"
    try:
        value = plain_number(text.strip().removesuffix("%"))
    except Invalid:
        raise Invalid(f"limit {text!r} is not a percentage", fix) from None
    if value > 100:
        raise Invalid(f"limit {text!r} is over 100%", fix)
    return value


def load_limit(text: str) -> float:
    """The 1-minute load average per core: a plain non-negative number."""
    try:
        return plain_number(text)
    except Invalid:
        raise Invalid(
            f"limit {text!r} is not a plain number: a load limit is the 1-minute load "
            "average PER CORE, not a percentage",
            'write a number like limit="1.5" (fires when load / cores > 1.5)',
        ) from None


@dataclass(frozen=True)
class Unit:
    """How a metric's value and limit are written and read.

    ``name`` is the unit as the docs show it; a value is written with ``decimals``
    decimals and ``suffix`` (``87.2%``, ``1.52``), a limit as the config writes it
    (``20%``, ``1.5``); ``after`` follows a limit in ``check-config --show``.
    ``parse_limit`` reads a ``limit`` or ``clear`` attribute (raises ``Invalid``).
    """

    name: str
    suffix: str
    decimals: int
    parse_limit: Callable[[str], float]
    after: str = ""

    def __str__(self) -> str:
        return self.name

    def format_value(self, value: float | None) -> str:
        """The value in this unit: ``87.2%``, ``1.52``; ``-`` when there is none."""
        return "-" if value is None else f"{value:.{self.decimals}f}{self.suffix}"

    def format_limit(self, limit: float) -> str:
        """A limit as the config writes it: ``20%``, ``1.5``."""
        return f"{limit:g}{self.suffix}"


PERCENT_UNIT = Unit("percent", "%", 1, percent_limit)
PER_CORE = Unit("load per core", "", 2, load_limit, after=" per core")


# ---------------------------------------------------------------- stored figures


@dataclass(frozen=True)
class Column:
    """One figure a metric stores: a column of ``samples``, rolled up every hour.

    ``name`` is the column (and its ``sample_rollups.metric``); ``path`` is where the
    agent's answer holds the figure (``cpu.percent``, ``load[0]``, ``procs.count``)
    and ``bounds`` the range it must lie in there, else the answer is refused
    (``bad_payload`` naming ``path``). ``gauge`` and ``help`` are its family at
    ``/metrics``. ``read`` takes the figure from a typed section of ``model.Answer``
    (``answer.cpu.percent``); without it the figure is *plain*: a ``section.name``
    number that ``answer.parse_answer`` reads into ``Answer.figures``, stored in a
    ``samples`` column that ``store.models`` declares from this row (BIGINT when
    ``bounds`` is whole, else double precision) and an Alembic migration adds.
    """

    name: str
    path: str
    bounds: Figure
    gauge: str
    help: str
    read: Callable[[Answer], float | None] | None = None

    @property
    def plain(self) -> bool:
        """True when no typed section of ``model.Answer`` holds the figure."""
        return self.read is None

    def value(self, answer: Answer) -> float | None:
        """The figure in ``answer``; None when its part failed on the client."""
        return answer.figures.get(self.name) if self.read is None else self.read(answer)


#: One stored sample as a metric reads it: the ``samples`` row (the store's ``Sample``, or
#: any row with its columns as attributes) and its disks' percent by mount.
StoredRow = Any
StoredDisks = Mapping[str, float]
Reader = Callable[[Answer, str | None], tuple[float | None, str]]
StoredReader = Callable[[StoredRow, StoredDisks, str | None], float | None]


@dataclass(frozen=True)
class Metric:
    """One watchable figure: ``type="name"`` of an ``<alert>``.

    ``doc`` is the documentation's description of the value (docs/alerts.md);
    ``columns`` are the figures it stores, the first one the value an alert watches.
    A metric whose value is not simply its first column (load per core, the fullest
    disk) says how to read it: ``read_answer(answer, mount)`` and
    ``read_sample(sample, disks, mount)``.
    """

    name: str
    unit: Unit
    doc: str
    columns: tuple[Column, ...] = ()
    read_answer: Reader | None = None
    read_sample: StoredReader | None = None
    takes_mount: bool = False

    def read(self, answer: Answer, mount: str | None) -> tuple[float | None, str]:
        """The value in ``unit`` and the label a reason starts with (``cpu``,
        ``disk /var``); (None, label) when the answer lacks it."""
        if self.read_answer is not None:
            return self.read_answer(answer, mount)
        return self.columns[0].value(answer), self.name

    def stored(self, sample: StoredRow, disks: StoredDisks, mount: str | None) -> float | None:
        """The same value from a stored sample and its disks."""
        if self.read_sample is not None:
            return self.read_sample(sample, disks, mount)
        value: float | None = getattr(sample, self.columns[0].name)
        return value

    def format_value(self, value: float | None) -> str:
        """The value in its unit: ``87.2%``, ``1.52``; ``-`` when there is none."""
        return self.unit.format_value(value)

    def format_limit(self, limit: float) -> str:
        """A limit as the config writes it: ``20%``, ``1.5``."""
        return self.unit.format_limit(limit)


# ---------------------------------------------------------------- readers


def _memory(answer: Answer) -> float | None:
    return answer.memory.percent if answer.memory else None


def _cpu(answer: Answer) -> float | None:
    return answer.cpu.percent if answer.cpu else None


def _swap(answer: Answer) -> float | None:
    return answer.swap.percent if answer.swap else None


def _load_average(index: int) -> Callable[[Answer], float | None]:
    def read(answer: Answer) -> float | None:
        return answer.load[index] if answer.load else None

    return read


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


def _stored_load(sample: StoredRow, _disks: StoredDisks, _mount: str | None) -> float | None:
    load: float | None = sample.load1
    cores: int | None = sample.cpu_count
    if load is None or not cores:
        return None
    return load / cores


def _stored_disk(_sample: StoredRow, disks: StoredDisks, mount: str | None) -> float | None:
    return disks.get(mount) if mount else max(disks.values(), default=None)


def _load_column(index: int, minutes: int) -> Column:
    """The ``load{minutes}`` column: the answer's ``load[index]``, not per core."""
    return Column(
        f"load{minutes}",
        f"load[{index}]",
        LOAD,
        f"fleetstat_load{minutes}",
        f"{minutes}-minute load average at the last sample",
        _load_average(index),
    )


# ---------------------------------------------------------------- the table

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "memory",
            PERCENT_UNIT,
            "memory in use: (total − available) / total",
            columns=(
                Column(
                    "mem_percent",
                    "memory.percent",
                    PERCENT,
                    "fleetstat_memory_percent",
                    "memory used, percent, at the last sample",
                    _memory,
                ),
            ),
        ),
        Metric(
            "cpu",
            PERCENT_UNIT,
            "CPU busy since the last pass, or over `cpu-interval` (see below)",
            columns=(
                Column(
                    "cpu_percent",
                    "cpu.percent",
                    PERCENT,
                    "fleetstat_cpu_percent",
                    "CPU busy, percent, at the last sample",
                    _cpu,
                ),
            ),
        ),
        Metric(
            "swap",
            PERCENT_UNIT,
            "swap in use (0 when there is no swap)",
            columns=(
                Column(
                    "swap_percent",
                    "swap.percent",
                    PERCENT,
                    "fleetstat_swap_percent",
                    "swap used, percent, at the last sample",
                    _swap,
                ),
            ),
        ),
        Metric(
            "disk",
            PERCENT_UNIT,
            "percent used, as `df` shows it, of the fullest real filesystem or of the one "
            "mounted at `mount`",
            read_answer=_disk,
            read_sample=_stored_disk,
            takes_mount=True,
        ),
        Metric(
            "load",
            PER_CORE,
            "1-minute load average divided by the number of CPUs (load **per core**); "
            "none on Windows",
            columns=(_load_column(0, 1), _load_column(1, 5), _load_column(2, 15)),
            read_answer=_load,
            read_sample=_stored_load,
        ),
    )
}

#: The ``type`` values of ``<alert>``, in the table's order.
ALERT_TYPES = tuple(METRICS)
#: Every stored figure of every metric, in the table's order (the disks' are in
#: ``sample_disks``).
COLUMNS = tuple(column for metric in METRICS.values() for column in metric.columns)
#: The figures no typed section of the answer holds: read, stored and declared by their rows.
PLAIN_COLUMNS = tuple(column for column in COLUMNS if column.plain)
