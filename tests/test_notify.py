"""After each host: alert states, transitions and mails, on real databases and SMTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fleetstat import mail, notify
from fleetstat.model import AlertRule, Client, Event, EventGap, HostResult, Outcome, Settings
from fleetstat.store import Store
from fleetstat.store.models import AlertState, AlertTransition, MailOutbox
from tests.support.smtp import SmtpServer
from tests.test_alerts import disk, failed_result, ok_result

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WEB = Client(
    ip="10.0.0.5",
    username="stat",
    name="web01",
    mail=("ops@example.org",),
    alerts=(AlertRule("cpu", 0.0),),
)
DB = Client(ip="10.0.0.6", username="stat", name="db01", mail=("dba@example.org",))


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
    )


class Fleet:
    """Runs of a few clients through store, notify and flush, as the run's caller does."""

    def __init__(self, store: Store, smtp: SmtpServer, settings: Settings | None = None) -> None:
        self.store = store
        self.smtp = smtp
        self.settings = settings or Settings(smtp=smtp.settings())
        self.now = T0

    def run(self, *results: HostResult) -> mail.FlushReport:
        """One run at ``self.now`` (then a minute later for the next one)."""
        run_id = self.store.start_run(self.now, "collector-1")
        for result in results:
            host_id = self.store.record(run_id, result, self.now).host_id
            notify.after_host(self.store, run_id, host_id, result, self.settings, self.now)
        self.store.finish_run(run_id, self.now, len(results), len(results))
        report = mail.flush(self.store, self.settings.smtp, self.now)
        self.now += timedelta(minutes=1)
        return report

    def result(self, client: Client = WEB, **figures: Any) -> HostResult:
        return ok_result(client, self.now, **figures)

    def alert_mails(self, address: str) -> list[str]:
        return [m.subject for m in self.smtp.to(address) if "security event" not in m.subject]

    def event_mails(self, address: str) -> list[str]:
        return [m.body for m in self.smtp.to(address) if "security event" in m.subject]


@pytest.fixture
def fleet(sqlite_url: str, smtp_server: SmtpServer) -> Iterator[Fleet]:
    """Runs on SQLite (the scenarios; the database-specific parts run on all three)."""
    store = Store.open(sqlite_url)
    try:
        yield Fleet(store, smtp_server)
    finally:
        store.close()


@pytest.fixture
def fleet_any(store: Store, smtp_server: SmtpServer) -> Fleet:
    """Runs on SQLite, PostgreSQL and MariaDB in turn."""
    return Fleet(store, smtp_server)


def test_cpu_over_its_limit_mails_firing_to_that_clients_address_only(fleet_any: Fleet) -> None:
    fleet = fleet_any
    report = fleet.run(fleet.result(cpu=87.2), fleet.result(DB, cpu=99.0))
    assert report.sent == 3 and report.failed == 0
    [subject] = fleet.alert_mails("ops@example.org")
    assert subject == "[fleetstat] FIRING cpu on web01 (10.0.0.5): 87.2% > 0%"
    assert fleet.alert_mails("dba@example.org") == []
    [alert] = [m for m in fleet.smtp.messages if m.subject == subject]
    assert alert.recipients == ("ops@example.org",)
    assert "fleetstat history web01" in alert.body
    assert alert.message["From"] == fleet.settings.smtp.sender


def test_next_run_within_repeat_mails_nothing_new(fleet: Fleet) -> None:
    fleet.run(fleet.result(cpu=87.2))
    fleet.run(fleet.result(cpu=91.0))
    assert len(fleet.alert_mails("ops@example.org")) == 1
    assert len(fleet.event_mails("ops@example.org")) == 2


def test_raising_the_limit_mails_resolved(fleet_any: Fleet) -> None:
    fleet = fleet_any
    fleet.run(fleet.result(cpu=87.2))
    calmer = replace(WEB, alerts=(AlertRule("cpu", 95.0),))
    fleet.run(fleet.result(calmer, cpu=87.2))
    assert fleet.alert_mails("ops@example.org")[1] == (
        "[fleetstat] RESOLVED cpu on web01 (10.0.0.5): 87.2% <= 95%"
    )
    firing_body, resolved_body = (
        m.body for m in fleet.smtp.to("ops@example.org") if "cpu" in m.subject
    )
    assert "previous  no earlier samples" in firing_body
    assert "previous  11-27 12:00 87.2%\n" in resolved_body
    with fleet.store.session() as session:
        rows = session.execute(
            select(AlertTransition.old_state, AlertTransition.new_state, AlertTransition.reason)
            .where(AlertTransition.rule == "cpu")
            .order_by(AlertTransition.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("ok", "firing", "cpu 87.2% > 0%"),
        ("firing", "ok", "cpu 87.2% <= 95%"),
    ]


def test_memory_swap_disk_and_load_fire_in_one_digest_and_resolve(fleet: Fleet) -> None:
    rules = (
        AlertRule("memory", 50.0),
        AlertRule("swap", 10.0),
        AlertRule("disk", 80.0, mount="/var"),
        AlertRule("load", 1.0),
    )
    client = replace(WEB, alerts=rules)
    hot = {"memory": 91.0, "swap": 40.0, "load": (4.0, 1.0, 1.0), "cores": 2}
    fleet.run(fleet.result(client, disks=(disk("/", 10.0), disk("/var", 85.0)), **hot))
    fleet.run(fleet.result(client, disks=(disk("/", 10.0), disk("/var", 20.0))))
    firing, resolved = fleet.alert_mails("ops@example.org")
    assert firing.startswith("[fleetstat] 4 FIRING on web01 (10.0.0.5): memory 91.0% > 50%, ")
    assert resolved.startswith("[fleetstat] 4 RESOLVED on web01 (10.0.0.5): ")
    body = fleet.smtp.to("ops@example.org")[0].body
    for line in ("swap 40.0% > 10%", "disk /var 85.0% > 80%", "load 2.00 > 1"):
        assert line in body


def test_unreachable_client_mails_its_outcome_and_no_event_mail(fleet: Fleet) -> None:
    result = replace(failed_result(Outcome.AUTH_FAILED, "Permission denied"), client=WEB)
    fleet.run(result)
    [received] = fleet.smtp.to("ops@example.org")
    assert received.subject == (
        "[fleetstat] FIRING unreachable on web01 (10.0.0.5): auth_failed: Permission denied"
    )
    assert "outcome   auth_failed" in received.body
    assert "Check username, password or keyfile" in received.body


def test_changed_host_key_warns_of_an_attack_and_names_known_hosts(fleet: Fleet) -> None:
    result = replace(failed_result(Outcome.HOST_KEY_MISMATCH, "key changed"), client=WEB)
    fleet.run(result)
    fleet.run(replace(result, finished_at=fleet.now))
    subjects = fleet.alert_mails("ops@example.org")
    assert subjects[0].startswith("[fleetstat] 2 FIRING on web01")
    assert subjects[1] == "[fleetstat] STILL FIRING host_key on web01 (10.0.0.5): host key changed"
    body = fleet.smtp.to("ops@example.org")[0].body
    assert "may be\n            an attack" in body
    assert str(fleet.settings.known_hosts.expanduser()) in body


def test_event_mail_goes_out_every_run_with_the_events_stored_for_that_run(fleet: Fleet) -> None:
    quiet = replace(WEB, alerts=())
    fleet.run(fleet.result(quiet))
    first_ok = fleet.now
    fleet.run(fleet.result(quiet, events=(event("1"), event("2", "4624", 1))))
    fleet.run(fleet.result(quiet, events=(event("1"), event("2", "4624", 1))))
    none, two, again = fleet.event_mails("ops@example.org")
    assert "no new security events since monitoring began" in none
    assert "2 new security events" in two
    assert "4625 logon failed  user=alice  from=10.0.0.9  An account failed to log on." in two
    assert "4624 logon" in two
    assert f"no new security events since {first_ok:%Y-%m-%d %H:%M:%S} UTC" in again


def test_the_collectors_own_login_is_stored_but_never_mailed_nor_counted(fleet: Fleet) -> None:
    quiet = replace(WEB, alerts=())
    own = replace(event("9", "4624"), own_session=True, actor="WEB\\svc", target="WEB\\stat")
    fleet.run(fleet.result(quiet, events=(own, event("1"))))
    [body] = fleet.event_mails("ops@example.org")
    assert "1 new security event." in body
    assert "4624" not in body
    stored = fleet.store.events_of_host(WEB.label)
    assert {(e.record_id, e.own_session) for e in stored} == {("9", True), ("1", False)}
    kept = next(e for e in stored if e.record_id == "9")
    assert (kept.actor, kept.target) == ("WEB\\svc", "WEB\\stat")


def test_log_data_that_was_gone_is_said_in_the_event_mail(fleet: Fleet) -> None:
    gap = EventGap("linux-auth", "/var/log/auth.log", None, "auth.log.1 is gone")
    result = fleet.result(replace(WEB, alerts=()))
    assert result.answer is not None
    fleet.run(replace(result, answer=replace(result.answer, gaps=(gap,))))
    [body] = fleet.event_mails("ops@example.org")
    assert body.startswith(
        "The security log was not fully read: an unknown number of bytes of "
        "/var/log/auth.log were skipped: auth.log.1 is gone"
    )


def test_long_event_list_is_cut_and_the_rest_counted(fleet: Fleet) -> None:
    fleet.settings = replace(fleet.settings, mail_max_events=2)
    events = tuple(event(str(n), minute=n) for n in range(5))
    fleet.run(fleet.result(replace(WEB, alerts=()), events=events))
    [body] = fleet.event_mails("ops@example.org")
    assert body.count("4625 logon failed") == 2
    assert "… and 3 more: fleetstat history web01 --events" in body


def test_client_without_mail_gets_none_but_its_state_is_kept(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    silent = replace(WEB, mail=())
    with caplog.at_level("INFO", logger="fleetstat.notify"):
        report = fleet.run(fleet.result(silent, cpu=50.0))
    assert report.sent == 0
    assert fleet.smtp.messages == []
    assert "web01 has no mail address" in caplog.text
    with fleet.store.session() as session:
        state = session.scalar(select(AlertState.state).where(AlertState.rule == "cpu"))
    assert state == "firing"


def test_two_collectors_on_the_same_result_mail_firing_once(
    db_url: str, smtp_server: SmtpServer
) -> None:
    stores = [Store.open(db_url), Store.open(db_url, create=False)]
    settings = Settings(smtp=smtp_server.settings())
    try:
        run_id = stores[0].start_run(T0, "collector-1")
        result = ok_result(WEB, T0, cpu=87.2)
        host_id = stores[0].record(run_id, result, T0).host_id
        barrier = threading.Barrier(2)
        queued: list[list[int]] = []

        def collector(store: Store) -> None:
            barrier.wait()
            queued.append(notify.after_host(store, run_id, host_id, result, settings, T0))

        threads = [threading.Thread(target=collector, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(queued) == 2
        mail.flush(stores[0], settings.smtp, T0)
        with stores[0].session() as session:
            alerts_queued = session.scalar(
                select(func.count()).select_from(MailOutbox).where(MailOutbox.kind == "alert")
            )
        assert alerts_queued == 1
        assert len([m for m in smtp_server.messages if "FIRING" in m.subject]) == 1
    finally:
        for store in stores:
            store.close()
