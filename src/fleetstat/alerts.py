"""Alert rules: from one host result and the stored state, the new state and what to say.

Everything here is pure: ``evaluate`` takes the stored ``AlertState`` of one
(client, rule), the run's ``HostResult`` and ``now``, and returns an ``Evaluation``
(the new state, the transition to record, the notice to mail). Writing the state
compare-and-set and mailing the notice belong to ``notify``.

States: ``ok`` → (``pending`` while fewer than ``for_runs`` runs in a row were over
the limit) → ``firing`` → ``ok``. A notice goes out on ``ok``/``pending`` → ``firing``
(FIRING), while still firing once ``repeat`` seconds have passed since the last one
(REMINDER; ``repeat`` 0 = every run), and on ``firing`` → ``ok`` (RESOLVED).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from fleetstat.model import AlertRule, Answer, Client, HostResult, Outcome

OK = "ok"
PENDING = "pending"
FIRING = "firing"

NOTICE_FIRING = "FIRING"
NOTICE_REMINDER = "REMINDER"
NOTICE_RESOLVED = "RESOLVED"

PERCENT_TYPES = ("memory", "cpu", "swap", "disk")

#: Every client has these two beside its configured rules.
UNREACHABLE = AlertRule(type="unreachable", limit=0.0, repeat=3600.0)
HOST_KEY = AlertRule(type="host_key", limit=0.0, repeat=0.0)
BUILTIN_RULES = (UNREACHABLE, HOST_KEY)
BUILTIN_TYPES = (UNREACHABLE.type, HOST_KEY.type)


@dataclass(frozen=True)
class AlertState:
    """The stored state of one (client, rule); ``version`` 0 means no row yet.

    ``value`` and ``threshold`` are in the rule's unit (percent, or load per core);
    ``since`` is when ``state`` began; ``consecutive`` counts runs over the limit in a row.
    """

    rule: str
    type: str
    state: str = OK
    value: float | None = None
    threshold: float | None = None
    since: datetime | None = None
    consecutive: int = 0
    last_notified_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True)
class Reading:
    """What one rule sees in one result: over the limit or not, the value, and in words.

    ``value`` is None where there is no figure (a missing mount, an unreachable host).
    """

    over: bool
    value: float | None
    detail: str


@dataclass(frozen=True)
class Transition:
    """One state change, as recorded in ``alert_transitions``."""

    old_state: str
    new_state: str
    reason: str


@dataclass(frozen=True)
class Notice:
    """Something to mail: ``kind`` is FIRING, REMINDER or RESOLVED."""

    kind: str
    rule: AlertRule
    state: AlertState
    reading: Reading


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one rule on one result. ``new == old`` means nothing to write."""

    rule: AlertRule
    old: AlertState
    new: AlertState
    transition: Transition | None = None
    notice: Notice | None = None

    @property
    def changed(self) -> bool:
        """True when the state row must be written."""
        return self.new != self.old


def rules_for(client: Client) -> tuple[AlertRule, ...]:
    """The client's configured rules followed by the two built-in ones."""
    return (*client.alerts, *BUILTIN_RULES)


def initial_state(rule: AlertRule, now: datetime) -> AlertState:
    """The state a rule starts in: ``ok`` since ``now``, not yet stored."""
    return AlertState(rule=rule.key, type=rule.type, threshold=_threshold(rule), since=now)


def format_value(rule_type: str, value: float | None) -> str:
    """A value in its unit: ``87.2%`` for percentages, ``1.52`` for load per core."""
    if value is None:
        return "-"
    if rule_type in PERCENT_TYPES:
        return f"{value:.1f}%"
    return f"{value:.2f}"


def format_limit(rule: AlertRule) -> str:
    """The limit as written in the config, with its unit: ``20%``, ``1.5``."""
    return f"{rule.limit:g}%" if rule.type in PERCENT_TYPES else f"{rule.limit:g}"


# ---------------------------------------------------------------- readings


def read(rule: AlertRule, result: HostResult) -> Reading | None:
    """What ``rule`` sees in ``result``; None when the result says nothing about it."""
    if rule.type == UNREACHABLE.type:
        return _read_unreachable(result)
    if rule.type == HOST_KEY.type:
        return _read_host_key(result)
    if result.outcome != Outcome.OK or result.answer is None:
        return None
    if rule.type == "disk":
        return _read_disk(rule, result.answer)
    return _compare(rule, metric_value(rule.type, result.answer), rule.type)


def metric_value(rule_type: str, answer: Answer) -> float | None:
    """The figure a memory, cpu, swap or load rule judges; None when it was not collected.

    memory, cpu, swap: percent used. load: the 1-minute load average divided by the
    number of CPUs (load per core).
    """
    if rule_type == "memory":
        return answer.memory.percent if answer.memory else None
    if rule_type == "cpu":
        return answer.cpu.percent if answer.cpu else None
    if rule_type == "swap":
        return answer.swap.percent if answer.swap else None
    if rule_type == "load":
        return _load_per_core(answer)
    return None


def _load_per_core(answer: Answer) -> float | None:
    if answer.load is None or answer.cpu is None or answer.cpu.count <= 0:
        return None
    return answer.load[0] / answer.cpu.count


def _read_disk(rule: AlertRule, answer: Answer) -> Reading | None:
    if rule.mount is None:
        measured = [disk for disk in answer.disks if disk.measured]
        if not measured:
            return None
        fullest = max(measured, key=lambda disk: disk.percent)
        return _compare(rule, fullest.percent, f"disk {fullest.mount}")
    for disk in answer.disks:
        if disk.mount == rule.mount and disk.error:
            return None
        if disk.mount == rule.mount:
            return _compare(rule, disk.percent, f"disk {disk.mount}")
    if not answer.disks:
        return None
    return Reading(over=True, value=None, detail=f"no filesystem mounted at {rule.mount}")


def _compare(rule: AlertRule, value: float | None, label: str) -> Reading | None:
    if value is None:
        return None
    over = value > rule.limit
    sign = ">" if over else "<="
    detail = f"{label} {format_value(rule.type, value)} {sign} {format_limit(rule)}"
    return Reading(over=over, value=value, detail=detail)


def _read_unreachable(result: HostResult) -> Reading:
    if result.outcome == Outcome.OK:
        return Reading(over=False, value=None, detail="reachable again")
    detail = str(result.outcome)
    if result.error:
        detail += f": {result.error}"
    return Reading(over=True, value=None, detail=detail)


def _read_host_key(result: HostResult) -> Reading | None:
    if result.outcome == Outcome.HOST_KEY_MISMATCH:
        return Reading(over=True, value=None, detail="host key changed")
    if result.outcome == Outcome.OK:
        return Reading(over=False, value=None, detail="host key accepted")
    return None


# ---------------------------------------------------------------- the state machine


def evaluate(
    rule: AlertRule, state: AlertState | None, result: HostResult, now: datetime
) -> Evaluation:
    """Apply one rule to one result: the new state, the transition and the notice.

    ``state`` is the stored state (None: the rule has no row yet). ``now`` is the
    evaluation time (UTC); ``repeat`` is compared against ``now - last_notified_at``.
    """
    old = state if state is not None else initial_state(rule, now)
    reading = read(rule, result)
    if reading is None:
        return Evaluation(rule, old, old)
    if reading.over:
        return _over(rule, old, reading, now)
    return _under(rule, old, reading, now)


def _over(rule: AlertRule, old: AlertState, reading: Reading, now: datetime) -> Evaluation:
    runs = old.consecutive + 1
    current = replace(old, value=reading.value, threshold=_threshold(rule), consecutive=runs)
    if old.state == FIRING:
        if not _reminder_due(rule, old, now):
            return Evaluation(rule, old, current)
        new = replace(current, last_notified_at=now)
        return Evaluation(rule, old, new, notice=Notice(NOTICE_REMINDER, rule, new, reading))
    target = FIRING if runs >= max(rule.for_runs, 1) else PENDING
    if target == PENDING:
        new = current if old.state == PENDING else replace(current, state=PENDING, since=now)
        return Evaluation(rule, old, new, _transition(old, new, reading, runs))
    new = replace(current, state=FIRING, since=now, last_notified_at=now)
    transition = _transition(old, new, reading, runs)
    return Evaluation(rule, old, new, transition, Notice(NOTICE_FIRING, rule, new, reading))


def _under(rule: AlertRule, old: AlertState, reading: Reading, now: datetime) -> Evaluation:
    if old.state == OK:
        return Evaluation(rule, old, old)
    new = replace(
        old, state=OK, value=reading.value, threshold=_threshold(rule), since=now, consecutive=0
    )
    transition = Transition(old.state, OK, reading.detail)
    notice = Notice(NOTICE_RESOLVED, rule, new, reading) if old.state == FIRING else None
    return Evaluation(rule, old, new, transition, notice)


def _transition(old: AlertState, new: AlertState, reading: Reading, runs: int) -> Transition | None:
    if old.state == new.state:
        return None
    reason = reading.detail if runs == 1 else f"{reading.detail} for {runs} runs in a row"
    return Transition(old.state, new.state, reason)


def _reminder_due(rule: AlertRule, old: AlertState, now: datetime) -> bool:
    if rule.repeat <= 0 or old.last_notified_at is None:
        return True
    return (now - old.last_notified_at).total_seconds() >= rule.repeat


def _threshold(rule: AlertRule) -> float | None:
    return None if rule.type in BUILTIN_TYPES else rule.limit
