"""Silences and acknowledgements: what an admin says about alerts, and what it covers.

A silence names hosts by a pattern (``web*``, ``10.0.0.5``, ``db01:2222``: shell-style,
matched against the client's name, IP and ``ip:port``) and optionally one rule (a type
such as ``disk``, covering every ``disk:…`` rule, or a rule key such as ``disk:/var``).
A silence without a rule covers every rule of the host, the built-in ``unreachable``
and ``host_key`` too: that is what maintenance needs. Alerts under a silence still
change state and are recorded; they mail nothing until it ends.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetstat.alerting import rules
from fleetstat.core.errors import UsageError
from fleetstat.core.metrics import ALERT_TYPES
from fleetstat.core.model import AlertRule, Client
from fleetstat.store import Store, alert_states, queries
from fleetstat.store import silences as stored
from fleetstat.store.silences import SilenceRow

RULE_TYPES = (*ALERT_TYPES, *rules.BUILTIN_TYPES)


@dataclass(frozen=True)
class CurrentAlert:
    """One alert firing or pending now, as ``fleetstat alerts`` shows it.

    ``value`` and ``limit`` are written in the rule's unit; ``silenced_by`` is the id of
    the silence that covers it (None: none does). Times are UTC.
    """

    host: str
    address: str
    rule: str
    state: str
    since: datetime
    value: str
    limit: str
    silenced_by: int | None
    acked_at: datetime | None
    ack_reason: str | None

    def as_json(self) -> dict[str, Any]:
        """The alert as JSON-ready values (times in ISO 8601)."""
        values = asdict(self)
        for name in ("since", "acked_at"):
            moment = values[name]
            values[name] = moment.isoformat() if moment else None
        return values


def current(store: Store, now: datetime) -> list[CurrentAlert]:
    """What fires and is pending at ``now``, with the silence and acknowledgement of each."""
    with store.session() as session:
        rows = alert_states.active(session)
        quiet = stored.in_force(session, now)
    return [_current(row, quiet) for row in rows]


def silenced_by(row: alert_states.AlertRow, quiet: Sequence[SilenceRow]) -> int | None:
    """The id of the first silence of ``quiet`` that covers the alert ``row``; None: none."""
    names = (row.host, row.address.rpartition(":")[0], row.address)
    covering = [s.id for s in quiet if _matches(s, names, row.type, row.rule)]
    return covering[0] if covering else None


def _current(row: alert_states.AlertRow, quiet: Sequence[SilenceRow]) -> CurrentAlert:
    rule = AlertRule(type=row.type, limit=row.threshold or 0.0)
    return CurrentAlert(
        host=row.host,
        address=row.address,
        rule=row.rule,
        state=row.state,
        since=row.since,
        value=rules.format_value(rule, row.value),
        limit=rules.format_limit(rule) if row.threshold is not None else "-",
        silenced_by=silenced_by(row, quiet),
        acked_at=row.acked_at,
        ack_reason=row.ack_reason,
    )


def covers(silence: SilenceRow, client: Client, rule: AlertRule) -> bool:
    """True when ``silence`` covers ``rule`` of ``client``."""
    return _matches(silence, (client.label, client.ip, client.address), rule.type, rule.key)


def _matches(silence: SilenceRow, names: Sequence[str], rule_type: str, rule_key: str) -> bool:
    if silence.rule is not None and silence.rule not in (rule_type, rule_key):
        return False
    pattern = silence.host_pattern.lower()
    return any(fnmatch.fnmatchcase(name.lower(), pattern) for name in names)


def any_covers(silences: Sequence[SilenceRow], client: Client, rule: AlertRule) -> bool:
    """True when one of ``silences`` covers ``rule`` of ``client``."""
    return any(covers(silence, client, rule) for silence in silences)


def add(  # noqa: PLR0917 (the fields of one silence)
    store: Store,
    host_pattern: str,
    rule: str | None,
    ends_at: datetime,
    reason: str,
    now: datetime,
) -> SilenceRow:
    """Store a silence from ``now`` to ``ends_at``; UsageError for an unknown rule or a past end."""
    if rule is not None and rule.split(":", 1)[0] not in RULE_TYPES:
        raise UsageError(
            f"--rule {rule!r} is no alert type: give one of {', '.join(RULE_TYPES)}, "
            "or a rule like disk:/var"
        )
    if ends_at <= now:
        raise UsageError(f"the silence would end at {ends_at:%Y-%m-%d %H:%M:%S} UTC, in the past")
    if not reason.strip():
        raise UsageError("--reason is empty: say why, so the next admin knows")
    with store.session() as session:
        return stored.add(session, host_pattern, rule, now, ends_at, reason.strip())


def end_time(now: datetime, *, for_seconds: float | None, until: str | None) -> datetime:
    """When a silence asked for with ``--for`` (seconds) or ``--until`` (a time) ends (UTC).

    ``until`` is ISO 8601 (``2026-12-01 22:00``, ``2026-12-01T22:00+01:00``); a time
    without a zone is UTC.
    """
    if (for_seconds is None) == (until is None):
        raise UsageError("give exactly one of --for (like 2h) and --until (like 2026-12-01 22:00)")
    if for_seconds is not None:
        return now + timedelta(seconds=for_seconds)
    assert until is not None
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise UsageError(
            f"--until {until!r} is not a time: write it like 2026-12-01 22:00 (UTC) "
            "or 2026-12-01T22:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def listed(store: Store, now: datetime) -> list[SilenceRow]:
    """The silences in force at ``now`` and those still to come."""
    with store.session() as session:
        return stored.listed(session, now)


def expire(store: Store, silence_id: int, now: datetime) -> None:
    """End silence ``silence_id`` now; UsageError when no such silence is in force."""
    with store.session() as session:
        if not stored.end(session, silence_id, now):
            raise UsageError(
                f"no silence {silence_id} in force: `fleetstat silence list` shows them"
            )


def acknowledge(store: Store, host: str, rule: str, reason: str | None, now: datetime) -> int:
    """Acknowledge the firing ``rule`` of ``host`` (name, IP or ip:port); how many hosts.

    Its reminders stop until it resolves. UsageError when nothing of that name fires.
    """
    with store.session() as session:
        hosts = queries.host_ids(session, host)
        done = sum(alert_states.acknowledge(session, h, rule, reason, now) for h in hosts)
    if not done:
        raise UsageError(
            f"no firing alert {rule!r} on {host!r}: `fleetstat alerts` shows what fires"
        )
    return done
