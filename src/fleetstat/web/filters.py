"""The template filters: times, durations, percents and sparklines as people read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import jinja2

#: Width and height of a sparkline, in SVG user units.
SPARK_WIDTH = 96
SPARK_HEIGHT = 22


def install(env: jinja2.Environment) -> None:
    """Register every filter of this module on ``env``."""
    env.filters.update(
        ago=ago,
        utc=utc,
        iso=iso,
        uptime=uptime,
        pct=pct,
        num=num,
        spark=spark,
        outcome_class=outcome_class,
    )


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``when`` as "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for None."""
    if when is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def utc(when: datetime | None) -> str:
    """``when`` as ``2026-12-01 18:04:05 UTC``; an empty string for None."""
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if when else ""


def iso(when: datetime | None) -> str:
    """``when`` as ISO 8601 UTC with ``Z`` (for ``<time datetime>``); empty for None."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""


def uptime(seconds: float | None) -> str:
    """Seconds as "12 d 3 h", "5 h 2 min", "4 min"; "–" for None."""
    if seconds is None:
        return "–"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


def pct(value: float | None) -> str:
    """A percent with one decimal, "–" for None."""
    return "–" if value is None else f"{value:.1f} %"


def num(value: float | None) -> str:
    """A number with two decimals, "–" for None."""
    return "–" if value is None else f"{value:.2f}"


@dataclass(frozen=True)
class Spark:
    """An SVG sparkline: ``line`` the points of its polyline (empty: none) and ``dots``
    the (x, y) of the points drawn as dots; false when there is nothing to draw."""

    line: str = ""
    dots: tuple[tuple[float, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.line or self.dots)


def spark(values: Sequence[float | None] | None, top: float | None = 100.0) -> Spark:
    """The sparkline of ``values``, oldest first, scaled to ``top`` (None: to the largest
    value). The line bridges a gap (None); a point without a known neighbour, and every
    point of a line of fewer than three, is also a dot, so a lone sample shows."""
    known = {i: v for i, v in enumerate(values or ()) if v is not None}
    if not known or values is None:
        return Spark()
    high = top if top is not None else max(*known.values(), 1e-9)
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    at = {
        i: (
            round(i * step, 1),
            round(SPARK_HEIGHT - 1 - min(max(v / high, 0.0), 1.0) * (SPARK_HEIGHT - 2), 1),
        )
        for i, v in known.items()
    }
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in at.values()) if len(at) > 1 else ""
    alone = [xy for i, xy in at.items() if len(at) < 3 or not ({i - 1, i + 1} & at.keys())]
    return Spark(line, tuple(alone))


def outcome_class(outcome: str | None) -> str:
    """The CSS class of an outcome badge: ok, bad, or none."""
    if outcome is None:
        return "none"
    return "ok" if outcome == "ok" else "bad"
