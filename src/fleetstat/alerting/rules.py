"""Alert rules: from one host result and the stored state, the new state and what to say.

Everything here is pure: ``evaluate`` takes the stored ``AlertState`` of one
(client, rule), the run's ``HostResult``, whether a silence covers the rule, and
``now``, and returns an ``Evaluation`` (the new state, the transition to record, the
notice to mail). Writing the state compare-and-set and queueing the notice belong to
``notify``.

States: ``ok`` → (``pending`` while fewer than ``for_runs`` runs in a row were over
the limit) → ``firing`` → ``ok``. A notice goes out on ``ok``/``pending`` → ``firing``
(FIRING), while still firing once ``repeat`` seconds have passed since the last one
(REMINDER; ``repeat`` 0 = every run; none while acknowledged or silenced), and on
``firing`` → ``ok`` (RESOLVED). A firing rule resolves only below its ``clear`` value
(default: at or under the limit) for ``clear_for`` runs in a row.

A silenced rule changes state all the same; its notice is marked ``silenced`` (counted,
not mailed) and the state remembers that its firing was never mailed, so that the first
run after the silence ends mails it (FIRING) if it still fires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from fleetstat.core.alertstate import AlertState, NoticeKind, State, Transition
from fleetstat.core.metrics import METRICS, Metric, missing_mount
from fleetstat.core.model import AlertRule, Client, HostResult, Outcome

#: Every client has these two beside its configured rules.
UNREACHABLE = AlertRule(type="unreachable", limit=0.0, repeat=3600.0)
HOST_KEY = AlertRule(type="host_key", limit=0.0, repeat=0.0)
BUILTIN_RULES = (UNREACHABLE, HOST_KEY)
BUILTIN_TYPES = (UNREACHABLE.type, HOST_KEY.type)

#: The reason recorded when a rule or client left the config.
REMOVED = "removed from the config"


@dataclass(frozen=True)
class Reachability:
    """How the built-in ``unreachable`` rule words one outcome: a headline and what to do."""

    headline: str
    hint: str


#: Each failed outcome in its own words. An outcome absent here (``interrupted``,
#: ``shard_lost``: not the client's doing) leaves the rule as it is.
REACHABILITY = {
    Outcome.UNREACHABLE: Reachability(
        "unreachable",
        "Check that the machine is up and that its SSH port is reachable from the "
        "collector (address, firewall, sshd running).",
    ),
    Outcome.AUTH_FAILED: Reachability(
        "login refused",
        "Check username, password or keyfile for this client in the config, and that the "
        "account is not locked or expired.",
    ),
    Outcome.HOST_KEY_MISMATCH: Reachability(
        "host key changed, not logged in",
        "The SSH host key changed; see the host key section.",
    ),
    Outcome.NO_PYTHON: Reachability(
        "no Python on the client",
        "Install Python 3.6 or newer on the client, or set python= on the client in the "
        "config to the interpreter's path.",
    ),
    Outcome.AGENT_FAILED: Reachability(
        "agent failed",
        "The agent could not run; the error is its own message. Check free space in the "
        "temp directory and that the user may execute there.",
    ),
    Outcome.BAD_PAYLOAD: Reachability(
        "answer rejected",
        "The answer in the agent's frame could not be decrypted or validated: something "
        "between the collector and the client altered it (a wrapper shell, a full disk "
        "that cut it short, or an attack). What a login prints around it does no harm.",
    ),
    Outcome.TIMEOUT: Reachability(
        "timed out",
        "The client did not finish in time: check its load and network, or raise timeout= "
        "for this client.",
    ),
    Outcome.STORE_REFUSED: Reachability(
        "answer refused by the database",
        "The database refused a value of the answer; the error names it. A client that "
        "sends such values every run may be compromised.",
    ),
    Outcome.CONFIG_ERROR: Reachability(
        "login not configured",
        "The client's secret could not be read where fleetstat runs (the error names the "
        "variable): set it in fleetstat's environment, or give the client a keyfile.",
    ),
    Outcome.NO_SHELL: Reachability(
        "the login runs no command",
        "The account's shell is nologin or false, it is limited to sftp (ForceCommand) or "
        "its restricted shell cannot start /bin/sh: give the monitoring account a shell "
        "that runs commands (usermod -s /bin/sh NAME).",
    ),
    Outcome.NO_COMMON_ALGORITHM: Reachability(
        "no SSH algorithm in common",
        "The client's SSH server and fleetstat share no algorithm of one kind (the error "
        "names both lists): enable a current one on the server (an ed25519 host key, "
        "AES-GCM or AES-CTR ciphers, curve25519 key exchange).",
    ),
    Outcome.INTERNAL_ERROR: Reachability(
        "fleetstat failed on this host",
        "fleetstat's own error, not the client's: report it with the traceback from the log.",
    ),
}


@dataclass(frozen=True)
class Reading:
    """What one rule sees in one result: over the limit or not, the value, and in words.

    ``value`` is None where there is no figure (a missing mount, an unreachable host).
    ``outcome`` is the run's outcome for the built-in rules.
    """

    over: bool
    value: float | None
    detail: str
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Notice:
    """Something to mail. ``silenced``: recorded and counted, but mailed to nobody."""

    kind: NoticeKind
    rule: AlertRule
    state: AlertState
    reading: Reading
    silenced: bool = False


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


def metric_of(rule: AlertRule) -> Metric | None:
    """The row of ``metrics.METRICS`` a configured rule watches; None for the built-in ones."""
    return METRICS.get(rule.type)


def format_value(rule: AlertRule, value: float | None) -> str:
    """A value of ``rule``'s metric in its unit: ``87.2%``, ``1.52``; ``-`` for none."""
    metric = metric_of(rule)
    return metric.format_value(value) if metric else "-"


def format_limit(rule: AlertRule, limit: float | None = None) -> str:
    """``rule``'s limit (or ``limit``) as written in the config: ``20%``, ``1.5``."""
    metric = metric_of(rule)
    shown = rule.limit if limit is None else limit
    return metric.format_limit(shown) if metric else f"{shown:g}"


# ---------------------------------------------------------------- readings


def read(rule: AlertRule, result: HostResult) -> Reading | None:
    """What ``rule`` sees in ``result``; None when the result says nothing about it."""
    if rule.type == UNREACHABLE.type:
        return _read_unreachable(result)
    if rule.type == HOST_KEY.type:
        return _read_host_key(result)
    metric = metric_of(rule)
    if metric is None or result.outcome != Outcome.OK or result.answer is None:
        return None
    value, label = metric.read(result.answer, rule.mount)
    if value is None:
        if rule.mount and missing_mount(result.answer, rule.mount):
            return Reading(over=True, value=None, detail=f"no filesystem mounted at {rule.mount}")
        return None
    over = value > rule.limit
    sign = ">" if over else "<="
    detail = f"{label} {metric.format_value(value)} {sign} {metric.format_limit(rule.limit)}"
    return Reading(over=over, value=value, detail=detail)


def _read_unreachable(result: HostResult) -> Reading | None:
    if result.outcome == Outcome.OK:
        return Reading(over=False, value=None, detail="reachable again", outcome=result.outcome)
    words = REACHABILITY.get(result.outcome)
    if words is None:
        return None
    detail = f"{words.headline}: {result.error}" if result.error else words.headline
    return Reading(over=True, value=None, detail=detail, outcome=result.outcome)


def _read_host_key(result: HostResult) -> Reading | None:
    if result.outcome == Outcome.HOST_KEY_MISMATCH:
        return Reading(over=True, value=None, detail="host key changed", outcome=result.outcome)
    if result.outcome == Outcome.OK:
        return Reading(over=False, value=None, detail="host key accepted", outcome=result.outcome)
    return None


# ---------------------------------------------------------------- the state machine


def evaluate(
    rule: AlertRule,
    state: AlertState | None,
    result: HostResult,
    now: datetime,
    *,
    silenced: bool = False,
) -> Evaluation:
    """Apply one rule to one result: the new state, the transition and the notice.

    ``state`` is the stored state (None: the rule has no row yet). ``now`` is the
    evaluation time (UTC); ``repeat`` is compared against ``now - last_notified_at``.
    ``silenced``: a silence covers this (client, rule) now.
    """
    old = state if state is not None else initial_state(rule, now)
    reading = read(rule, result)
    if reading is None:
        return Evaluation(rule, old, old)
    if reading.over:
        return _over(rule, old, reading, now, silenced)
    return _under(rule, old, reading, now, silenced)


def _over(
    rule: AlertRule, old: AlertState, reading: Reading, now: datetime, silenced: bool
) -> Evaluation:
    runs = old.consecutive + 1
    current = replace(
        old, value=reading.value, threshold=_threshold(rule), consecutive=runs, clearing=0
    )
    if old.state == State.FIRING:
        return _still_firing(rule, old, current, reading, now, silenced)
    if runs < max(rule.for_runs, 1):
        pending = replace(current, state=State.PENDING, since=now)
        new = current if old.state == State.PENDING else pending
        return Evaluation(rule, old, new, _transition(old, new, reading, runs))
    new = replace(
        current,
        state=State.FIRING,
        since=now,
        last_notified_at=None if silenced else now,
        unmailed=silenced,
        acked_at=None,
        ack_reason=None,
    )
    notice = Notice(NoticeKind.FIRING, rule, new, reading, silenced)
    return Evaluation(rule, old, new, _transition(old, new, reading, runs), notice)


def _still_firing(  # noqa: PLR0917 (the steps of one evaluation)
    rule: AlertRule,
    old: AlertState,
    current: AlertState,
    reading: Reading,
    now: datetime,
    silenced: bool,
) -> Evaluation:
    """Over the limit while firing: a catch-up after a silence, a reminder, or nothing."""
    if silenced:
        return Evaluation(rule, old, current)
    if old.unmailed:
        new = replace(current, last_notified_at=now, unmailed=False)
        return Evaluation(rule, old, new, notice=Notice(NoticeKind.FIRING, rule, new, reading))
    if old.acked_at is not None or not _reminder_due(rule, old, now):
        return Evaluation(rule, old, current)
    new = replace(current, last_notified_at=now)
    return Evaluation(rule, old, new, notice=Notice(NoticeKind.REMINDER, rule, new, reading))


def _under(
    rule: AlertRule, old: AlertState, reading: Reading, now: datetime, silenced: bool
) -> Evaluation:
    if old.state == State.OK:
        return Evaluation(rule, old, old)
    if old.state == State.FIRING and not _cleared(rule, reading):
        held = replace(old, value=reading.value, consecutive=0, clearing=0)
        return Evaluation(rule, old, held)
    clearing = old.clearing + 1
    if old.state == State.FIRING and clearing < max(rule.clear_for, 1):
        return Evaluation(rule, old, replace(old, value=reading.value, clearing=clearing))
    new = _resolved(rule, old, reading.value, now)
    reason = reading.detail if clearing <= 1 else f"{reading.detail} for {clearing} runs in a row"
    transition = Transition(old.state, State.OK, reason)
    if old.state != State.FIRING:
        return Evaluation(rule, old, new, transition)
    notice = Notice(NoticeKind.RESOLVED, rule, new, reading, silenced or old.unmailed)
    return Evaluation(rule, old, new, transition, notice)


def _cleared(rule: AlertRule, reading: Reading) -> bool:
    """Under the limit, and under the clear value when the rule has one."""
    if rule.clear is None or reading.value is None:
        return True
    return reading.value < rule.clear


def _resolved(rule: AlertRule, old: AlertState, value: float | None, now: datetime) -> AlertState:
    return replace(
        old,
        state=State.OK,
        value=value,
        threshold=_threshold(rule),
        since=now,
        consecutive=0,
        clearing=0,
        unmailed=False,
        acked_at=None,
        ack_reason=None,
    )


def retire(old: AlertState, now: datetime) -> Evaluation | None:
    """A rule that left the config (or whose client did): quietly ``ok``, no notice.

    None when it was ``ok`` already.
    """
    if old.state == State.OK:
        return None
    rule = AlertRule(type=old.type, limit=old.threshold or 0.0)
    new = _resolved(rule, old, old.value, now)
    new = replace(new, threshold=old.threshold)
    return Evaluation(rule, old, new, Transition(old.state, State.OK, REMOVED))


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
