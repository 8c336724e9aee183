"""What the commands print for scripts and people: compact JSON, one time format, tables."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from fleetstat.cli import main, report
from fleetstat.collect.job import PassReport
from fleetstat.store import Store
from tests.support import answers
from tests.test_cli import write_config

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_fleetstat_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FLEETSTAT_") and name != "FLEETSTAT_REQUIRE_FIXTURES":
            monkeypatch.delenv(name)


def timestamps(obj: object) -> list[str]:
    """Every value of a key ending in ``_at`` or named ``time``, anywhere in ``obj``."""
    if isinstance(obj, dict):
        found = [v for k, v in obj.items() if (k.endswith("_at") or k == "time") and v]
        return found + [t for v in obj.values() for t in timestamps(v)]
    if isinstance(obj, list):
        return [t for v in obj for t in timestamps(v)]
    return []


def test_run_json_is_one_compact_line_with_utc_z_times(
    tmp_path, capsys, ssh_user, sshd_factory, smtp_server
):
    server = sshd_factory(["127.0.0.31"])
    config = write_config(tmp_path, ssh_user, server, smtp_server.port)
    assert main(["run", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and ": " not in out.split('"hosts"')[0]
    result = json.loads(out)
    assert {"started_at", "finished_at"} <= result.keys()
    host = result["hosts"][0]
    assert host["outcome"] == "ok"
    assert "group" in host and "events_error" in host
    assert isinstance(host["events"], int) or host["events_error"]
    stamps = timestamps(result)
    assert len(stamps) >= 2 and all(ISO_Z.match(t) for t in stamps), stamps

    assert main(["hosts", "--config", str(config), "--json"]) == 0
    hosts = json.loads(capsys.readouterr().out)
    assert [h["ip"] for h in hosts] == ["127.0.0.31"]
    stamps = timestamps(hosts)
    assert len(stamps) >= 3 and all(ISO_Z.match(t) for t in stamps), stamps

    assert main(["history", "host0", "--config", str(config), "--json"]) == 0
    attempts = json.loads(capsys.readouterr().out)
    assert all(ISO_Z.match(t) for t in timestamps(attempts))


def test_a_host_whose_event_log_was_not_read_says_so_instead_of_zero_events():
    unread = answers.answer(START, errors=(("events", "cannot read /var/log/auth.log"),))
    passed = PassReport(
        run_id=1,
        started_at=START,
        finished_at=START,
        results=(answers.ok_result(START, unread), answers.ok_result(START, answers.answer(START))),
        unstored={},
        mail=None,
    )
    first, second = report.pass_json(passed)["hosts"]
    assert first["events"] is None
    assert first["events_error"] == "cannot read /var/log/auth.log"
    assert second["events"] == 0 and second["events_error"] is None


def test_history_events_json_gives_event_times_in_utc_z(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/fleetstat.db"
    store = Store.open(db)
    store.record(
        store.start_run(START),
        answers.ok_result(START, answers.answer(START, evts=answers.events(range(2), START))),
        START,
    )
    store.close()
    assert main(["history", "web01", "--events", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["time"] for e in listed] == ["2026-11-27T12:00:01Z", "2026-11-27T12:00:00Z"]


@pytest.mark.slow
def test_watch_json_writes_one_line_per_pass(tmp_path, ssh_user, sshd_factory, smtp_server):
    server = sshd_factory(["127.0.0.32"])
    config = write_config(tmp_path, ssh_user, server, smtp_server.port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTAT_")}
    argv = ["watch", "-c", str(config), "--every", "10s", "--json"]
    watch = subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert watch.stdout is not None
    try:
        lines = [watch.stdout.readline() for _ in range(2)]
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=60)
    passes = [json.loads(line) for line in lines]
    assert [p["ok"] for p in passes] == [1, 1]
    assert all(ISO_Z.match(p["time"]) for p in passes)
    assert all(": " not in line for line in lines)


def stored_hosts(db: str, clients: list[tuple[str, int, str]], error: str = "") -> None:
    """Store one run with an ok answer (or ``error``) for each (ip, port, name)."""
    store = Store.open(db)
    run = store.start_run(START)
    for ip, port, name in clients:
        who = answers.client(ip, port, name)
        result = (
            answers.failed_result(START, error=error, who=who)
            if error
            else answers.ok_result(START, answers.answer(START), who=who)
        )
        store.record(run, result, START)
    store.close()


def test_hosts_shows_ip_and_port_only_where_two_hosts_share_an_ip(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/fleetstat.db"
    clients = [("10.0.0.5", 22, "web01"), ("10.0.0.5", 2222, "web02"), ("10.0.0.6", 22, "db01")]
    stored_hosts(db, clients)
    assert main(["hosts", "--db", db]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line.strip()}
    assert rows == {"web01": "10.0.0.5:22", "web02": "10.0.0.5:2222", "db01": "10.0.0.6"}


def test_tables_into_a_pipe_are_plain_and_keep_every_character(tmp_path):
    db = f"sqlite:///{tmp_path}/fleetstat.db"
    error = "connect to 10.0.0.7 port 22: [Errno 111] Connection refused, " + "x" * 150
    stored_hosts(db, [("10.0.0.7", 22, "web07")], error=error)
    shown = subprocess.run(
        [sys.executable, "-m", "fleetstat.cli", "history", "web07", "--db", db],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert "\x1b[" not in shown.stdout
    assert "[Errno 111]" in shown.stdout
    assert "unreachable" in shown.stdout
    assert any(len(line) > 150 for line in shown.stdout.splitlines())


def test_tables_on_a_terminal_fit_its_width_and_have_colour(tmp_path):
    import pty

    db = f"sqlite:///{tmp_path}/fleetstat.db"
    stored_hosts(db, [("10.0.0.7", 22, "web07")], error="refused " + "x" * 150)
    leader, follower = pty.openpty()
    os.set_inheritable(follower, True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", "history", "web07", "--db", db],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "90", "LINES": "40", "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    text = b"".join(chunks).decode()
    assert "\x1b[" in text  # colour
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line for line in plain.splitlines() if line.strip()]
    assert max(len(line.rstrip()) for line in lines) <= 90
    assert any(line.rstrip().endswith("…") for line in lines)
    assert "unreachable" in plain
