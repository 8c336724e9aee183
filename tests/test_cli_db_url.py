"""Database URLs: mistakes found before connecting, and a fix line for the usual failures.

The run-time failures come from the real servers: the shared PostgreSQL and MariaDB, and
a private PostgreSQL with password logins (the shared one trusts every login).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from fleetstat import config
from fleetstat.cli import main
from fleetstat.core import dburl
from tests.support import databases
from tests.support.sshd import SshUser, free_port


@pytest.fixture(autouse=True)
def _no_fleetstat_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FLEETSTAT_") and name != "FLEETSTAT_REQUIRE_FIXTURES":
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("url", "meant"),
    [
        ("postgress://fleet@db1/fleet", "postgresql+psycopg://fleet@db1/fleet"),
        ("postgres://fleet@db1/fleet", "postgresql+psycopg://fleet@db1/fleet"),
        ("postgresql+psycopg2://fleet@db1/fleet", "postgresql+psycopg://fleet@db1/fleet"),
        ("mysql://fleet@db1/fleet", "mysql+pymysql://fleet@db1/fleet"),
        ("sqlit:///fleetstat.db", "sqlite:///fleetstat.db"),
    ],
)
def test_a_wrong_kind_or_missing_driver_gets_did_you_mean_without_connecting(
    url, meant, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["hosts", "--db", url]) == 2
    err = capsys.readouterr().err
    assert f"did you mean {meant.split('//')[0]}//? that is {meant}" in err
    assert list(tmp_path.iterdir()) == []


def test_a_database_url_that_is_no_url_says_how_one_looks(capsys):
    assert main(["db", "upgrade", "--db", "fleetstat.db"]) == 2
    assert "sqlite:///fleetstat.db, postgresql+psycopg://" in capsys.readouterr().err


def test_check_config_finds_a_mistyped_database_url_in_the_xml(tmp_path, capsys):
    path = tmp_path / "clients.xml"
    (tmp_path / "key").write_text("a key file\n")
    path.write_text(
        '<clients><settings db="postgress://fleet@db1/fleet" />'
        '<client ip="10.0.0.1" username="u" keyfile="key" mail="a@b.org" /></clients>'
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: unknown kind of database 'postgress'" in err
    assert "did you mean postgresql+psycopg://?" in err


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_database_that_does_not_exist_says_how_to_create_it(backend, capsys):
    databases.require(backend)
    missing = f"fleetstat_missing_{secrets.token_hex(4)}"
    url = make_url(databases.ADMIN_URLS[backend]).set(database=missing)
    assert main(["hosts", "--db", url.render_as_string(hide_password=False)]) == 3
    err = capsys.readouterr().err
    assert "fix: create it:" in err
    assert ("createdb" if backend == "postgresql" else "CREATE DATABASE") in err
    assert missing in err


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_server_that_is_down_says_to_check_host_and_port(backend, capsys):
    port = free_port(["127.0.0.1"])
    url = make_url(databases.ADMIN_URLS[backend]).set(host="127.0.0.1", port=port)
    assert main(["hosts", "--db", url.render_as_string(hide_password=False)]) == 3
    err = capsys.readouterr().err
    assert "fix: is the database server running and reachable?" in err


def test_a_wrong_mariadb_password_says_to_check_user_and_password(capsys):
    databases.require("mariadb")
    url = make_url(databases.ADMIN_URLS["mariadb"]).set(password="not-the-password")
    assert main(["hosts", "--db", url.render_as_string(hide_password=False)]) == 3
    err = capsys.readouterr().err
    assert "not-the-password" not in err
    assert "fix: check the user and password in the URL" in err


@contextlib.contextmanager
def password_postgresql(user: SshUser) -> Iterator[tuple[int, str]]:
    """A private PostgreSQL of ``user`` with scram logins for ``fleet``; (port, password)."""
    bin_dir = next(Path("/usr/lib/postgresql").glob("*/bin"), None)
    if bin_dir is None or shutil.which("runuser") is None:
        pytest.skip("needs the PostgreSQL server binaries and runuser")
    data = user.home / f"pg-{secrets.token_hex(3)}"
    secret = secrets.token_urlsafe(12)
    pwfile = user.home / f"pw-{secrets.token_hex(3)}"
    pwfile.write_text(secret)
    os.chown(pwfile, user.uid, -1)
    port = free_port(["127.0.0.1"])
    as_user = ["runuser", "-u", user.name, "--"]
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "fleet", "-A", "scram-sha-256"]
    subprocess.run(
        [*as_user, *initdb, f"--pwfile={pwfile}"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l"]
    subprocess.run([*as_user, *start, str(data / "log"), "start"], check=True, capture_output=True)
    try:
        yield port, secret
    finally:
        stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run([*as_user, *stop], check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
        pwfile.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_wrong_postgresql_password_says_to_check_user_and_password(ssh_user, capsys):
    with password_postgresql(ssh_user) as (port, secret):
        right = f"postgresql+psycopg://fleet:{secret}@127.0.0.1:{port}/postgres"
        assert main(["db", "upgrade", "--db", right]) == 0
        capsys.readouterr()
        wrong = f"postgresql+psycopg://fleet:wrong-{secret}@127.0.0.1:{port}/postgres"
        assert main(["hosts", "--db", wrong]) == 3
    err = capsys.readouterr().err
    assert 'password authentication failed for user "fleet"' in err
    assert "fix: check the user and password in the URL" in err
    assert secret not in err


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///fleetstat.db",
        "sqlite:////var/lib/fleetstat/fleetstat.db",
        "sqlite://",
        "sqlite:///file:fleet.db?mode=ro&uri=true",
        "postgresql+psycopg://fleet:s%40cret@db1:5432/fleet?sslmode=require",
        "postgresql+psycopg://fleet@/fleet?host=/run/postgresql",
        "mysql+pymysql://fleet:pw@[::1]:3306/fleet",
        "mariadb+pymysql://fleet@db1/fleet?charset=utf8mb4",
    ],
)
def test_urls_are_read_and_shown_as_sqlalchemy_reads_them(url):
    ours, theirs = dburl.parse(url), make_url(url)
    assert (ours.drivername, ours.backend) == (theirs.drivername, theirs.get_backend_name())
    assert ours.database == theirs.database
    assert make_url(ours.shown()) == make_url(theirs.render_as_string(hide_password=True))
    assert "***" in ours.shown() if theirs.password else ours.shown() == url
    assert str(ours) == url


def test_a_relative_sqlite_path_is_made_absolute_and_nothing_else_changes(tmp_path):
    assert config.sqlite_relative_to("sqlite:///x.db", tmp_path) == f"sqlite:///{tmp_path}/x.db"
    assert config.sqlite_relative_to("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    kept = "postgresql+psycopg://fleet:pw@db1/fleet"
    assert config.sqlite_relative_to(kept, tmp_path) == kept


def test_checking_a_config_loads_no_database_library(tmp_path):
    path = tmp_path / "clients.xml"
    path.write_text(
        '<clients><settings db="postgresql+psycopg://fleet:pw@db1/fleet" />'
        '<client ip="10.0.0.1" username="u" password="p" /></clients>'
    )
    code = (
        "import sys\nfrom fleetstat.cli import main\n"
        f"status = main(['check-config', {str(path)!r}])\n"
        "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'psycopg'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0 []"
    assert "fleet:***@db1" in done.stdout
