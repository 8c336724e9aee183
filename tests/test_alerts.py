"""Alert evaluation: pure, with a frozen ``now``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetstat import config
from fleetstat.alerting import rules
from fleetstat.core import alertstate
from fleetstat.core.metrics import ALERT_TYPES
from fleetstat.core.model import (
    AlertRule,
    Answer,
    Client,
    Cpu,
    Disk,
    Event,
    HostInfo,
    HostResult,
    Memory,
    Outcome,
    Swap,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CLIENT = Client(ip="10.0.0.5", username="stat", name="web01", mail=("ops@example.org",))


def disk(mount: str, percent: float) -> Disk:
    return Disk(mount, f"/dev/{mount.strip('/') or 'root'}", "ext4", 100, int(percent), 0, percent)


def answer(
    *,
    cpu: float = 10.0,
    cores: int = 2,
    memory: float = 30.0,
    swap: float = 0.0,
    load: tuple[float, float, float] | None = (0.5, 0.4, 0.3),
    disks: tuple[Disk, ...] = (disk("/", 40.0),),
    events: tuple[Event, ...] = (),
) -> Answer:
    return Answer(
        host=HostInfo("web01", "linux", "Debian GNU/Linux", "12", "6.1.0", "x86_64", "3.11.2"),
        clock=NOW,
        cpu=Cpu(cpu, cores, 1.0, 100.0, 1000.0),
        memory=Memory(1000, 1000 - int(memory * 10), int(memory * 10), memory),
        swap=Swap(100, int(swap), 100 - int(swap), swap),
        uptime=3600.0,
        boot_time=NOW - timedelta(hours=1),
        load=load,
        disks=disks,
        events=events,
        cursor={},
        resets=(),
        errors=(),
    )


def ok_result(client: Client = CLIENT, at: datetime = NOW, **figures: Any) -> HostResult:
    return HostResult(client, Outcome.OK, at - timedelta(seconds=2), at, answer=answer(**figures))


def failed_result(
    outcome: Outcome = Outcome.TIMEOUT, error: str = "no answer within 60 s", at: datetime = NOW
) -> HostResult:
    return HostResult(CLIENT, outcome, at - timedelta(seconds=60), at, error=error)


def run(
    rule: AlertRule,
    results: list[HostResult],
    start: datetime = NOW,
    *,
    silenced: list[bool] | None = None,
) -> list[rules.Evaluation]:
    """Evaluate ``rule`` over consecutive results, one minute apart, carrying the state."""
    state: alertstate.AlertState | None = None
    out = []
    hush = silenced or [False] * len(results)
    for index, result in enumerate(results):
        at = start + timedelta(minutes=index)
        evaluation = rules.evaluate(rule, state, result, at, silenced=hush[index])
        state = replace(evaluation.new, version=evaluation.new.version + 1)
        out.append(evaluation)
    return out


def kinds(evaluations: list[rules.Evaluation]) -> list[str | None]:
    return [e.notice.kind if e.notice else None for e in evaluations]


# ---------------------------------------------------------------- the state machine


def test_value_over_the_limit_fires_at_once() -> None:
    [evaluation] = run(AlertRule("cpu", 20.0), [ok_result(cpu=87.2)])
    assert evaluation.new.state == alertstate.State.FIRING
    assert evaluation.transition == alertstate.Transition("ok", "firing", "cpu 87.2% > 20%")
    assert evaluation.notice is not None
    assert evaluation.notice.kind == alertstate.NoticeKind.FIRING
    assert evaluation.new.last_notified_at == NOW
    assert evaluation.new.value == 87.2


def test_value_equal_to_the_limit_does_not_fire() -> None:
    [evaluation] = run(AlertRule("cpu", 20.0), [ok_result(cpu=20.0)])
    assert evaluation.new.state == alertstate.State.OK
    assert not evaluation.changed


def test_for_runs_keeps_it_pending_until_enough_runs_in_a_row() -> None:
    rule = AlertRule("memory", 50.0, for_runs=3)
    evaluations = run(rule, [ok_result(memory=91.0)] * 3)
    assert [e.new.state for e in evaluations] == ["pending", "pending", "firing"]
    assert kinds(evaluations) == [None, None, alertstate.NoticeKind.FIRING]
    assert [e.new.consecutive for e in evaluations] == [1, 2, 3]
    assert evaluations[2].transition is not None
    assert evaluations[2].transition.reason == "memory 91.0% > 50% for 3 runs in a row"


def test_pending_that_recovers_goes_back_to_ok_without_mail() -> None:
    rule = AlertRule("memory", 50.0, for_runs=3)
    evaluations = run(rule, [ok_result(memory=91.0), ok_result(memory=20.0)])
    assert evaluations[1].new.state == alertstate.State.OK
    assert evaluations[1].transition == alertstate.Transition(
        "pending", "ok", "memory 20.0% <= 50%"
    )
    assert evaluations[1].notice is None


def test_still_firing_reminds_only_after_repeat_seconds() -> None:
    rule = AlertRule("cpu", 20.0, repeat=150.0)
    evaluations = run(rule, [ok_result(cpu=90.0)] * 5)
    assert kinds(evaluations) == [
        alertstate.NoticeKind.FIRING,
        None,
        None,
        alertstate.NoticeKind.REMINDER,
        None,
    ]
    assert evaluations[3].new.last_notified_at == NOW + timedelta(minutes=3)
    assert all(e.transition is None for e in evaluations[1:])


def test_repeat_zero_reminds_every_run() -> None:
    evaluations = run(AlertRule("cpu", 20.0, repeat=0), [ok_result(cpu=90.0)] * 3)
    assert kinds(evaluations) == [
        alertstate.NoticeKind.FIRING,
        alertstate.NoticeKind.REMINDER,
        alertstate.NoticeKind.REMINDER,
    ]


def test_firing_that_recovers_is_resolved() -> None:
    evaluations = run(AlertRule("swap", 10.0), [ok_result(swap=55.0), ok_result(swap=5.0)])
    resolved = evaluations[1]
    assert resolved.new.state == alertstate.State.OK
    assert resolved.new.consecutive == 0
    assert resolved.notice is not None
    assert resolved.notice.kind == alertstate.NoticeKind.RESOLVED
    assert resolved.transition == alertstate.Transition("firing", "ok", "swap 5.0% <= 10%")


def test_clear_holds_a_firing_rule_between_clear_and_limit() -> None:
    rule = AlertRule("cpu", 90.0, clear=80.0)
    values = [95.0, 85.0, 89.0, 80.0, 79.9]
    evaluations = run(rule, [ok_result(cpu=v) for v in values])
    assert [e.new.state for e in evaluations] == ["firing"] * 4 + ["ok"]
    assert kinds(evaluations) == [alertstate.NoticeKind.FIRING, None, None, None, "RESOLVED"]


def test_clear_for_needs_that_many_runs_in_a_row_below() -> None:
    rule = AlertRule("cpu", 90.0, clear_for=2)
    values = [95.0, 50.0, 95.0, 50.0, 50.0]
    evaluations = run(rule, [ok_result(cpu=v) for v in values])
    assert [e.new.clearing for e in evaluations] == [0, 1, 0, 1, 0]
    assert kinds(evaluations) == [alertstate.NoticeKind.FIRING, None, None, None, "RESOLVED"]
    assert evaluations[4].transition is not None
    assert evaluations[4].transition.reason == "cpu 50.0% <= 90% for 2 runs in a row"


def test_a_silenced_firing_is_marked_unmailed_and_mailed_once_the_silence_ends() -> None:
    rule = AlertRule("cpu", 20.0)
    evaluations = run(rule, [ok_result(cpu=90.0)] * 4, silenced=[True, True, False, False])
    first = evaluations[0]
    assert first.notice is not None and first.notice.silenced and first.new.unmailed
    assert evaluations[1].notice is None
    caught_up = evaluations[2].notice
    assert caught_up is not None and caught_up.kind == "FIRING" and not caught_up.silenced
    assert not evaluations[2].new.unmailed and evaluations[3].notice is None


def test_a_firing_that_resolves_under_its_silence_is_never_mailed() -> None:
    rule = AlertRule("cpu", 20.0)
    results = [ok_result(cpu=90.0), ok_result(cpu=10.0)]
    _fired, resolved = run(rule, results, silenced=[True, False])
    assert resolved.notice is not None and resolved.notice.silenced


def test_an_acknowledged_alert_gets_no_reminder() -> None:
    rule = AlertRule("cpu", 20.0, repeat=0)
    state = alertstate.AlertState(
        "cpu", "cpu", alertstate.State.FIRING, since=NOW, version=3, acked_at=NOW
    )
    evaluation = rules.evaluate(rule, state, ok_result(cpu=90.0), NOW + timedelta(hours=2))
    assert evaluation.notice is None
    resolved = rules.evaluate(rule, state, ok_result(cpu=10.0), NOW + timedelta(hours=2))
    assert resolved.notice is not None and resolved.new.acked_at is None


def test_a_retired_rule_resolves_with_the_reason_and_no_notice() -> None:
    state = alertstate.AlertState("disk:/var", "disk", alertstate.State.FIRING, 91.0, 80.0, NOW)
    evaluation = rules.retire(state, NOW)
    assert evaluation is not None and evaluation.notice is None
    assert evaluation.transition == alertstate.Transition("firing", "ok", "removed from the config")
    assert rules.retire(evaluation.new, NOW) is None


def test_interrupted_and_lost_hosts_leave_the_reachability_rule_as_it_is() -> None:
    for outcome in (Outcome.INTERRUPTED, Outcome.SHARD_LOST):
        [evaluation] = run(rules.UNREACHABLE, [failed_result(outcome, "stopped")])
        assert not evaluation.changed


def test_failed_result_leaves_metric_rules_untouched() -> None:
    rule = AlertRule("cpu", 20.0)
    _first, second = run(rule, [ok_result(cpu=90.0), failed_result()])
    assert second.old == second.new
    assert second.new.state == alertstate.State.FIRING
    assert second.notice is None
    assert not second.changed


def test_missing_figure_leaves_the_rule_untouched() -> None:
    result = ok_result()
    assert result.answer is not None
    result = replace(result, answer=replace(result.answer, memory=None))
    [evaluation] = run(AlertRule("memory", 0.0), [result])
    assert not evaluation.changed


def test_ok_result_under_the_limit_with_no_state_writes_nothing() -> None:
    [evaluation] = run(AlertRule("cpu", 50.0), [ok_result(cpu=10.0)])
    assert not evaluation.changed
    assert evaluation.new.version == 0


# ---------------------------------------------------------------- every rule type


def test_memory_rule_reads_memory_percent() -> None:
    reading = rules.read(AlertRule("memory", 50.0), ok_result(memory=91.0))
    assert reading == rules.Reading(True, 91.0, "memory 91.0% > 50%")


def test_cpu_rule_reads_cpu_percent() -> None:
    reading = rules.read(AlertRule("cpu", 20.0), ok_result(cpu=87.25))
    assert reading == rules.Reading(True, 87.25, "cpu 87.2% > 20%")


def test_swap_rule_reads_swap_percent() -> None:
    reading = rules.read(AlertRule("swap", 30.0), ok_result(swap=12.0))
    assert reading == rules.Reading(False, 12.0, "swap 12.0% <= 30%")


def test_disk_rule_without_mount_judges_the_fullest_filesystem() -> None:
    disks = (disk("/", 40.0), disk("/var", 93.5), disk("/home", 70.0))
    reading = rules.read(AlertRule("disk", 90.0), ok_result(disks=disks))
    assert reading == rules.Reading(True, 93.5, "disk /var 93.5% > 90%")


def test_disk_rule_with_mount_judges_that_mount_only() -> None:
    disks = (disk("/", 95.0), disk("/home", 70.0))
    reading = rules.read(AlertRule("disk", 90.0, mount="/home"), ok_result(disks=disks))
    assert reading == rules.Reading(False, 70.0, "disk /home 70.0% <= 90%")


def test_disk_rule_for_a_missing_mount_fires_and_says_so() -> None:
    rule = AlertRule("disk", 90.0, mount="/srv")
    [evaluation] = run(rule, [ok_result(disks=(disk("/", 10.0),))])
    assert evaluation.new.state == alertstate.State.FIRING
    assert evaluation.notice is not None
    assert evaluation.notice.reading.detail == "no filesystem mounted at /srv"
    assert evaluation.new.rule == "disk:/srv"


def test_load_rule_divides_the_one_minute_load_by_the_cores() -> None:
    reading = rules.read(AlertRule("load", 1.5), ok_result(load=(8.0, 1.0, 1.0), cores=4))
    assert reading == rules.Reading(True, 2.0, "load 2.00 > 1.5")


def test_load_rule_is_silent_where_there_is_no_load_average() -> None:
    assert rules.read(AlertRule("load", 0.0), ok_result(load=None)) is None


# ---------------------------------------------------------------- the built-in rules


def test_every_client_has_the_two_builtin_rules() -> None:
    client = replace(CLIENT, alerts=(AlertRule("cpu", 20.0),))
    keys = [rule.key for rule in rules.rules_for(client)]
    assert keys == ["cpu", "unreachable", "host_key"]


def test_unreachable_fires_with_outcome_and_error_then_resolves() -> None:
    evaluations = run(
        rules.UNREACHABLE,
        [failed_result(Outcome.AUTH_FAILED, "password rejected"), ok_result()],
    )
    assert evaluations[0].notice is not None
    assert evaluations[0].notice.reading.detail == "login refused: password rejected"
    assert kinds(evaluations) == [alertstate.NoticeKind.FIRING, alertstate.NoticeKind.RESOLVED]


def test_host_key_mismatch_is_mailed_on_every_run_it_happens() -> None:
    mismatch = failed_result(Outcome.HOST_KEY_MISMATCH, "key changed")
    evaluations = run(rules.HOST_KEY, [mismatch, mismatch, mismatch])
    assert kinds(evaluations) == [
        alertstate.NoticeKind.FIRING,
        alertstate.NoticeKind.REMINDER,
        alertstate.NoticeKind.REMINDER,
    ]


def test_host_key_rule_ignores_other_failures() -> None:
    [evaluation] = run(rules.HOST_KEY, [failed_result(Outcome.TIMEOUT)])
    assert not evaluation.changed


# ---------------------------------------------------------------- the documentation


def test_every_alert_type_attribute_and_smtp_variable_is_in_docs_alerts_md() -> None:
    text = (Path(__file__).parent.parent / "docs" / "alerts.md").read_text(encoding="utf-8")
    names = [*ALERT_TYPES, *rules.BUILTIN_TYPES, *(a.name for a in config.ALERT_ATTRS)]
    names += [a.env for a in config.SMTP_ATTRS if a.env]
    names += [config.SMTP_PASSWORD_ENV, config.SMTP_PASSWORD_FILE_ENV]
    missing = [name for name in names if f"`{name}`" not in text]
    assert missing == []
