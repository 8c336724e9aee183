"""What one value of an agent's answer may hold: a ``Figure`` (a number in a range), a
``Text`` (a string of a bounded length) or ``Items`` (a bounded array or object), and
the ranges the answer's values share (``PERCENT``, ``BYTES`` …).

``limits.LIMITS`` says which of them each path of an answer is; the metrics table
(``metrics.METRICS``) gives the range of each figure of a metric. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Figure:
    """A number: ``whole`` or finite float, from ``low`` to ``high`` inclusive, in ``unit``."""

    unit: str
    low: float
    high: float
    whole: bool = False
    span: str = ""

    @property
    def allowed(self) -> str:
        """The range in words: ``0 to 100 percent``."""
        return self.span or f"{shown(self.low)} to {shown(self.high)} {self.unit}"


def shown(value: float) -> str:
    """A number as an error message shows it: whole numbers exactly (up to 20 digits)."""
    if not isinstance(value, int):
        return f"{value:g}"
    digits = str(value)
    return digits if len(digits) <= 20 else f"a {len(digits)}-digit number"


@dataclass(frozen=True)
class Text:
    """A string of at most ``limit`` characters: longer free text is cut (``cut``),
    a longer identifier refuses the answer."""

    limit: int
    cut: bool = True

    @property
    def allowed(self) -> str:
        """The rule in words: ``text, cut at 255 characters``."""
        if self.cut:
            return f"text, cut at {self.limit} characters"
        return f"at most {self.limit} printable characters, else refused"


@dataclass(frozen=True)
class Items:
    """An array or object of at most ``limit`` entries."""

    limit: int

    @property
    def allowed(self) -> str:
        """The rule in words: ``at most 64 entries``."""
        return f"at most {self.limit} entries"


PERCENT = Figure("percent", 0, 100)
BYTES = Figure("bytes", 0, INT64_MAX, whole=True)
CORES = Figure("cores", 1, 1_000_000, whole=True)
SECONDS = Figure("seconds", 0, 1e15)
LOAD = Figure("load average", 0, 1_000_000)
#: 1970-01-01 to 2100-01-01 UTC: times a sane clock can show.
EPOCH = Figure("epoch seconds", 0, 4_102_444_800, span="the years 1970 to 2099")
NAME = Text(255)
SHORT = Text(32)
ERROR = Text(2048)


#: Largest event cursor, as JSON characters (it is stored and sent back next run).
MAX_CURSOR = 16 * 1024
