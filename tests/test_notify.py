"""A pass's alerts and mail: digests per recipient, silences, acks, hysteresis, removals,
expiry — host results fed through ``job.run_pass`` on real databases and real SMTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fleetstat.agent import meanings
from fleetstat.alerting import mail, notify, silences
from fleetstat.collect import job
from fleetstat.core.errors import StoreError, UsageError
from fleetstat.core.model import (
    AlertRule,
    Client,
    Config,
    Event,
    EventGap,
    HostResult,
    Outcome,
    Settings,
)
from fleetstat.store import Store, alert_states
from fleetstat.store.models import (
    AlertState,
    AlertTransition,
    Host,
    MailItem,
    MailOutbox,
    Sample,
)
from tests.support.smtp import Received, SmtpServer
from tests.test_alerts import failed_result, ok_result

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OPS, DBA, SEC = "ops@example.org", "dba@example.org", "sec@example.org"
WEB = Client(
    ip="10.0.0.5", username="stat", name="web01", mail=(OPS,), alerts=(AlertRule("cpu", 50.0),)
)
DB = Client(ip="10.0.0.6", username="stat", name="db01", mail=(DBA,))


def event(record_id: str, event_id: str = "4625", minute: int = 0) -> Event:
    return Event(
        source="windows-security",
        record_id=record_id,
        event_id=event_id,
        time=T0 + timedelta(minutes=minute),
        level="audit_failure" if event_id == "4625" else "audit_success",
        user="alice",
        source_ip="10.0.0.9",
        message="An account failed to log on.\nSubject: ...",
        fields={"TargetUserName": "alice"},
        category=meanings.category(event_id),
    )


class Fleet:
    """Passes of prepared host results through ``job.run_pass``, one minute apart."""

    def __init__(self, store: Store, smtp: SmtpServer, folder: Path) -> None:
        self.store = store
        self.smtp = smtp
        self.settings = Settings(smtp=smtp.settings(), known_hosts=folder / "known_hosts")
        self.folder = folder
        self.now = T0
        self.seen = 0

    def run(
        self, *results: HostResult, clients: tuple[Client, ...] | None = None
    ) -> job.PassReport:
        """One pass at ``self.now`` over ``results``; the config lists ``clients`` (default:
        the results' clients)."""

        async def collect(*_args: Any, on_result: Any, **_kwargs: Any) -> list[HostResult]:
            for result in results:
                on_result(result)
            return list(results)

        listed = clients if clients is not None else tuple(r.client for r in results)
        config = Config(path=self.folder / "clients.xml", settings=self.settings, clients=listed)
        report = asyncio.run(
            job.run_pass(config, self.store, clock=lambda: self.now, collect=collect)
        )
        self.now += timedelta(minutes=1)
        return report

    def ok(self, client: Client = WEB, **figures: Any) -> HostResult:
        return ok_result(client, self.now, **figures)

    def failed(self, client: Client, outcome: Outcome, error: str) -> HostResult:
        return replace(failed_result(outcome, error, at=self.now), client=client)

    def new_mails(self) -> list[Received]:
        """The mails received since the last call."""
        mails = self.smtp.messages[self.seen :]
        self.seen += len(mails)
        return mails


def alerts_of(mails: list[Received], address: str) -> list[Received]:
    return [m for m in mails if address in m.recipients and "security events" not in m.subject]


def digests_of(mails: list[Received], address: str) -> list[Received]:
    return [m for m in mails if address in m.recipients and "security events" in m.subject]


@pytest.fixture
def fleet(sqlite_url: str, smtp_server: SmtpServer, tmp_path: Path) -> Iterator[Fleet]:
    """Passes on SQLite (the scenarios; the database-specific parts run on all three)."""
    store = Store.open(sqlite_url)
    try:
        yield Fleet(store, smtp_server, tmp_path)
    finally:
        store.close()


@pytest.fixture
def fleet_any(store: Store, smtp_server: SmtpServer, tmp_path: Path) -> Fleet:
    """Passes on SQLite, PostgreSQL and MariaDB in turn."""
    return Fleet(store, smtp_server, tmp_path)


# ---------------------------------------------------------------- at most 2 × R mails per pass


def forty_clients() -> list[Client]:
    """40 clients; OPS reads all, DBA the 20 even ones, SEC every fourth (10)."""
    clients = []
    for n in range(40):
        mail = (OPS,) + ((DBA,) if n % 2 == 0 else ()) + ((SEC,) if n % 4 == 0 else ())
        rules = (AlertRule("cpu", 50.0), AlertRule("memory", 80.0))
        clients.append(
            Client(ip=f"10.1.0.{n + 1}", username="stat", name=f"h{n:02}", mail=mail, alerts=rules)
        )
    return clients


def test_forty_clients_and_three_recipients_get_at_most_two_mails_each_per_pass(
    fleet_any: Fleet,
) -> None:
    fleet, clients = fleet_any, forty_clients()
    hot = {0, 1, 2, 4}  # cpu fires on h00, h01, h02, h04
    first = [fleet.ok(c, cpu=90.0 if n in hot else 10.0) for n, c in enumerate(clients)]
    first[39] = fleet.failed(clients[39], Outcome.AUTH_FAILED, "Permission denied")
    first[8] = fleet.ok(clients[8], events=(event("1"), event("2", "4624", 1)))
    fleet.run(*first)
    mails = fleet.new_mails()
    assert len(mails) == 6  # 2 × 3
    for address in (OPS, DBA, SEC):
        assert len(alerts_of(mails, address)) == 1 and len(digests_of(mails, address)) == 1
        assert all(m.recipients == (address,) for m in mails if address in m.recipients)
    [ops_alert] = alerts_of(mails, OPS)
    assert ops_alert.subject == (
        "[fleetstat] 5 FIRING: cpu on h00, h01, h02 and 1 more; login refused on h39"
    )
    assert ops_alert.body.index("== cpu ==") < ops_alert.body.index("== login refused ==")
    assert "FIRING: cpu 90.0% > 50% on h04 (10.1.0.5), port 22" in ops_alert.body
    assert "FIRING: login refused: Permission denied on h39 (10.1.0.40)" in ops_alert.body
    [sec_alert] = alerts_of(mails, SEC)
    assert sec_alert.subject == "[fleetstat] 2 FIRING: cpu on h00, h04"
    [ops_digest] = digests_of(mails, OPS)
    assert ops_digest.subject == ("[fleetstat] security events: 2 new on 1 of 40 hosts, 1 not read")
    body = ops_digest.body
    assert body.index("LOG NOT READ") < body.index("h08 (10.1.0.9): 2 new security events")
    assert "h39 (10.1.0.40): log not read: login refused (auth_failed): Permission denied" in body
    assert "    what it lacks, and the fix: fleetstat doctor h39" in body
    assert "1 × 4625 logon failed" in body and "1 × 4624 logon" in body
    assert "No new security events since monitoring began: h00, h01, h02, h03," in body
    [dba_digest] = digests_of(mails, DBA)
    assert dba_digest.subject == "[fleetstat] security events: 2 new on 1 of 20 hosts"

    second = [fleet.ok(c, cpu=90.0 if n in hot else 10.0) for n, c in enumerate(clients)]
    second[39] = fleet.failed(clients[39], Outcome.AUTH_FAILED, "Permission denied")
    fleet.run(*second)
    mails = fleet.new_mails()
    assert sorted(m.recipients[0] for m in mails) == [DBA, OPS, SEC]  # digests only
    assert all(m.subject.startswith("[fleetstat] security events: none new on") for m in mails)

    fleet.run(
        *[fleet.ok(c, cpu=10.0, memory=95.0 if n == 2 else 10.0) for n, c in enumerate(clients)]
    )
    mails = fleet.new_mails()
    assert len(mails) == 6
    [ops_alert] = alerts_of(mails, OPS)
    assert ops_alert.subject == (
        "[fleetstat] 1 FIRING, 5 RESOLVED: cpu on h00, h01, h02 and 1 more; "
        "memory on h02; reachable again on h39"
    )


def test_the_collectors_own_login_is_stored_but_never_mailed_nor_counted(fleet: Fleet) -> None:
    quiet = replace(WEB, alerts=())
    own = replace(event("9", "4624"), own_session=True, actor="WEB\\svc", target="WEB\\stat")
    fleet.run(fleet.ok(quiet, events=(own, event("1"))))
    [digest] = digests_of(fleet.new_mails(), OPS)
    assert digest.subject == "[fleetstat] security events: 1 new on 1 of 1 host"
    assert "web01 (10.0.0.5): 1 new security event (1 failed)" in digest.body
    assert "4624" not in digest.body
    stored = fleet.store.events_of_host(WEB.label)
    assert {(e.record_id, e.own_session) for e in stored} == {("9", True), ("1", False)}
    kept = next(e for e in stored if e.record_id == "9")
    assert (kept.actor, kept.target) == ("WEB\\svc", "WEB\\stat")


def test_log_data_that_was_gone_is_said_in_the_digest(fleet: Fleet) -> None:
    gap = EventGap("linux-auth", "/var/log/auth.log", None, "auth.log.1 is gone")
    result = fleet.ok(replace(WEB, alerts=()))
    assert result.answer is not None
    fleet.run(replace(result, answer=replace(result.answer, gaps=(gap,))))
    [digest] = digests_of(fleet.new_mails(), OPS)
    assert "EVENTS GONE BEFORE THEY WERE READ on 1 host" in digest.body
    assert (
        "web01 (10.0.0.5): an unknown number of bytes of "
        "/var/log/auth.log were skipped: auth.log.1 is gone"
    ) in digest.body
    assert "LOG NOT READ" not in digest.body  # the log was read: only some data was gone


def test_a_client_without_mail_is_in_nobodys_digest_but_its_state_is_kept(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    silent = replace(WEB, mail=())
    with caplog.at_level("INFO", logger="fleetstat.alerting.notify"):
        fleet.run(fleet.ok(silent, cpu=90.0), fleet.ok(DB))
    [digest] = fleet.new_mails()
    assert digest.recipients == (DBA,)
    assert "web01" not in digest.body and "db01" in digest.body
    assert "web01 has no mail address" in caplog.text
    with fleet.store.session() as session:
        assert session.scalar(select(AlertState.state).where(AlertState.rule == "cpu")) == "firing"


def test_the_alert_mail_keeps_value_limit_previous_values_and_what_to_do(fleet: Fleet) -> None:
    fleet.run(fleet.ok(cpu=20.0))
    fleet.run(fleet.ok(cpu=87.2), fleet.failed(replace(DB, mail=(OPS,)), Outcome.TIMEOUT, "60 s"))
    [alert] = alerts_of(fleet.new_mails(), OPS)
    assert "  value     87.2%\n  limit     50%\n" in alert.body
    assert "  previous  11-27 12:00 20.0%\n" in alert.body
    assert "  history   fleetstat history web01" in alert.body
    assert "FIRING: timed out: 60 s on db01 (10.0.0.6)" in alert.body
    assert "  to do     The client did not finish in time" in alert.body


def test_each_outcome_has_its_own_words_not_unreachable(fleet: Fleet) -> None:
    fleet.run(fleet.failed(WEB, Outcome.AUTH_FAILED, "Permission denied"))
    [alert] = alerts_of(fleet.new_mails(), OPS)
    assert alert.subject == "[fleetstat] 1 FIRING: login refused on web01"
    assert "unreachable" not in alert.body
    assert "Check username, password or keyfile" in alert.body


def test_a_changed_host_key_warns_of_an_attack_every_pass(fleet: Fleet) -> None:
    fleet.run(fleet.failed(WEB, Outcome.HOST_KEY_MISMATCH, "key changed"))
    fleet.run(fleet.failed(WEB, Outcome.HOST_KEY_MISMATCH, "key changed"))
    first, second = (
        alerts_of([m], OPS)[0] for m in fleet.smtp.to(OPS) if "security" not in m.subject
    )
    assert first.subject.startswith("[fleetstat] 2 FIRING: ")
    assert second.subject == "[fleetstat] 1 STILL FIRING: host_key on web01"
    assert "may be\n            an attack" in first.body
    assert str(fleet.settings.known_hosts) in first.body


# ---------------------------------------------------------------- one transaction per host


def test_a_failed_alert_write_leaves_no_sample_of_that_host(fleet: Fleet) -> None:
    run_id = fleet.store.start_run(T0, "collector-1")

    def broken(_session: Any, _done: Any) -> None:
        raise StoreError("the alert states could not be written")

    with pytest.raises(StoreError):
        fleet.store.record(run_id, fleet.ok(cpu=90.0), T0, then=broken)
    with fleet.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == 0
        assert session.scalar(select(func.count()).select_from(Host)) == 0


def test_events_stored_by_a_pass_that_stopped_short_are_mailed_by_the_next(fleet: Fleet) -> None:
    run_id = fleet.store.start_run(T0, "collector-1")
    result = fleet.ok(replace(WEB, alerts=()), events=(event("7"),))

    def alerts_and_mail(session: Any, done: Any) -> None:
        notify.after_host(session, run_id, done.host_id, result, fleet.settings, T0)

    fleet.store.record(run_id, result, T0, then=alerts_and_mail)  # then the collector died
    fleet.now += timedelta(minutes=5)
    fleet.run(fleet.ok(replace(WEB, alerts=())))
    digests = digests_of(fleet.new_mails(), OPS)
    assert len(digests) == 1
    assert "web01 (10.0.0.5): 1 new security event" in digests[0].body
    assert "4625 logon failed  user=alice" in digests[0].body
    with fleet.store.session() as session:
        left = session.scalar(
            select(func.count()).select_from(MailItem).where(MailItem.handled_at.is_(None))
        )
    assert left == 0


def test_two_collectors_on_the_same_result_mail_firing_once(
    db_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    stores = [Store.open(db_url), Store.open(db_url, create=False)]
    settings = Settings(smtp=smtp_server.settings(), known_hosts=tmp_path / "known_hosts")
    try:
        run_id = stores[0].start_run(T0, "collector-1")
        result = ok_result(WEB, T0, cpu=87.2)
        host_id = stores[0].record(run_id, result, T0).host_id
        barrier = threading.Barrier(2)
        errors: list[StoreError] = []

        def collector(store: Store) -> None:
            barrier.wait()
            try:
                with store.session() as session:
                    notify.after_host(session, run_id, host_id, result, settings, T0)
            except StoreError as err:  # SQLite: the second writer's snapshot is stale
                errors.append(err)

        threads = [threading.Thread(target=collector, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        config = Config(path=tmp_path / "c.xml", settings=settings, clients=(WEB,))
        with stores[0].session() as session:
            notify.compose_pass(session, config, run_id, T0)
        mail.flush(stores[0], settings.smtp, T0)
        assert len(errors) <= 1
        assert len([m for m in smtp_server.messages if "FIRING" in m.subject]) == 1
    finally:
        for store in stores:
            store.close()


def test_a_change_from_a_stale_read_of_its_state_is_written_and_recorded_once(
    fleet_any: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two collectors read the host's states before either wrote: the second one's
    compare-and-set finds another version, so one transition is recorded, not two.
    Counted in the table: one mail per recipient would hide a doubled write."""
    store, settings = fleet_any.store, fleet_any.settings
    run_id = store.start_run(T0, "collector-1")
    result = ok_result(WEB, T0, cpu=87.2)
    host_id = store.record(run_id, result, T0).host_id
    with store.session() as session:
        before = alert_states.load(session, host_id)
        notify.after_host(session, run_id, host_id, result, settings, T0)
    monkeypatch.setattr(alert_states, "load", lambda _session, _host_id: dict(before))
    with store.session() as session:
        notify.after_host(session, run_id, host_id, result, settings, T0)
    with store.session() as session:
        changes = session.scalars(
            select(AlertTransition.new_state).where(
                AlertTransition.host_id == host_id, AlertTransition.rule == "cpu"
            )
        ).all()
        state = session.scalars(
            select(AlertState).where(AlertState.host_id == host_id, AlertState.rule == "cpu")
        ).one()
    assert list(changes) == ["firing"]
    assert (state.state, state.version) == ("firing", 2)


# ---------------------------------------------------------------- silences and acks


def test_a_silenced_alert_mails_nothing_is_counted_and_mails_when_the_silence_ends(
    fleet_any: Fleet,
) -> None:
    fleet = fleet_any
    silence = silences.add(fleet.store, "web*", "cpu", T0 + timedelta(hours=2), "batch job", T0)
    fleet.run(fleet.ok(cpu=90.0))
    fleet.run(fleet.ok(cpu=91.0))
    mails = fleet.new_mails()
    assert alerts_of(mails, OPS) == []
    assert "1 alert silenced: FIRING cpu on web01." in digests_of(mails, OPS)[0].body
    with fleet.store.session() as session:
        states = session.scalars(
            select(AlertTransition.new_state).where(AlertTransition.rule == "cpu")
        ).all()
    assert list(states) == ["firing"]
    assert [a.silenced_by for a in silences.current(fleet.store, fleet.now)] == [silence.id]

    silences.expire(fleet.store, silence.id, fleet.now)
    fleet.run(fleet.ok(cpu=92.0))
    [alert] = alerts_of(fleet.new_mails(), OPS)
    assert alert.subject == "[fleetstat] 1 FIRING: cpu on web01"
    assert "value     92.0%" in alert.body
    fleet.run(fleet.ok(cpu=93.0))
    assert alerts_of(fleet.new_mails(), OPS) == []  # mailed once, reminders wait for repeat


def test_a_silence_of_one_rule_leaves_the_other_rules_of_its_host_loud(fleet: Fleet) -> None:
    both = replace(WEB, alerts=(AlertRule("cpu", 50.0), AlertRule("memory", 50.0)))
    silences.add(fleet.store, "web01", "cpu", T0 + timedelta(hours=1), "batch job", T0)
    fleet.run(fleet.ok(both, cpu=90.0, memory=95.0))
    mails = fleet.new_mails()
    [alert] = alerts_of(mails, OPS)
    assert alert.subject == "[fleetstat] 1 FIRING: memory on web01"
    assert "1 alert silenced: FIRING cpu on web01." in digests_of(mails, OPS)[0].body


def test_a_host_silence_covers_its_unreachable_alert(fleet: Fleet) -> None:
    silences.add(fleet.store, "10.0.0.5", None, T0 + timedelta(hours=1), "maintenance", T0)
    fleet.run(fleet.failed(WEB, Outcome.UNREACHABLE, "connection refused"), fleet.ok(DB))
    mails = fleet.new_mails()
    assert alerts_of(mails, OPS) == []
    assert "1 alert silenced: FIRING unreachable on web01." in digests_of(mails, OPS)[0].body
    assert (
        "log not read: unreachable (unreachable): connection refused"
        in digests_of(mails, OPS)[0].body
    )


def test_a_silence_needs_a_known_rule_a_future_end_and_a_reason(fleet: Fleet) -> None:
    later = T0 + timedelta(hours=1)
    with pytest.raises(UsageError, match="no alert type"):
        silences.add(fleet.store, "web01", "cpuu", later, "x", T0)
    with pytest.raises(UsageError, match="in the past"):
        silences.add(fleet.store, "web01", None, T0 - timedelta(hours=1), "x", T0)
    with pytest.raises(UsageError, match="exactly one"):
        silences.end_time(T0, for_seconds=None, until=None)
    assert silences.end_time(T0, for_seconds=None, until="2026-11-27 14:00") == T0 + timedelta(
        hours=2
    )


def test_an_acknowledged_alert_sends_no_reminders_but_still_resolves(fleet: Fleet) -> None:
    noisy = replace(WEB, alerts=(AlertRule("cpu", 50.0, repeat=0.0),))
    fleet.run(fleet.ok(noisy, cpu=90.0))
    fleet.run(fleet.ok(noisy, cpu=90.0))
    subjects = [m.subject for m in alerts_of(fleet.new_mails(), OPS)]
    assert subjects == [
        "[fleetstat] 1 FIRING: cpu on web01",
        "[fleetstat] 1 STILL FIRING: cpu on web01",
    ]
    silences.acknowledge(fleet.store, "web01", "cpu", "known batch job", fleet.now)
    [current] = silences.current(fleet.store, fleet.now)
    assert current.ack_reason == "known batch job"
    fleet.run(fleet.ok(noisy, cpu=90.0))
    fleet.run(fleet.ok(noisy, cpu=90.0))
    assert alerts_of(fleet.new_mails(), OPS) == []
    fleet.run(fleet.ok(noisy, cpu=10.0))
    [resolved] = alerts_of(fleet.new_mails(), OPS)
    assert resolved.subject == "[fleetstat] 1 RESOLVED: cpu on web01"
    fleet.run(fleet.ok(noisy, cpu=90.0))
    [again] = alerts_of(fleet.new_mails(), OPS)
    assert again.subject == "[fleetstat] 1 FIRING: cpu on web01"
    with pytest.raises(UsageError, match="no firing alert"):
        silences.acknowledge(fleet.store, "web01", "memory", None, fleet.now)


# ---------------------------------------------------------------- hysteresis


def test_clear_and_clear_for_stop_a_flapping_rule(fleet: Fleet) -> None:
    steady = replace(WEB, alerts=(AlertRule("cpu", 90.0, clear=80.0, clear_for=3),))
    for cpu in (95.0, 85.0, 92.0, 79.0, 75.0, 91.0, 70.0, 70.0):
        fleet.run(fleet.ok(steady, cpu=cpu))
    assert [m.subject for m in alerts_of(fleet.new_mails(), OPS)] == [
        "[fleetstat] 1 FIRING: cpu on web01"
    ]
    fleet.run(fleet.ok(steady, cpu=70.0))
    [resolved] = alerts_of(fleet.new_mails(), OPS)
    assert resolved.subject == "[fleetstat] 1 RESOLVED: cpu on web01"
    assert "clears    below 80%" in resolved.body
    with fleet.store.session() as session:
        reasons = session.scalars(
            select(AlertTransition.reason).where(AlertTransition.new_state == "ok")
        ).all()
    assert reasons == ["cpu 70.0% <= 90% for 3 runs in a row"]


# ---------------------------------------------------------------- removed from the config


def test_a_removed_rule_resolves_quietly(fleet: Fleet) -> None:
    fleet.run(fleet.ok(cpu=90.0))
    fleet.new_mails()
    fleet.run(fleet.ok(replace(WEB, alerts=()), cpu=90.0))
    mails = fleet.new_mails()
    assert alerts_of(mails, OPS) == [] and len(digests_of(mails, OPS)) == 1
    with fleet.store.session() as session:
        last = session.execute(
            select(AlertTransition.new_state, AlertTransition.reason).order_by(
                AlertTransition.id.desc()
            )
        ).first()
    assert tuple(last or ()) == ("ok", "removed from the config")


def test_a_removed_client_is_retired_quietly_and_can_be_forgotten(fleet: Fleet) -> None:
    fleet.run(fleet.ok(cpu=90.0), fleet.ok(replace(DB, mail=(OPS,))))
    fleet.new_mails()
    with pytest.raises(UsageError, match="still in the config"):
        fleet.store.forget("web01")
    fleet.run(fleet.ok(replace(DB, mail=(OPS,))))
    mails = fleet.new_mails()
    assert alerts_of(mails, OPS) == []
    rows = {row.name: row for row in fleet.store.latest_hosts()}
    assert rows["web01"].retired_at == fleet.now - timedelta(minutes=1)
    assert rows["db01"].retired_at is None
    assert silences.current(fleet.store, fleet.now) == []
    with fleet.store.session() as session:
        reason = session.scalar(
            select(AlertTransition.reason).order_by(AlertTransition.id.desc()).limit(1)
        )
    assert reason == "removed from the config"
    assert fleet.store.forget("web01") > 0
    assert [row.name for row in fleet.store.latest_hosts()] == ["db01"]
    assert fleet.store.history("web01") == []


# ---------------------------------------------------------------- expiry


def test_mail_older_than_mail_expire_is_marked_expired_not_sent(fleet: Fleet) -> None:
    fleet.smtp.stop()
    fleet.run(fleet.ok(cpu=90.0))
    fleet.now += timedelta(days=1, minutes=1)
    fleet.smtp.start()
    report = fleet.run(fleet.ok(cpu=90.0))
    assert report.mail is not None and report.mail.expired == 2
    reminder, digest = fleet.new_mails()  # only this pass's mails, none of the day-old ones
    assert reminder.subject == "[fleetstat] 1 STILL FIRING: cpu on web01"
    assert digest.subject.startswith("[fleetstat] security events")
    with fleet.store.session() as session:
        statuses = session.scalars(select(MailOutbox.status).order_by(MailOutbox.id)).all()
    assert list(statuses) == ["expired", "expired", "sent", "sent"]
