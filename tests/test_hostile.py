"""Hostile clients through real sshd: valid tokens whose content lies, end to end.

Each client's ``python`` is replaced by one that seals a crafted answer with the
request's key (``tests.support.hostile``); the collector must refuse or clean it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import create_engine, text

from fleetstat.collect import collector, envelope, job
from fleetstat.core import model
from fleetstat.ssh import hostkeys
from fleetstat.store import Store
from tests.support.hostile import hostile_python
from tests.support.sshd import SshdServer, SshUser, client_for, leftover_temp_dirs

pytestmark = pytest.mark.slow


def settings_in(folder: Path, **changes: object) -> model.Settings:
    """Short timeouts, a quick CPU sample and a known_hosts file of the test's own."""
    fields: dict[str, object] = {
        "known_hosts": folder / "known_hosts",
        "connect_timeout": 3.0,
        "timeout": 20.0,
        "cpu_interval": 0.05,
    }
    return model.Settings(**{**fields, **changes})  # type: ignore[arg-type]


def collect_with(
    ssh_user: SshUser, sshd: SshdServer, folder: Path, change: str, **settings: object
) -> model.HostResult:
    """The result of one host whose agent's answer ``change`` rewrote."""
    with hostile_python(change) as python:
        client = client_for(ssh_user, sshd, python=python)
        (result,) = asyncio.run(
            collector.collect([client], settings_in(folder, **settings), cursors={})
        )
    assert leftover_temp_dirs(ssh_user) == []
    return result


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("answer['cpu']['percent'] = -50.0", "cpu.percent is -50, outside 0 to 100 percent"),
        ("answer['memory']['percent'] = 1e300", "memory.percent is 1e+300, outside 0 to 100"),
        (
            "answer['memory']['total'] = 2 ** 64",
            "memory.total is 18446744073709551616, outside 0 to 9223372036854775807 bytes",
        ),
        ("answer['disks'][0]['used'] = -1", "disks[0].used is -1, outside 0 to"),
        ("answer['cpu']['count'] = 0", "cpu.count is 0, outside 1 to"),
        ("answer['clock'] = 1e13", "clock is 1e+13, outside the years 1970 to 2099"),
        (
            "raw = json.dumps(answer)[:-1] + ', \"deep\": ' + '[' * 100000 + ']' * 100000 + '}'",
            "nests too deeply",
        ),
        (
            "deep = []\nfor _ in range(40):\n    deep = [deep]\nanswer['cursor_note'] = deep",
            "nests more than 16 levels deep",
        ),
    ],
    ids=["negative-cpu", "huge-memory", "int-over-64-bits", "negative-disk", "no-cores",
         "far-future-clock", "nested-100000", "nested-40"],
)  # fmt: skip
def test_a_valid_token_with_impossible_figures_is_bad_payload_naming_the_field(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, change: str, message: str
) -> None:
    result = collect_with(ssh_user, sshd, tmp_path, change)
    assert result.outcome is model.Outcome.BAD_PAYLOAD
    assert result.answer is None
    assert result.error is not None and message in result.error


def test_more_events_than_max_events_is_bad_payload(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    record = (
        "{'source': 'linux-auth', 'record_id': 'r%d' % n, 'event_id': 'sshd.failed_password',"
        " 'time': '2026-11-27T12:00:00Z', 'level': 'audit_failure', 'user': 'root',"
        " 'source_ip': '10.0.0.9', 'message': 'Failed password', 'fields': {}}"
    )
    change = (
        f"answer['events'] = {{'records': [{record} for n in range(20000)], 'cursor': {{}},"
        " 'resets': [], 'truncated': False}"
    )
    result = collect_with(ssh_user, sshd, tmp_path, change, max_events=500)
    assert result.outcome is model.Outcome.BAD_PAYLOAD
    assert result.error == (
        "agent answer: events.records holds 20000 records, more than max-events 500"
    )


def test_text_from_the_client_is_cleaned_and_cut_before_it_is_kept(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    change = (
        "answer['host']['hostname'] = 'web\\x00\\x1b[2J\\r\\nSubject: forged\\ud800'\n"
        "answer['errors'] = [{'part': 'memory', 'error': 'E' * 100000}]"
    )
    result = collect_with(ssh_user, sshd, tmp_path, change)
    assert result.outcome is model.Outcome.OK
    assert result.answer is not None
    assert result.answer.host.hostname == "web\ufffd\ufffd[2J Subject: forged\ufffd"
    ((part, error),) = result.answer.errors
    assert part == "memory"
    assert len(error) == 2048
    assert error.endswith("…")


def test_agent_stderr_in_an_error_is_cleaned_and_cut(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    change = "sys.stderr.write('\\x1b[31m' + 'X' * 100000 + '\\n')\nsys.exit(1)"
    result = collect_with(ssh_user, sshd, tmp_path, change)
    assert result.outcome is model.Outcome.AGENT_FAILED
    assert result.error is not None
    assert len(result.error) <= 2048
    assert "\x1b" not in result.error


def broken(*args: object, **kwargs: object) -> NoReturn:
    """Stands for a bug in fleetstat's own code."""
    raise KeyError("a bug in fleetstat")


@pytest.mark.parametrize(
    ("module", "name"),
    [(envelope, "open_answer"), (hostkeys, "describe")],
    ids=["opening-the-answer", "inside-an-asyncssh-callback"],
)
def test_fleetstat_s_own_error_is_internal_error_with_its_traceback_logged(
    *,
    ssh_user: SshUser,
    sshd: SshdServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    module: object,
    name: str,
) -> None:
    monkeypatch.setattr(module, name, broken)
    clients = [client_for(ssh_user, sshd), client_for(ssh_user, sshd, name="second")]
    with caplog.at_level(logging.ERROR, logger="fleetstat.collect.collector"):
        results = asyncio.run(collector.collect(clients, settings_in(tmp_path), cursors={}))
    assert [r.outcome for r in results] == [model.Outcome.INTERNAL_ERROR] * 2
    assert results[0].error == (
        "fleetstat's own error (see its log): KeyError: 'a bug in fleetstat'"
    )
    logged = [r for r in caplog.records if r.name == "fleetstat.collect.collector"]
    assert len(logged) == 2
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is KeyError
    assert leftover_temp_dirs(ssh_user) == []


def test_forged_lines_from_a_client_reach_neither_the_database_nor_a_mail_intact(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, smtp_server: Any
) -> None:
    forged = "boom\\r\\nSubject: forged\\r\\nBcc: victim@example.org\\x00\\x1b[2J"
    change = (
        "answer['events'] = {'records': [{'source': 'linux-auth', 'record_id': 'r1',"
        " 'event_id': 'sshd.failed_password', 'time': '2026-11-27T12:00:00Z',"
        f" 'level': 'audit_failure', 'user': 'root', 'source_ip': '10.0.0.9',"
        f" 'message': '{forged}', 'fields': {{'line': '{forged}'}}}}],"
        " 'cursor': {'linux-auth': {'journal': 'r1'}}, 'resets': [], 'truncated': False}\n"
        f"answer['errors'] = [{{'part': 'events', 'error': '{forged}' + 'E' * 5000}}]"
    )
    db = f"sqlite:///{tmp_path}/fleetstat.db"
    with hostile_python(change) as python:
        client = client_for(ssh_user, sshd, python=python, mail=("ops@example.org",))
        settings = dataclasses.replace(settings_in(tmp_path, db=db), smtp=smtp_server.settings())
        config = model.Config(tmp_path / "clients.xml", settings, (client,))
        store = Store.open(db)
        try:
            report = asyncio.run(job.run_pass(config, store))
        finally:
            store.close()
    assert [r.outcome for r in report.results] == [model.Outcome.OK]
    engine = create_engine(db)
    with engine.connect() as conn:
        message, fields = conn.execute(text("SELECT message, fields FROM security_events")).one()
    engine.dispose()
    assert message == "boom Subject: forged Bcc: victim@example.org\ufffd\ufffd[2J"
    assert "\\r" not in fields and "\\u0000" not in fields
    (mail,) = smtp_server.messages
    assert mail.message.get_all("Subject") is not None
    assert len(mail.message.get_all("Subject")) == 1
    assert mail.message.get_all("Bcc") is None
    assert mail.recipients == ("ops@example.org",)
    lines = mail.body.splitlines()
    assert not [line for line in lines if line.startswith(("Subject:", "Bcc:"))]
    assert not [line for line in lines if "\x1b" in line or "\x00" in line]
    assert max(len(line) for line in lines) < 2200
