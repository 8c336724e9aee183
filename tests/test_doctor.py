"""``fleetstat doctor`` on a mix of real accounts and servers, its table read line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetstat.agent import become
from fleetstat.cli import main
from tests.support.shells import accounts
from tests.support.sshd import SshdFactory, free_port


def test_doctor_says_what_each_client_lacks_and_the_fix(
    sshd_factory: SshdFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with accounts(tmp_path, [("bash", False), ("nologin", False), ("bash", False)]) as made:
        fine, refusing, with_sudo = (account.user for account in made)
        server = sshd_factory(["127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74"])
        rule = become.rule("sudo", with_sudo.name, become.command("sudo", "/usr/bin/journalctl"))
        sudoers = Path(f"/etc/sudoers.d/fleetstat-test-{with_sudo.name}")
        sudoers.write_text(rule + "\n")
        sudoers.chmod(0o440)
        closed = free_port(["127.0.0.75"])
        clients = [
            f'<client ip="127.0.0.71" port="{server.port}" username="{fine.name}" '
            f'keyfile="{fine.key_path}" name="fine"/>',
            f'<client ip="127.0.0.72" port="{server.port}" username="{refusing.name}" '
            f'keyfile="{refusing.key_path}" name="refusing"/>',
            f'<client ip="127.0.0.73" port="{server.port}" username="{with_sudo.name}" '
            f'keyfile="{with_sudo.key_path}" name="sudo" become="sudo"/>',
            f'<client ip="127.0.0.74" port="{server.port}" username="{fine.name}" '
            f'keyfile="{fine.key_path}" name="oldpy" python="/nowhere/python3"/>',
            f'<client ip="127.0.0.75" port="{closed}" username="{fine.name}" '
            f'keyfile="{fine.key_path}" name="down"/>',
        ]
        config = tmp_path / "clients.xml"
        config.write_text(
            f'<clients>\n  <settings known-hosts="{tmp_path}/known_hosts" connect-timeout="5"/>\n  '
            + "\n  ".join(clients)
            + "\n</clients>\n"
        )
        config.chmod(0o600)
        try:
            assert main(["doctor", "--config", str(config)]) == 1
            table = capsys.readouterr().out.splitlines()
            assert main(["doctor", "--config", str(config), "sudo", "--json"]) == 0
            [as_json] = json.loads(capsys.readouterr().out)
        finally:
            sudoers.unlink()
    block = {}
    for line in table:
        if not line.startswith(" "):
            name = line.split()[0]
            block[name] = []
        else:
            block[name].append(" ".join(line.split()))
    assert block["fine"] == [
        f"login ok key file {fine.key_path}",
        "path ok direct",
        "shell ok /bin/bash",
        next(line for line in block["fine"] if line.startswith("python ok Python 3.")),
        "tmpdir ok /tmp is writable",
        "events FIX neither the journal nor an auth log is readable",
        f'fix: usermod -aG systemd-journal {fine.name}; or set become="sudo" and add to '
        f"sudoers: {become.rule('sudo', fine.name, become.command('sudo', '/usr/bin/journalctl'))}",
    ]
    assert block["refusing"][2].startswith("shell FIX the login runs no command (")
    assert "This account is currently not available" in block["refusing"][2]
    assert (
        block["refusing"][3] == f"fix: give {refusing.name} a shell that runs commands "
        f"(usermod -s /bin/sh {refusing.name})"
    )
    assert 'events ok the journal through sudo (become="sudo")' in block["sudo"]
    assert "python FIX none found (/nowhere/python3)" in block["oldpy"]
    assert block["down"][2].startswith("connect FIX unreachable: connection refused")
    assert block["down"][3].startswith("fix: Check that the machine is up")
    assert as_json["client"] == "sudo" and as_json["ok"] is True
    assert [c["name"] for c in as_json["checks"]] == [
        "login", "path", "shell", "python", "tmpdir", "events",
    ]  # fmt: skip
