"""The state of one alert rule on one host, and its changes: values the store keeps.

``alerting.rules`` computes them; ``store.alert_states`` writes them compare-and-set and
reads them back. Nothing here knows how a state is reached.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class State(enum.StrEnum):
    """The state of one (client, rule), as stored in ``alert_states.state``."""

    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


class NoticeKind(enum.StrEnum):
    """What a notice tells."""

    FIRING = "FIRING"
    REMINDER = "REMINDER"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True)
class AlertState:
    """The stored state of one (client, rule); ``version`` 0 means no row yet.

    ``value`` and ``threshold`` are in the rule's unit (percent, or load per core);
    ``since`` is when ``state`` began; ``consecutive`` counts runs over the limit in a
    row, ``clearing`` runs below the clear value while firing. ``unmailed`` is True
    while a firing was never mailed (it began under a silence). ``acked_at`` and
    ``ack_reason`` are set by ``fleetstat alerts ack`` until the rule resolves.
    """

    rule: str
    type: str
    state: State = State.OK
    value: float | None = None
    threshold: float | None = None
    since: datetime | None = None
    consecutive: int = 0
    last_notified_at: datetime | None = None
    version: int = 0
    clearing: int = 0
    unmailed: bool = False
    acked_at: datetime | None = None
    ack_reason: str | None = None


@dataclass(frozen=True)
class Transition:
    """One state change, as recorded in ``alert_transitions``."""

    old_state: State
    new_state: State
    reason: str
