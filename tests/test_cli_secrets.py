"""Commands that log in to no client need no client secret; relative SQLite paths agree."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from fleetstat.cli import main
from tests.support.sshd import SshdServer, SshUser, count_in_log


@pytest.fixture(autouse=True)
def _no_fleetstat_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FLEETSTAT_") and name != "FLEETSTAT_REQUIRE_FIXTURES":
            monkeypatch.delenv(name)


def env_config(folder: Path, user: SshUser, server: SshdServer, smtp_port: int) -> Path:
    """A config whose one client takes its password from ``$FLEETSTAT_CLIENT_WEB``."""
    path = folder / "clients.xml"
    path.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///fleetstat.db" known-hosts="{folder}/known_hosts"'
        ' cpu-interval="0.1">\n'
        f'    <smtp host="127.0.0.1" port="{smtp_port}" />\n'
        "  </settings>\n"
        f'  <client ip="{server.addresses[0]}" port="{server.port}" username="{user.name}"\n'
        '          password-env="FLEETSTAT_CLIENT_WEB" name="web01" />\n'
        "</clients>\n"
    )
    return path


def test_commands_that_log_in_nowhere_work_without_the_clients_password(
    tmp_path, capsys, ssh_user, sshd_factory, smtp_server
):
    server = sshd_factory(["127.0.0.41"])
    config = env_config(tmp_path, ssh_user, server, smtp_server.port)

    assert main(["db", "upgrade", "-c", str(config)]) == 0
    assert main(["hosts", "-c", str(config)]) == 0
    assert main(["history", "web01", "-c", str(config)]) == 1  # no runs yet, not an error
    assert main(["mail", "flush", "-c", str(config)]) == 0
    assert main(["check-config", str(config)]) == 0
    unset = f"{config}:5: password-env names FLEETSTAT_CLIENT_WEB, which is not set"
    assert f"warning: {unset}" in capsys.readouterr().err

    assert main(["run", "-c", str(config), "--json"]) == 1
    [host] = json.loads(capsys.readouterr().out)["hosts"]
    assert host["outcome"] == "config_error" and host["error"].startswith(unset)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEETSTAT_CLIENT_WEB", ssh_user.password)
        assert main(["run", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hosts"][0]["outcome"] == "ok"
    assert main(["hosts", "-c", str(config), "--json"]) == 0
    assert [h["name"] for h in json.loads(capsys.readouterr().out)] == ["web01"]


def test_a_client_whose_secret_is_unset_fails_alone_and_the_others_are_collected(
    tmp_path, capsys, ssh_user, sshd_factory, smtp_server
):
    server = sshd_factory(["127.0.0.42", "127.0.0.43"])
    config = tmp_path / "clients.xml"
    config.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///fleetstat.db" known-hosts="{tmp_path}/known_hosts"'
        ' cpu-interval="0.1">\n'
        f'    <smtp host="127.0.0.1" port="{smtp_server.port}" />\n'
        "  </settings>\n"
        f'  <client ip="127.0.0.42" port="{server.port}" username="{ssh_user.name}"'
        ' password-env="FLEETSTAT_CLIENT_GONE" name="gone" mail="ops@example.org" />\n'
        f'  <client ip="127.0.0.43" port="{server.port}" username="{ssh_user.name}"'
        f' password="{ssh_user.password}" name="fine" mail="ops@example.org" />\n'
        "</clients>\n"
    )
    config.chmod(0o600)
    assert main(["run", "-c", str(config), "--json"]) == 1
    hosts = {host["name"]: host for host in json.loads(capsys.readouterr().out)["hosts"]}
    assert hosts["fine"]["outcome"] == "ok"
    assert hosts["gone"]["outcome"] == "config_error"
    assert "password-env names FLEETSTAT_CLIENT_GONE, which is not set" in hosts["gone"]["error"]
    assert count_in_log(server, "Accepted password") == 1  # the fine one's; none tried for gone
    assert count_in_log(server, "Failed") == 0
    [alert] = [m for m in smtp_server.messages if "FIRING" in m.subject]
    assert alert.subject == "[fleetstat] 1 FIRING: login not configured on gone"
    assert "FLEETSTAT_CLIENT_GONE" in alert.body


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("how", ["--db", "FLEETSTAT_DB", "xml"])
def test_a_relative_sqlite_path_starts_at_the_configs_folder(tmp_path, monkeypatch, how):
    folder, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    db = 'db="sqlite:///data/fleet.db" ' if how == "xml" else ""
    config = folder / "clients.xml"
    config.write_text(f'<clients><settings {db}/><client ip="10.0.0.1" username="u" /></clients>')
    monkeypatch.chdir(elsewhere)
    argv = ["db", "upgrade", "-c", str(config)]
    if how == "--db":
        argv += ["--db", "sqlite:///data/fleet.db"]
    if how == "FLEETSTAT_DB":
        monkeypatch.setenv("FLEETSTAT_DB", "sqlite:///data/fleet.db")
    assert main(argv) == 0
    assert "hosts" in tables(folder / "data" / "fleet.db")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("how", ["--db", "FLEETSTAT_DB"])
def test_without_a_config_a_relative_sqlite_path_starts_at_the_current_folder(
    tmp_path, monkeypatch, how
):
    monkeypatch.chdir(tmp_path)
    if how == "FLEETSTAT_DB":
        monkeypatch.setenv("FLEETSTAT_DB", "sqlite:///here.db")
        assert main(["db", "upgrade"]) == 0
    else:
        assert main(["db", "upgrade", "--db", "sqlite:///here.db"]) == 0
    assert "hosts" in tables(tmp_path / "here.db")
