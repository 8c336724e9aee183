"""The ``fleetstat`` command end to end: real sshd clients, a real SMTP server, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fleetstat.cli import main
from fleetstat.collect import payload
from tests.support.sshd import SshdServer, SshUser

SEED = """<client ip="127.0.0.1" port="22" username="user" password="password" mail="asa@asda.com">
    <alert type="memory" limit="50%" />
    <alert type="cpu" limit="20%" />
</client>
"""


def write_config(
    folder: Path,
    user: SshUser,
    server: SshdServer,
    smtp_port: int,
    *,
    bad_password_on: str | None = None,
) -> Path:
    """A ``<clients>`` config for ``server``'s addresses; one may get a wrong password."""
    clients = []
    for n, ip in enumerate(server.addresses):
        password = "wrong-password" if ip == bad_password_on else user.password
        clients.append(
            f'  <client ip="{ip}" port="{server.port}" username="{user.name}" password="{password}"'
            f' mail="ops{n}@example.org" name="host{n}">\n'
            '    <alert type="memory" limit="0%" />\n'
            "  </client>"
        )
    text = (
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/fleetstat.db" known-hosts="{folder}/known_hosts"'
        ' cpu-interval="0.1" connect-timeout="5" timeout="20">\n'
        f'    <smtp host="127.0.0.1" port="{smtp_port}" sender="fleetstat@monitor.test" />\n'
        "  </settings>\n" + "\n".join(clients) + "\n</clients>\n"
    )
    path = folder / "clients.xml"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def three_hosts(sshd_factory) -> SshdServer:
    return sshd_factory(["127.0.0.21", "127.0.0.22", "127.0.0.23"])


@pytest.fixture(autouse=True)
def _no_fleetstat_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FLEETSTAT_") and name != "FLEETSTAT_REQUIRE_FIXTURES":
            monkeypatch.delenv(name)


def test_check_config_accepts_the_seed_format(tmp_path, capsys):
    path = tmp_path / "seed.xml"
    path.write_text(SEED)
    path.chmod(0o600)
    assert main(["check-config", str(path)]) == 0
    assert "1 client" in capsys.readouterr().out


def test_check_config_names_file_line_and_fix_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.xml"
    path.write_text(SEED.replace('port="22"', 'port="99999"'))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1" in err
    assert "port" in err
    assert "fix:" in err


def test_run_stores_every_host_with_its_ip_and_mails_its_admin(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    bad = three_hosts.addresses[2]
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port, bad_password_on=bad)

    status = main(["run", "--config", str(config), "--json"])

    result = json.loads(capsys.readouterr().out)
    assert status == 1  # one host is not ok
    outcomes = {h["ip"]: h["outcome"] for h in result["hosts"]}
    assert outcomes == {"127.0.0.21": "ok", "127.0.0.22": "ok", "127.0.0.23": "auth_failed"}
    with sqlite3.connect(tmp_path / "fleetstat.db") as db:
        ips = sorted(row[0] for row in db.execute("SELECT ip FROM samples"))
        attempts = dict(db.execute("SELECT ip, outcome FROM collection_attempts"))
    assert ips == ["127.0.0.21", "127.0.0.22"]
    assert attempts == outcomes
    subjects = {m.recipients[0]: m.subject for m in smtp_server.messages if "FIRING" in m.subject}
    assert subjects["ops0@example.org"] == "[fleetstat] 1 FIRING: memory on host0"
    assert subjects["ops2@example.org"] == "[fleetstat] 1 FIRING: login refused on host2"
    for n in range(3):
        [digest] = [m for m in smtp_server.to(f"ops{n}@example.org") if "security" in m.subject]
        assert f"host{n} (127.0.0.2{n + 1})" in digest.body
    [unread] = [m for m in smtp_server.to("ops2@example.org") if "security" in m.subject]
    assert unread.subject == "[fleetstat] security events: none new on 1 host, 1 not read"
    assert "log not read: login refused (auth_failed)" in unread.body
    assert len(smtp_server.messages) == 6  # an alert mail and a digest per address


def test_alerts_silence_ack_and_forget_commands_over_real_passes(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    on = ["--config", str(config)]
    args = ["silence", "add", "--host", "host1", "--for", "2h", "--reason", "new RAM"]
    assert main([*args, *on]) == 0
    assert capsys.readouterr().out.startswith("silence 1: host1 all rules until ")
    assert main(["run", *on]) == 0
    capsys.readouterr()
    [digest] = smtp_server.to("ops1@example.org")  # the silenced host's address: no alert mail
    assert "1 alert silenced: FIRING memory on host1." in digest.body
    assert main(["alerts", *on, "--json"]) == 0
    firing = json.loads(capsys.readouterr().out)
    assert sorted((a["host"], a["rule"], a["state"]) for a in firing) == [
        (f"host{n}", "memory", "firing") for n in range(3)
    ]
    assert [a["silenced_by"] for a in firing] == [None, 1, None]
    assert firing[0]["limit"] == "0%" and firing[0]["value"].endswith("%")

    assert main(["silence", "list", *on]) == 0
    assert "new RAM" in capsys.readouterr().out
    assert main(["alerts", "ack", "host0", "memory", "--reason", "known", *on]) == 0
    assert main(["alerts", *on]) == 0
    table = capsys.readouterr().out
    assert "silenced (silence 1)" in table and "acknowledged" in table and "known" in table
    assert main(["alerts", "ack", "host0", "cpu", *on]) == 2
    assert "no firing alert 'cpu' on 'host0'" in capsys.readouterr().err

    assert main(["silence", "expire", "1", *on]) == 0
    assert main(["silence", "expire", "1", *on]) == 2
    smtp_server.clear()
    assert main(["run", *on]) == 0
    [caught_up] = [m for m in smtp_server.to("ops1@example.org") if "FIRING" in m.subject]
    assert caught_up.subject == "[fleetstat] 1 FIRING: memory on host1"
    assert len(smtp_server.messages) == 4  # that alert mail and three digests

    assert main(["hosts", "forget", "host0", *on]) == 2
    assert "still in the config" in capsys.readouterr().err
    assert main(["watch", *on, "--every", "1s"]) == 2
    assert "too short" in capsys.readouterr().err


def test_hosts_and_history_read_back_what_run_stored(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    assert main(["run", "--config", str(config)]) == 0
    table = capsys.readouterr().out
    assert "3/3 hosts ok" in table
    db = f"sqlite:///{tmp_path}/fleetstat.db"

    assert main(["hosts", "--db", db]) == 0
    hosts = capsys.readouterr().out
    for n in range(3):
        assert f"host{n}" in hosts

    assert main(["history", "host1", "--config", str(config), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [row["outcome"] for row in history] == ["ok"]
    assert history[0]["ip"] == "127.0.0.22"

    assert main(["history", "no-such-host", "--db", db]) == 1


def test_run_says_so_with_status_3_when_the_database_cannot_be_written(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the database's folder should be")
    status = main(["run", "--config", str(config), "--db", f"sqlite:///{blocked}/fleetstat.db"])
    assert status == 3
    assert "fleetstat:" in capsys.readouterr().err


def test_agent_build_writes_the_exact_payload(tmp_path, capsys):
    out = tmp_path / "agent.pyz"
    assert main(["agent", "build", "--output", str(out)]) == 0
    assert out.read_bytes() == payload.build_agent()
    assert payload.agent_digest() in capsys.readouterr().out


def test_db_upgrade_creates_the_schema(tmp_path, capsys):
    db = tmp_path / "new.db"
    assert main(["db", "upgrade", "--db", f"sqlite:///{db}"]) == 0
    with sqlite3.connect(db) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {
        "hosts",
        "samples",
        "security_events",
        "collection_attempts",
        "alert_states",
        "mail_outbox",
    } <= tables


def test_mail_test_sends_one_mail_and_reports_a_dead_server(capsys, smtp_server, monkeypatch):
    monkeypatch.setenv("FLEETSTAT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FLEETSTAT_SMTP_PORT", str(smtp_server.port))
    assert main(["mail", "test", "admin@example.org"]) == 0
    assert [m.recipients for m in smtp_server.messages] == [("admin@example.org",)]

    smtp_server.stop()
    assert main(["mail", "test", "admin@example.org"]) == 1
    assert "refused" in capsys.readouterr().err.lower()


def test_mail_kept_while_smtp_is_down_goes_out_once_with_the_next_run(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    smtp_server.stop()
    assert main(["run", "--config", str(config)]) == 0
    assert "kept in the outbox" in capsys.readouterr().out
    assert smtp_server.messages == []

    smtp_server.start()
    assert main(["run", "--config", str(config)]) == 0
    firing = sorted(m.recipients[0] for m in smtp_server.messages if "FIRING" in m.subject)
    assert firing == ["ops0@example.org", "ops1@example.org", "ops2@example.org"]
    events = [m for m in smtp_server.messages if "security events" in m.subject]
    assert len(events) == 6  # one per client for each of the two runs, each once
    ids = [m.message["Message-ID"] for m in smtp_server.messages]
    assert len(ids) == len(set(ids))

    assert main(["mail", "flush", "--config", str(config)]) == 0
    assert "0 sent" in capsys.readouterr().out


@pytest.mark.slow
def test_watch_runs_passes_and_stops_cleanly_on_sigterm(
    tmp_path, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTAT_")}
    watch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleetstat.cli",
            "watch",
            "--config",
            str(config),
            "--every",
            "10s",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = json.loads(watch.stdout.readline())
        second = json.loads(watch.stdout.readline())
    finally:
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert first["ok"] == 3 and second["ok"] == 3
    assert second["run_id"] == first["run_id"] + 1
    with sqlite3.connect(tmp_path / "fleetstat.db") as db:
        runs = db.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0]
        unfinished = db.execute("SELECT count(*) FROM runs WHERE finished_at IS NULL").fetchone()[0]
    assert runs >= 2
    assert unfinished == 0


def test_history_events_lists_the_stored_security_events_newest_first(tmp_path, capsys):
    from datetime import UTC, datetime

    from fleetstat.store import Store
    from tests.support import answers

    db = f"sqlite:///{tmp_path}/fleetstat.db"
    store = Store.open(db)
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    evts = answers.events(range(3), start)
    store.record(
        store.start_run(start), answers.ok_result(start, answers.answer(start, evts=evts)), start
    )
    store.close()

    assert main(["history", "web01", "--events", "--db", db]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("2026-")]
    assert len(rows) == 3
    assert rows[0].startswith("2026-11-27 12:00:02Z")
    assert evts[0].event_id in rows[-1]

    assert main(["history", "web01", "--events", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["record_id"] for e in listed] == [e.record_id for e in reversed(evts)]


def test_history_hourly_shows_each_hours_means_from_rollups_and_newest_samples(tmp_path, capsys):
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from fleetstat.store import Store
    from tests.support import answers

    db = f"sqlite:///{tmp_path}/fleetstat.db"
    store = Store.open(db)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for tick in range(9):  # 20 minutes apart over the three hours before this one
        at = hour - timedelta(hours=3) + timedelta(minutes=20 * tick)
        base = answers.answer(at)
        assert base.cpu is not None
        ans = dataclasses.replace(base, cpu=dataclasses.replace(base.cpu, percent=10.0 * tick))
        store.record(store.start_run(at), answers.ok_result(at, ans), at)
    store.roll_up(hour - timedelta(minutes=90))  # the oldest hour rolled up, the rest raw
    store.close()

    assert main(["history", "web01", "--hourly", "--since", "6h", "--json", "--db", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["cpu_percent"] for row in rows] == [70.0, 40.0, 10.0]  # newest first
    assert rows[0]["hour"] == (hour - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows[0]["disk_mount"] == "/var" and rows[0]["disk_percent"] == 85.0
    assert main(["history", "web01", "--hourly", "--db", db]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["HOUR", "CPU", "MEMORY", "LOAD", "FULLEST", "DISK"]
    assert table[-1].split()[2:] == ["10.0%", "20.8%", "0.15", "85.0%", "/var"]
    assert main(["history", "web01", "--since", "6h", "--db", db]) == 2
    assert "--since goes with --hourly" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["hosts"], ["history", "web01"]], ids=" ".join)
def test_a_reading_command_on_a_missing_database_creates_nothing(tmp_path, capsys, command):
    typo = tmp_path / "fleetsat.db"
    assert main([*command, "--db", f"sqlite:///{typo}"]) == 3
    err = capsys.readouterr().err
    assert f"no fleetstat database at sqlite:///{typo}" in err
    assert "fleetstat db upgrade" in err
    assert not typo.exists()


def test_a_reading_command_on_a_database_without_fleetstat_tables_changes_nothing(tmp_path, capsys):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    assert main(["hosts", "--db", f"sqlite:///{other}"]) == 3
    assert "no fleetstat tables" in capsys.readouterr().err
    with sqlite3.connect(other) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["notes"]


def test_the_history_hint_of_an_alert_mail_names_the_config_and_works_from_elsewhere(
    tmp_path, capsys, ssh_user, three_hosts, smtp_server
):
    config = write_config(tmp_path, ssh_user, three_hosts, smtp_server.port)
    assert main(["run", "--config", str(config)]) == 0
    capsys.readouterr()
    firing = [m for m in smtp_server.messages if "FIRING" in m.subject]
    body = next(m for m in firing if m.recipients == ("ops0@example.org",)).message
    hint = next(
        line.split("history", 1)[1].strip()
        for line in body.get_content().splitlines()
        if line.strip().startswith("history")
    )
    assert hint == f"fleetstat history host0 --config {config}"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = subprocess.run(
        [sys.executable, "-m", "fleetstat.cli", *hint.split()[1:]],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert " ok " in shown.stdout
    assert list(elsewhere.iterdir()) == []


def test_db_close_runs_closes_what_a_killed_collector_left_and_nothing_live(tmp_path, capsys):
    from datetime import UTC, datetime

    from fleetstat.core import model
    from fleetstat.store import Store

    config = tmp_path / "clients.xml"
    config.write_text(
        f'<clients>\n  <settings db="sqlite:///{tmp_path}/fleetstat.db"/>\n'
        '  <client ip="10.0.0.1" username="u" name="done"/>\n'
        '  <client ip="10.0.0.2" username="u" name="cut"/>\n</clients>\n'
    )
    store = Store.open(f"sqlite:///{tmp_path}/fleetstat.db")
    started = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    run_id = store.start_run(started)  # a collector that was killed after one host
    done = model.Client(ip="10.0.0.1", username="u", name="done")
    store.record(run_id, model.HostResult(done, model.Outcome.TIMEOUT, started, started), started)
    store.close()

    assert main(["db", "close-runs", "-c", str(config)]) == 0
    assert f"closed run {run_id}: 2 hosts, 0 ok, the rest interrupted" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "fleetstat.db") as db:
        run = db.execute("SELECT finished_at IS NOT NULL, hosts_total FROM runs").fetchall()
        attempts = db.execute(
            "SELECT h.name, a.outcome, a.error FROM collection_attempts a "
            "JOIN hosts h ON h.id = a.host_id ORDER BY h.name"
        ).fetchall()
    assert run == [(1, 2)]
    assert attempts[0][:2] == ("cut", "interrupted") and "collector stopped" in attempts[0][2]
    assert attempts[1][:2] == ("done", "timeout")
    assert main(["db", "close-runs", "-c", str(config)]) == 0
    assert "no run was left open" in capsys.readouterr().out
