"""Groups: defaults that clients inherit and override; ``check-config --show``."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleetstat import config
from fleetstat.cli import main
from fleetstat.core.errors import ConfigError
from tests.support.sshd import SshUser

GROUPED = """\
<clients>
  <group name="web" username="stats" password-env="FLEETSTAT_CLIENT_WEB_PW" mail="web@example.org"
         port="2222" python="/usr/bin/python3" timeout="2m">
    <alert type="memory" limit="90%"/>
    <alert type="disk" limit="80%" mount="/var"/>
    <alert type="disk" limit="90%"/>
    <client ip="10.0.0.11" name="web1"/>
    <client ip="10.0.0.12" name="web2" username="deploy" port="22" mail="ops@example.org">
      <alert type="disk" limit="95%"/>
      <alert type="cpu" limit="50%"/>
    </client>
  </group>
  <client ip="10.0.0.30" username="root" name="lone"/>
</clients>
"""


def write(folder: Path, text: str, name: str = "clients.xml") -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> config.Config:
    """The config as a pass sees it: ``password-env`` read from ``environ`` (and the group's)."""
    environ = {"FLEETSTAT_CLIENT_WEB_PW": "pw", **(environ or {})}
    return config.with_passwords(config.load(write(folder, text), environ), environ)


def refused(folder: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(folder, text)
    return caught.value


def test_a_client_inherits_its_groups_values(tmp_path: Path) -> None:
    web1 = load(tmp_path, GROUPED).clients[0]
    assert (web1.group, web1.username, web1.password, web1.port) == ("web", "stats", "pw", 2222)
    assert (web1.mail, web1.python, web1.timeout) == (("web@example.org",), "/usr/bin/python3", 120)
    assert [rule.key for rule in web1.alerts] == ["memory", "disk:/var", "disk"]


def test_a_clients_own_values_win_and_its_alert_type_replaces_the_groups(tmp_path: Path) -> None:
    web2 = load(tmp_path, GROUPED).clients[1]
    assert (web2.username, web2.port, web2.mail) == ("deploy", 22, ("ops@example.org",))
    assert web2.password == "pw"
    assert [(rule.key, rule.limit) for rule in web2.alerts] == [
        ("memory", 90),
        ("disk", 95),
        ("cpu", 50),
    ]


def test_a_client_outside_any_group_has_none(tmp_path: Path) -> None:
    lone = load(tmp_path, GROUPED).clients[2]
    assert (lone.group, lone.username, lone.alerts, lone.port) == (None, "root", (), 22)


def test_a_clients_own_password_replaces_the_groups_password_env(tmp_path: Path) -> None:
    text = GROUPED.replace('name="web1"', 'name="web1" password="own"')
    web1 = load(tmp_path, text).clients[0]
    assert (web1.password, web1.password_env) == ("own", None)


def test_a_group_password_env_is_read_only_when_a_pass_connects(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, GROUPED), {})
    assert [client.password_env for client in loaded.clients] == [
        "FLEETSTAT_CLIENT_WEB_PW",
        "FLEETSTAT_CLIENT_WEB_PW",
        None,
    ]
    errors = [client.secret_error for client in config.with_passwords(loaded, {}).clients]
    assert [
        "password-env names FLEETSTAT_CLIENT_WEB_PW, which is not set" in (e or "") for e in errors
    ] == [
        True,
        True,
        False,
    ]


def test_a_group_key_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "id_web").write_text("key")
    text = GROUPED.replace('password-env="FLEETSTAT_CLIENT_WEB_PW"', 'keyfile="id_web"')
    assert load(tmp_path, text).clients[0].keyfile == tmp_path / "id_web"


def test_groups_do_not_nest(tmp_path: Path) -> None:
    text = GROUPED.replace(
        '<client ip="10.0.0.11"', '<group name="inner"/>\n<client ip="10.0.0.11"'
    )
    err = refused(tmp_path, text)
    assert (err.line, "groups do not nest" in err.problem) == (7, True)
    assert "straight inside <clients>" in err.fix


def test_two_groups_of_one_name_are_refused(tmp_path: Path) -> None:
    text = GROUPED.replace(
        "</clients>", '<group name="web"><client ip="h" username="u"/></group>\n</clients>'
    )
    err = refused(tmp_path, text)
    assert "a second group named 'web' (the first is on line 2)" in err.problem


def test_a_bad_group_value_is_reported_once_at_the_group(tmp_path: Path) -> None:
    err = refused(tmp_path, GROUPED.replace('port="2222"', 'port="lots"'))
    assert [(each.line, each.problem.split(":")[0]) for each in err.each()] == [
        (3, "port='lots' on <group>")
    ]


def test_a_group_without_a_username_names_the_group_in_the_fix(tmp_path: Path) -> None:
    err = refused(tmp_path, GROUPED.replace('username="stats" ', ""))
    assert err.line == 7 and 'or to its <group name="web">' in err.fix


def test_a_group_needs_a_name_and_takes_no_password(tmp_path: Path) -> None:
    text = GROUPED.replace('name="web" ', "").replace(
        'password-env="FLEETSTAT_CLIENT_WEB_PW"', 'password="x"'
    )
    problems = [each.problem for each in refused(tmp_path, text).each()]
    assert "<group> has no name" in problems
    assert "<group> has no attribute 'password'" in problems


# ---------------------------------------------------------------- 32 hosts in 4 groups


def fleet(grouped: bool) -> str:
    """32 clients in 4 groups of 8, as XML with groups or with every value on each client."""
    common = 'username="stats" password-env="FLEETSTAT_CLIENT_WEB_PW" port="2222" timeout="2m"'
    alerts = ['<alert type="memory" limit="90%"/>', '<alert type="disk" limit="80%"/>']
    lines = ["<clients>"]
    for g, team in enumerate(("web", "db", "cache", "batch")):
        mail = f'mail="{team}@example.org"'
        if grouped:
            lines.append(f'  <group name="{team}" {common} {mail}>')
            lines += [f"    {alert}" for alert in alerts]
        for n in range(8):
            name = f'ip="10.0.{g}.{n + 1}" name="{team}{n + 1:02}"'
            if grouped:
                lines.append(f"    <client {name}/>")
            else:
                lines.append(f"  <client {name} {common} {mail}>")
                lines += [f"    {alert}" for alert in alerts] + ["  </client>"]
        lines += ["  </group>"] if grouped else []
    return "\n".join([*lines, "</clients>"]) + "\n"


def test_groups_say_the_same_as_every_value_on_every_client(tmp_path: Path) -> None:
    flat = load(tmp_path, fleet(grouped=False)).clients
    grouped = load(tmp_path, fleet(grouped=True)).clients
    without = [replace(client, group=None, line=0, alerts=()) for client in grouped]
    assert without == [replace(client, line=0, alerts=()) for client in flat]
    assert [[(r.key, r.limit) for r in c.alerts] for c in grouped] == [
        [(r.key, r.limit) for r in c.alerts] for c in flat
    ]
    assert {client.group for client in grouped} == {"web", "db", "cache", "batch"}
    assert (fleet(False).count("\n"), fleet(True).count("\n")) == (130, 50)


# ---------------------------------------------------------------- check-config --show


def test_show_says_what_a_client_ends_up_with_and_where_each_value_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETSTAT_CLIENT_WEB_PW", "Sup3rS3cret")
    path = write(tmp_path, GROUPED)
    assert main(["check-config", str(path), "--show", "web2"]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0] == f"web2 (10.0.0.12:22) in group web, {path}:8"
    assert "port 22 client, line 8" in lines
    assert "username deploy client, line 8" in lines
    assert (
        "password from the environment group web, line 2 (password-env FLEETSTAT_CLIENT_WEB_PW)"
        in lines
    )
    assert "timeout 2m group web, line 3" in lines
    assert "python /usr/bin/python3 group web, line 3" in lines
    assert "memory > 90% (repeat 1h) group web, line 4" in lines
    assert "disk > 95% (repeat 1h) client, line 9" in lines
    assert not any(line.startswith("disk /var") for line in lines)
    assert "Sup3rS3cret" not in out


def test_show_of_an_ungrouped_client_gives_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETSTAT_CLIENT_WEB_PW", "x")
    assert main(["check-config", str(write(tmp_path, GROUPED)), "--show", "10.0.0.30"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[0].endswith("(no group), " + str(tmp_path / "clients.xml") + ":13")
    assert {"port 22 default", "timeout 1m settings timeout", "alerts none"} <= set(lines)


def test_show_of_an_unknown_client_says_which_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETSTAT_CLIENT_WEB_PW", "x")
    assert main(["check-config", str(write(tmp_path, GROUPED)), "--show", "web3"]) == 2
    err = capsys.readouterr().err
    assert (
        "no client 'web3'" in err
        and "did you mean 'web" in err
        and "clients: web1, web2, lone" in err
    )


def test_check_config_prints_every_problem_and_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '<client ip="10.0.0.1" username="u" port="x" timeout="0"/>\n')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if not line.startswith("  fix:")] == [
        f"fleetstat: {path}:1: port='x' on <client>: 'x' is not a port",
        f"fleetstat: {path}:1: timeout='0' on <client>: a time of zero",
        f"fleetstat: 2 problems in {path}",
    ]


def test_the_show_example_in_the_doc_is_what_fleetstat_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "config.md").read_text()
    section = doc.split("## `<group>`", 1)[1]
    example = section.split("```xml\n", 1)[1].split("```", 1)[0]
    shown = section.split("--show CLIENT", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_db").write_text("key")
    write(tmp_path, example)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEB_PASSWORD", "x")
    assert main(["check-config", "clients.xml", "--show", "web3"]) == 0
    assert capsys.readouterr().out == shown


# ---------------------------------------------------------------- the group in a real run


def test_a_run_carries_the_group_into_json_the_database_hosts_and_mail(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ssh_user: SshUser,
    sshd_factory: Any,
    smtp_server: Any,
) -> None:
    server = sshd_factory(["127.0.0.61", "127.0.0.62"])
    text = f"""\
<clients>
  <settings db="sqlite:///{tmp_path}/fleet.db" known-hosts="{tmp_path}/known_hosts"
            cpu-interval="0.1" timeout="20">
    <smtp host="127.0.0.1" port="{smtp_server.port}"/>
  </settings>
  <group name="web" username="{ssh_user.name}" keyfile="{ssh_user.key_path}" port="{server.port}"
         mail="web@example.org">
    <alert type="memory" limit="0%"/>
    <client ip="127.0.0.61" name="web1"/>
  </group>
  <client ip="127.0.0.62" port="{server.port}" username="{ssh_user.name}"
          password="{ssh_user.password}" name="lone"/>
</clients>
"""
    path = write(tmp_path, text)
    assert main(["run", "--config", str(path), "--json"]) == 0
    hosts = {host["name"]: host for host in json.loads(capsys.readouterr().out)["hosts"]}
    assert (hosts["web1"]["group"], hosts["lone"]["group"]) == ("web", None)

    with sqlite3.connect(tmp_path / "fleet.db") as db:
        assert dict(db.execute("SELECT name, group_name FROM hosts")) == {
            "web1": "web",
            "lone": None,
        }
    db_url = f"sqlite:///{tmp_path}/fleet.db"
    assert main(["hosts", "--db", db_url, "--json"]) == 0
    rows = {row["name"]: row["group"] for row in json.loads(capsys.readouterr().out)}
    assert rows == {"web1": "web", "lone": None}
    assert main(["hosts", "--db", db_url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["HOST", "GROUP", "IP"]
    assert {tuple(line.split()[:3]) for line in table[2:]} == {
        ("web1", "web", "127.0.0.61"),
        ("lone", "-", "127.0.0.62"),
    }
    (alert,) = [m for m in smtp_server.messages if "FIRING" in m.subject]
    assert "web1 (127.0.0.61), port" in alert.body and ", group web\n" in alert.body


def test_the_readme_groups_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (example,) = [block for block in readme.split("```xml\n")[1:] if "<group " in block]
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_fleetstat").write_text("key")
    loaded = load(tmp_path, example.split("```")[0], {"DB_PASSWORD": "x"})
    web3 = next(client for client in loaded.clients if client.name == "web3")
    assert (web3.group, web3.port, web3.keyfile) == (
        "web",
        2222,
        tmp_path / ".ssh" / "id_fleetstat",
    )
    assert [(rule.key, rule.limit) for rule in web3.alerts] == [("memory", 90), ("disk:/srv", 95)]
    assert {client.group for client in loaded.clients} == {"web", "db"}


def test_a_group_without_clients_is_warned_about(tmp_path: Path) -> None:
    text = GROUPED.replace("</clients>", '<group name="spare" username="u"/>\n</clients>')
    assert (
        f"{tmp_path / 'clients.xml'}:14: group spare holds no <client>"
        in load(tmp_path, text).warnings
    )
