"""Hosts behind one bastion share one login to it: a real jump host (``sshd -i``) in front
of targets in a network namespace that only it reaches."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fleetstat import config, ssh
from fleetstat.cli import main
from fleetstat.collect import collector
from fleetstat.core import model
from tests.support.jump import BEHIND, JumpPair
from tests.support.sshd import SshUser


def fleet_config(folder: Path, pair: JumpPair, user: SshUser, jump_port: int) -> Path:
    """Every target of ``pair`` in one group whose ``jump`` is the bastion."""
    clients = "\n".join(
        f'    <client ip="127.0.3.{n}" port="{pair.target_port}" name="t{n}"/>'
        for n in range(1, BEHIND + 1)
    )
    path = folder / "clients.xml"
    path.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/fleet.db" known-hosts="{folder}/known_hosts" '
        'cpu-interval="0.1" timeout="60" jump-concurrency="5"/>\n'
        f'  <group name="behind" username="{user.name}" keyfile="{user.key_path}" '
        f'jump="{user.name}@{pair.jump_address}:{jump_port}">\n{clients}\n  </group>\n'
        "</clients>\n"
    )
    path.chmod(0o600)
    return path


def bastion_logins(pair: JumpPair) -> int:
    return pair.jump_log.read_text().count("Accepted publickey for")


def test_every_host_behind_a_bastion_is_collected_over_one_login_to_it(
    bastion_fleet: JumpPair, ssh_user: SshUser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = fleet_config(tmp_path, bastion_fleet, ssh_user, bastion_fleet.jump_port)
    assert main(["run", "--config", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {h["outcome"] for h in report["hosts"]} == {"ok"}
    assert len(report["hosts"]) == BEHIND
    assert bastion_logins(bastion_fleet) == 1
    assert bastion_fleet.target_log.read_text().count("Accepted publickey for") == BEHIND
    assert main(["check-config", str(path), "--show", "t3"]) == 0
    shown = capsys.readouterr().out
    assert f"jump          {ssh_user.name}@{bastion_fleet.jump_address}" in shown


def test_kept_connections_reuse_the_bastion_across_passes(
    bastion_fleet: JumpPair, ssh_user: SshUser, tmp_path: Path
) -> None:
    loaded = config.load(fleet_config(tmp_path, bastion_fleet, ssh_user, bastion_fleet.jump_port))

    async def two_passes() -> list[list[model.HostResult]]:
        async with ssh.Connections.from_settings(loaded.settings) as connections:
            return [
                await collector.collect(
                    loaded.clients, loaded.settings, cursors={}, connections=connections
                )
                for _ in range(2)
            ]

    passes = asyncio.run(two_passes())
    assert [{r.outcome for r in results} for results in passes] == [{model.Outcome.OK}] * 2
    assert bastion_logins(bastion_fleet) == 1


def test_a_bastion_that_is_down_is_tried_once_and_alerts_once(
    bastion_fleet: JumpPair, ssh_user: SshUser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import create_engine, text

    from tests.support.sshd import free_port

    nowhere = free_port([bastion_fleet.jump_address])  # nothing listens there
    path = fleet_config(tmp_path, bastion_fleet, ssh_user, nowhere)
    assert main(["run", "--config", str(path), "--json"]) == 1
    hosts = json.loads(capsys.readouterr().out)["hosts"]
    bastion = f"bastion {ssh_user.name}@{bastion_fleet.jump_address}:{nowhere}"
    [tried] = [h for h in hosts if h["outcome"] == "unreachable"]
    assert tried["error"].startswith(f"{bastion}: connection refused")
    behind = [h for h in hosts if h is not tried]
    assert {h["outcome"] for h in behind} == {"jump_failed"}
    assert all(h["error"].startswith(f"behind {bastion}, which failed: ") for h in behind)
    with create_engine(f"sqlite:///{tmp_path}/fleet.db").connect() as db:
        firing = db.execute(
            text(
                "SELECT COUNT(*) FROM alert_states WHERE rule = 'unreachable' AND state = 'firing'"
            )
        ).scalar()
    assert firing == 1  # one alert for the bastion, not one per host
