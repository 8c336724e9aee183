"""Host keys as OpenSSH understands them, against real OpenSSH servers on loopback.

Hashed lines are made by ``ssh-keygen -H``, certificates by ``ssh-keygen -s``: the
files are the ones OpenSSH itself writes and reads.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from fleetstat.alerting import rules
from fleetstat.cli import main
from fleetstat.core import model
from fleetstat.ssh import hostkeys
from tests.support.sshd import SshdFactory, SshdServer, SshUser, client_for
from tests.test_cli import write_config
from tests.test_config import clients, load
from tests.test_ssh import outcome_of, run, settings_in

OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def entry(server: SshdServer, key: str | None = None, *, marker: str = "") -> str:
    """A plain known_hosts line for ``server`` (its own key unless ``key`` is given)."""
    name = f"[{server.addresses[0]}]:{server.port}"
    line = f"{name} {' '.join((key or server.host_public_key).split()[:2])}"
    return f"@{marker} {line}" if marker else line


def hashed(path: Path, *lines: str) -> str:
    """Write ``lines`` to ``path`` and hash their names with ``ssh-keygen -H``; the text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    Path(f"{path}.old").unlink()
    text = path.read_text()
    assert text.startswith("|1|")
    return text


def test_a_hashed_pin_of_another_key_is_refused_under_accept_new(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    text = hashed(settings.known_hosts, entry(sshd, OTHER_KEY))
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert str(error).startswith("host key changed: now ssh-ed25519 SHA256:")
    assert settings.known_hosts.read_text() == text


def test_a_hashed_pin_of_the_right_key_is_trusted_and_not_written_again(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path, host_keys="strict")
    text = hashed(settings.known_hosts, entry(sshd))
    assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"
    assert settings.known_hosts.read_text() == text


def test_a_hashed_pin_in_a_read_only_file_counts_and_that_file_is_never_written(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    user_file = tmp_path / "ssh" / "known_hosts"
    text = hashed(user_file, entry(sshd, OTHER_KEY))
    settings = settings_in(tmp_path, known_hosts_read_only=(user_file,))
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert str(user_file) in str(error)
    assert user_file.read_text() == text
    assert not settings.known_hosts.exists()


def test_a_first_key_is_learned_into_the_own_file_only(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    user_file = tmp_path / "ssh" / "known_hosts"
    user_file.parent.mkdir()
    user_file.write_text(f"127.0.0.99 {OTHER_KEY}\n")
    settings = settings_in(tmp_path, known_hosts_read_only=(user_file,))
    assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"
    assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"
    assert settings.known_hosts.read_text() == entry(sshd) + "\n"
    assert user_file.read_text() == f"127.0.0.99 {OTHER_KEY}\n"


def test_a_learned_key_goes_into_private_folders_whatever_the_umask(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path, known_hosts=tmp_path / "state" / "fleetstat" / "known_hosts")
    before = os.umask(0)
    try:
        assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"
    finally:
        os.umask(before)
    modes = [
        stat.S_IMODE(p.stat().st_mode)
        for p in (tmp_path / "state", tmp_path / "state" / "fleetstat", settings.known_hosts)
    ]
    assert modes == [0o700, 0o700, 0o600]


@pytest.mark.parametrize("policy", ["accept-new", "strict"])
def test_a_revoked_key_is_refused_with_its_own_message_and_never_recorded(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path, policy: str
) -> None:
    settings = settings_in(tmp_path, host_keys=policy)
    settings.known_hosts.parent.mkdir(parents=True)
    text = f"{entry(sshd, marker='revoked')}\n{entry(sshd)}\n"
    settings.known_hosts.write_text(text)
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert not error.transient
    assert str(error).startswith(
        f"host key revoked: the host showed a key marked @revoked in {settings.known_hosts}"
    )
    assert settings.known_hosts.read_text() == text


def test_a_hashed_revoked_key_is_refused(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    # ssh-keygen -H leaves marked lines alone; OpenSSH reads a marker before a hashed name.
    settings.known_hosts.write_text("@revoked " + hashed(settings.known_hosts, entry(sshd)))
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert str(error).startswith("host key revoked")


def test_a_pattern_with_a_port_pins_every_matching_host(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.81", "127.0.0.82"])
    settings = settings_in(tmp_path, host_keys="strict")
    settings.known_hosts.parent.mkdir(parents=True)
    settings.known_hosts.write_text(f"[127.0.0.8?]:{server.port} {server.host_public_key}\n")
    for address in server.addresses:
        assert run(client_for(ssh_user, server, address), settings) == b"echo:hello"
    other = settings_in(tmp_path, host_keys="accept-new")
    other.known_hosts.write_text(f"[127.0.0.8?]:{server.port} {OTHER_KEY}\n")
    error = outcome_of(client_for(ssh_user, server, "127.0.0.82"), other)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH


def certify(server: SshdServer, folder: Path) -> tuple[Path, str]:
    """A CA key pair under ``folder`` and a host certificate for ``server``'s key.

    Returns the certificate's path and the CA's public line.
    """
    ca = folder / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    principals = ",".join(server.addresses)
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "fleetstat-test", "-h", "-n", principals,
         str(server.host_key_path.with_suffix(".pub"))],
        check=True,
        capture_output=True,
    )  # fmt: skip
    cert = server.host_key_path.parent / (server.host_key_path.name + "-cert.pub")
    return cert, ca.with_suffix(".pub").read_text().strip()


def test_a_host_certificate_signed_by_a_trusted_ca_is_accepted_without_a_pin(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    first = sshd_factory(["127.0.0.83"])
    cert, ca_line = certify(first, tmp_path)
    first.stop()
    server = sshd_factory(
        ["127.0.0.83"],
        port=first.port,
        host_key_path=first.host_key_path,
        options={"HostCertificate": str(cert)},
    )
    settings = settings_in(tmp_path, host_keys="strict")
    settings.known_hosts.parent.mkdir(parents=True)
    text = f"@cert-authority [127.0.0.8*]:{server.port} {ca_line}\n"
    settings.known_hosts.write_text(text)
    assert run(client_for(ssh_user, server), settings) == b"echo:hello"
    assert settings.known_hosts.read_text() == text


def test_a_host_with_a_plain_key_where_only_a_ca_is_trusted_is_a_host_key_outcome(
    ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    server = sshd_factory(["127.0.0.84"])
    _, ca_line = certify(server, tmp_path)
    settings = settings_in(tmp_path)
    settings.known_hosts.parent.mkdir(parents=True)
    settings.known_hosts.write_text(f"@cert-authority [127.0.0.8*]:{server.port} {ca_line}\n")
    client = client_for(ssh_user, server)
    error = outcome_of(client, settings)
    assert error.outcome == "host_key_mismatch"
    assert "showed no host certificate signed by the CA" in str(error)
    assert str(settings.known_hosts) in str(error) and "HostCertificate" in str(error)
    now = datetime.now(UTC)
    failed = model.HostResult(client, model.Outcome(error.outcome), now, now, error=str(error))
    evaluation = rules.evaluate(rules.HOST_KEY, None, failed, now)
    assert evaluation.notice is not None and evaluation.new.state == "firing"

    server.stop()  # a host that is down is unreachable, whatever its known_hosts line
    assert outcome_of(client, settings).outcome == "unreachable"


def test_a_known_hosts_file_writable_by_others_is_refused_with_the_fix(
    ssh_user: SshUser, sshd: SshdServer, tmp_path: Path
) -> None:
    settings = settings_in(tmp_path)
    assert run(client_for(ssh_user, sshd), settings) == b"echo:hello"
    settings.known_hosts.chmod(0o666)
    error = outcome_of(client_for(ssh_user, sshd), settings)
    assert error.outcome == model.Outcome.HOST_KEY_MISMATCH
    assert str(error) == (
        f"known_hosts {settings.known_hosts} is writable by group or others (mode -rw-rw-rw-), "
        f"so anyone could pin a host key there: run chmod go-w {settings.known_hosts}"
    )


def test_known_hosts_setting_names_the_own_file_first_then_read_only_ones(
    tmp_path: Path,
) -> None:
    settings_xml = (
        '<settings known-hosts="state/kh, ~/.ssh/known_hosts,/etc/ssh/ssh_known_hosts"/>\n'
    )
    text = clients('<client ip="h" username="u"/>\n', settings_xml)
    settings = load(tmp_path, text).settings
    assert settings.known_hosts == tmp_path / "state" / "kh"
    assert settings.known_hosts_read_only == (
        Path("~/.ssh/known_hosts").expanduser(),
        Path("/etc/ssh/ssh_known_hosts"),
    )
    environ = {"FLEETSTAT_KNOWN_HOSTS": "/var/lib/fleetstat/kh"}
    from_env = load(tmp_path, text, environ).settings
    assert (from_env.known_hosts, from_env.known_hosts_read_only) == (
        Path("/var/lib/fleetstat/kh"),
        (),
    )


def test_known_hosts_name_brackets_other_ports() -> None:
    assert hostkeys.known_hosts_name(model.Client(ip="10.0.0.5", username="u")) == "10.0.0.5"
    client = model.Client(ip="10.0.0.5", port=2222, username="u")
    assert hostkeys.known_hosts_name(client) == "[10.0.0.5]:2222"


def test_a_line_that_is_not_an_entry_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"# pins\n10.0.0.5 {OTHER_KEY}\n@trusted 10.0.0.6 {OTHER_KEY}\n")
    with pytest.raises(ValueError, match=rf"^known_hosts {path}:3 is not a valid key line"):
        hostkeys.open_files([path])


@pytest.mark.slow
def test_each_first_contact_is_reported_in_the_summary_the_log_and_json(
    *,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    ssh_user: SshUser,
    sshd_factory: SshdFactory,
    smtp_server: Any,
) -> None:
    server = sshd_factory(["127.0.0.84", "127.0.0.85"])
    config = write_config(tmp_path, ssh_user, server, smtp_server.port)
    fingerprint = asyncssh.import_public_key(server.host_public_key).get_fingerprint()
    with caplog.at_level(logging.WARNING, logger="fleetstat.collect.job"):
        assert main(["run", "--config", str(config)]) == 0
    assert "learned the host key of 2 hosts" in capsys.readouterr().out
    (line,) = [r.getMessage() for r in caplog.records if r.name == "fleetstat.collect.job"]
    assert line.startswith("learned the host key of 2 hosts: 127.0.0.84:")
    assert line.count(f"ssh-ed25519 {fingerprint}") == 2

    assert main(["run", "--config", str(config), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["learned_host_keys"] == {}
    assert [h["learned_host_key"] for h in again["hosts"]] == [None, None]

    (tmp_path / "known_hosts").unlink()
    assert main(["run", "--config", str(config), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    expected = f"ssh-ed25519 {fingerprint}"
    assert first["learned_host_keys"] == {
        f"127.0.0.84:{server.port}": expected,
        f"127.0.0.85:{server.port}": expected,
    }
    assert [h["learned_host_key"] for h in first["hosts"]] == [expected, expected]
