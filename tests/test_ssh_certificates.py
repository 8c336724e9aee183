"""SSH user certificates against a real sshd that trusts only a CA (no authorized_keys)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetstat.cli import main
from fleetstat.core import model
from fleetstat.ssh import certificates
from tests.support.sshd import SshdFactory, SshdServer, SshUser, client_for
from tests.test_ssh import outcome_of, run, settings_in


def keygen(*args: str) -> None:
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A user CA's private key (its public half beside it, ``.pub``)."""
    path = tmp_path / "user_ca"
    keygen("-t", "ed25519", "-N", "", "-C", "fleetstat test user CA", "-f", str(path))
    return path


@pytest.fixture
def ca_only(ca: Path, sshd_factory: SshdFactory) -> SshdServer:
    """An sshd that lets in only users with a certificate the CA signed."""
    options = {"TrustedUserCAKeys": str(ca) + ".pub", "AuthorizedKeysFile": "none",
               "PasswordAuthentication": "no"}  # fmt: skip
    return sshd_factory(["127.0.0.91"], options=options)


def signed_key(user: SshUser, ca: Path, folder: Path, validity: str) -> Path:
    """A copy of the user's key with a certificate for it beside it (``KEY-cert.pub``)."""
    key = folder / "id_ed25519"
    shutil.copy(user.key_path, key)
    shutil.copy(user.key_path.with_suffix(".pub"), folder / "id_ed25519.pub")
    key.chmod(0o600)
    keygen("-s", str(ca), "-I", "fleetstat-test", "-n", user.name, "-V", validity,
           str(folder / "id_ed25519.pub"))  # fmt: skip
    assert (folder / "id_ed25519-cert.pub").is_file()
    return key


def test_the_certificate_beside_the_key_logs_in_where_only_the_ca_is_trusted(
    ssh_user: SshUser, ca: Path, ca_only: SshdServer, tmp_path: Path
) -> None:
    key = signed_key(ssh_user, ca, tmp_path, "-5m:+1h")
    client = client_for(ssh_user, ca_only, keyfile=key, password=None)
    assert run(client, settings_in(tmp_path)) == b"echo:hello"
    # the same key without its certificate is refused by that server
    (tmp_path / "id_ed25519-cert.pub").rename(tmp_path / "elsewhere-cert.pub")
    error = outcome_of(client, settings_in(tmp_path))
    assert error.outcome == model.Outcome.AUTH_FAILED
    # … and accepted again when the certificate attribute names where it is
    named = client_for(ssh_user, ca_only, keyfile=key, password=None,
                       certificate=tmp_path / "elsewhere-cert.pub")  # fmt: skip
    assert run(named, settings_in(tmp_path)) == b"echo:hello"


@pytest.mark.parametrize(
    ("validity", "says"),
    [("20200101:20200102", "expired at 2020-01-02"), ("+1d:+2d", "is not valid before")],
    ids=["expired", "not-yet-valid"],
)
def test_a_certificate_out_of_its_validity_is_auth_failed_saying_so(  # noqa: PLR0917
    ssh_user: SshUser, ca: Path, ca_only: SshdServer, tmp_path: Path, validity: str, says: str
) -> None:
    key = signed_key(ssh_user, ca, tmp_path, validity)
    client = client_for(ssh_user, ca_only, keyfile=key, password=None)
    error = outcome_of(client, settings_in(tmp_path))
    assert error.outcome == model.Outcome.AUTH_FAILED
    assert f"user certificate {tmp_path / 'id_ed25519-cert.pub'} {says}" in str(error)
    assert "Accepted" not in ca_only.log_text()  # never offered


def test_an_ssh_agent_identity_with_its_certificate_logs_in(
    ssh_user: SshUser, ca: Path, ca_only: SshdServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    key = signed_key(ssh_user, ca, tmp_path, "-5m:+1h")
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket)}
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True)
        listed = subprocess.run(["ssh-add", "-l"], env=env, check=True, capture_output=True)
        assert b"CERT" in listed.stdout
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        monkeypatch.setenv("HOME", str(tmp_path))  # no default key files of root's
        client = client_for(ssh_user, ca_only, keyfile=None, password=None)
        assert run(client, settings_in(tmp_path)) == b"echo:hello"
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_a_certificate_that_expires_within_a_week_is_warned_at_check_config_and_in_the_pass(
    ssh_user: SshUser, ca: Path, ca_only: SshdServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    key = signed_key(ssh_user, ca, tmp_path, "-5m:+3d")
    config = tmp_path / "clients.xml"
    config.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///{tmp_path}/fleet.db" known-hosts="{tmp_path}/known_hosts"'
        ' cpu-interval="0.1"/>\n'
        f'  <client ip="127.0.0.91" port="{ca_only.port}" username="{ssh_user.name}" '
        f'keyfile="{key}" name="web1"/>\n'
        "</clients>\n"
    )
    config.chmod(0o600)
    assert main(["check-config", str(config)]) == 0
    err = capsys.readouterr().err
    end = datetime.now(UTC) + timedelta(days=3)
    assert f"web1: user certificate {key}-cert.pub expires {end:%Y-%m-%d}" in err
    assert main(["run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1/1 hosts ok" in out
    assert "user certificates to renew: web1: user certificate" in out
    assert certificates.expiring([client_for(ssh_user, ca_only, keyfile=key)])
