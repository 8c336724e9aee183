"""``<settings ssh-config>``: an OpenSSH client config applied as OpenSSH applies it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from fleetstat import config
from fleetstat.cli import main
from fleetstat.core.errors import ConfigError
from tests.support.jump import JumpPair
from tests.support.sshd import SshdServer, SshUser


def ssh_config_for(folder: Path, pair: JumpPair, user: SshUser) -> Path:
    """``~/.ssh/config``-style: the target is reached only through the jump host."""
    known = folder / "jump_known_hosts"
    known.write_text(f"[{pair.jump_address}]:{pair.jump_port} {pair.jump_host_key}\n")
    path = folder / "ssh_config"
    path.write_text(
        f"Host bastion\n"
        f"    HostName {pair.jump_address}\n"
        f"    Port {pair.jump_port}\n"
        f"    User {user.name}\n"
        f"    IdentityFile {user.key_path}\n"
        f"    UserKnownHostsFile {known}\n"
        f"Host db.internal\n"
        f"    HostName 127.0.0.1\n"
        f"    Port {pair.target_port}\n"
        f"    User {user.name}\n"
        f"    IdentityFile {user.key_path}\n"
        f"    ProxyJump bastion\n"
    )
    return path


def write(folder: Path, settings: str, clients: str) -> Path:
    path = folder / "clients.xml"
    path.write_text(
        f'<clients>\n  <settings known-hosts="{folder}/known_hosts" cpu-interval="0.1" '
        f'timeout="30" {settings}/>\n{clients}</clients>\n'
    )
    path.chmod(0o600)
    return path


def test_the_target_cannot_be_reached_but_through_the_jump_host(jump_pair: JumpPair) -> None:
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", jump_pair.target_port), 2):
        pass


def test_a_client_behind_a_jump_host_is_collected_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jump_pair: JumpPair, ssh_user: SshUser
) -> None:
    ssh_config = ssh_config_for(tmp_path, jump_pair, ssh_user)
    path = write(tmp_path, f'ssh-config="{ssh_config}"', '  <client ip="db.internal"/>\n')

    assert main(["run", "--config", str(path), "--json"]) == 0
    (host,) = json.loads(capsys.readouterr().out)["hosts"]
    assert (host["name"], host["port"], host["outcome"]) == (
        "db.internal",
        jump_pair.target_port,
        "ok",
    )
    assert f"Accepted publickey for {ssh_user.name}" in jump_pair.jump_log.read_text()
    assert f"Accepted publickey for {ssh_user.name}" in jump_pair.target_log.read_text()
    (learned,) = (tmp_path / "known_hosts").read_text().splitlines()
    name, kind, key = learned.split()[:3]
    assert (name, f"{kind} {key}") == (
        f"[db.internal]:{jump_pair.target_port}",
        " ".join(jump_pair.target_host_key.split()[:2]),
    )


def test_without_ssh_config_the_same_client_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jump_pair: JumpPair, ssh_user: SshUser
) -> None:
    client = (
        f'  <client ip="127.0.0.1" port="{jump_pair.target_port}" username="{ssh_user.name}" '
        f'keyfile="{ssh_user.key_path}"/>\n'
    )
    path = write(tmp_path, 'connect-timeout="3"', client)
    assert main(["run", "--config", str(path), "--json"]) == 1
    (host,) = json.loads(capsys.readouterr().out)["hosts"]
    assert host["outcome"] == "unreachable"


def test_show_names_what_came_from_the_ssh_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jump_pair: JumpPair, ssh_user: SshUser
) -> None:
    ssh_config = ssh_config_for(tmp_path, jump_pair, ssh_user)
    path = write(tmp_path, f'ssh-config="{ssh_config}"', '  <client ip="db.internal"/>\n')
    assert main(["check-config", str(path), "--show", "db.internal"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert f"port {jump_pair.target_port} ssh-config {ssh_config}" in lines
    assert f"username {ssh_user.name} ssh-config {ssh_config}" in lines
    assert f"proxy jump bastion ssh-config {ssh_config}" in lines
    assert f"identity file {ssh_user.key_path} ssh-config {ssh_config}" in lines


def test_the_xml_wins_over_the_ssh_config(tmp_path: Path) -> None:
    (tmp_path / "ssh_config").write_text("Host web1\n    User fromfile\n    Port 2200\n")
    path = write(
        tmp_path,
        'ssh-config="ssh_config"',
        '  <client ip="web1" username="stats" port="22"/>\n  <client ip="web2"/>\n',
    )
    web1, web2 = config.load(path, {}).clients
    assert (web1.username, web1.port) == ("stats", 22)
    assert web2.port == 22 and web2.username  # no Host block: the local user, port 22
    assert config.load(path, {}).settings.ssh_config == tmp_path / "ssh_config"


def test_an_ssh_config_that_is_missing_or_broken_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, 'ssh-config="nope"', '  <client ip="web1" username="u"/>\n')
    with pytest.raises(ConfigError, match=r"ssh-config '.*nope' cannot be read"):
        config.load(path, {})
    (tmp_path / "nope").write_text("Host web1\n    Port many\n")
    with pytest.raises(ConfigError, match="does not parse"):
        config.load(path, {})


def test_ssh_config_is_off_by_default_even_with_a_home_ssh_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sshd: SshdServer,
    ssh_user: SshUser,
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host *\n    ProxyJump nobody@127.0.0.1:1\n")
    monkeypatch.setenv("HOME", str(home))
    client = (
        f'  <client ip="127.0.0.1" port="{sshd.port}" username="{ssh_user.name}" '
        f'keyfile="{ssh_user.key_path}"/>\n'
    )
    path = write(tmp_path, "", client)
    assert config.load(path, {}).settings.ssh_config is None
    assert main(["run", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hosts"][0]["outcome"] == "ok"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("no", None), ("off", None), ("yes", "home/.ssh/config"), ("sub/cfg", "sub/cfg")],
)
def test_ssh_config_is_no_yes_or_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("home/.ssh/config", "sub/cfg"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text("")
    path = write(tmp_path, f'ssh-config="{value}"', '  <client ip="h" username="u"/>\n')
    wanted = tmp_path / expected if expected else None
    assert config.load(path, {}).settings.ssh_config == wanted


def test_fleetstat_ssh_config_wins_over_the_xml(tmp_path: Path) -> None:
    (tmp_path / "other").write_text("")
    path = write(tmp_path, 'ssh-config="no"', '  <client ip="h" username="u"/>\n')
    loaded = config.load(path, {"FLEETSTAT_SSH_CONFIG": str(tmp_path / "other")})
    assert loaded.settings.ssh_config == tmp_path / "other"
