"""``fleetstat import ansible``: checked against what ``ansible-inventory --list`` reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from fleetstat import config
from fleetstat.cli import main
from fleetstat.config import importer, inventory
from tests.support.ansible import ansible_list
from tests.support.sshd import SshUser

INI = """\
# the fleet
bastion.example.org ansible_host=127.0.0.9

[web]
web[01:03].example.org
web09 ansible_host=10.0.0.9 ansible_port=2222 ansible_user=deploy

[db]
db1 ansible_host=10.0.1.1 ansible_user=postgres ansible_password=plainpw
db2:2200 ansible_host=10.0.1.2   # its own port
db3 ansible_host=10.0.1.3 ansible_python_interpreter=auto_silent

[backup]
db2
bk1 ansible_host=10.0.2.1

[windows]
win1 ansible_host=10.0.3.1 ansible_connection=winrm

[lab]
lab_box
lab2 ansible_host=10.0.4.2 ansible_password="{{ vault_lab_password }}"
lab3 ansible_host=10.0.1.1

[prod:children]
web
db

[web:vars]
ansible_user=stats
ansible_ssh_private_key_file=KEYS/id_web
ansible_python_interpreter=/usr/bin/python3

[db:vars]
ansible_ssh_private_key_file=/nowhere/id_db

[prod:vars]
ansible_ssh_common_args='-o ProxyJump=bastion.example.org'
ansible_user=produser
ansible_port=22
ansible_become=true

[all:vars]
ansible_connection=ssh
"""

YAML = """\
all:
  vars:
    ansible_user: stats
  hosts:
    jump1:
      ansible_host: 127.0.0.8
  children:
    web:
      vars:
        ansible_python_interpreter: /usr/bin/python3
        ansible_ssh_private_key_file: KEYS/id_web
      hosts:
        www[1:2].example.org:
        api.example.org:2201:
          ansible_user: api
    db:
      children:
        pg:
          vars:
            ansible_port: 5022
          hosts:
            pg1:
              ansible_host: 10.1.0.1
              ansible_password: !vault |
                $ANSIBLE_VAULT;1.1;AES256
                62313365396662343061393464336163383764373764613633653634306231386433626436623361
                6130363763313266620a393339353563663231633631633264653165653233633434353062386431
            pg2:
              ansible_host: 10.1.0.2
              ansible_user: "{{ lookup('env', 'PGUSER') }}"
"""


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "id_web").write_text("key")
    return folder


def write_inventory(folder: Path, name: str, text: str, keys: Path) -> Path:
    path = folder / name
    path.write_text(text.replace("KEYS", str(keys)))
    return path


def imported(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert main(["import", "ansible", str(path)]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def expected(hostvars: dict[str, Any], host: str) -> dict[str, Any]:
    """What a fleetstat client of ``host`` must hold, from ansible-inventory's hostvars."""
    seen = hostvars[host]
    python = seen.get("ansible_python_interpreter")
    return {
        "ip": seen.get("ansible_host", host),
        "port": int(seen.get("ansible_port", 22)),
        "username": seen.get("ansible_user", "root"),
        "python": None if python in (None, "auto_silent") else python,
    }


@pytest.mark.parametrize("kind", ["ini", "yaml"])
def test_the_import_holds_what_ansible_inventory_reads(
    kind: str,
    tmp_path: Path,
    keys: Path,
    capsys: pytest.CaptureFixture[str],
    ansible_inventory: Path,
) -> None:
    text, name = (INI, "hosts.ini") if kind == "ini" else (YAML, "inventory.yml")
    path = write_inventory(tmp_path, name, text, keys)
    listed = ansible_list(ansible_inventory, path, tmp_path / "ansible-home")
    hostvars = listed["_meta"]["hostvars"]

    out, _ = imported(path, capsys)
    (tmp_path / "clients.xml").write_text(out)
    (tmp_path / "clients.xml").chmod(0o600)
    loaded = config.load(tmp_path / "clients.xml", {})
    clients = {client.name: client for client in loaded.clients}

    left_out = {"win1", "lab_box", "lab3"} if kind == "ini" else set()
    assert set(clients) == set(hostvars) - left_out
    for host, client in clients.items():
        got = {"ip": client.ip, "port": client.port, "username": client.username}
        got["python"] = client.python
        want = expected(hostvars, host)
        if "{{" in str(hostvars[host].get("ansible_user", "")):
            want["username"] = "stats"  # the template is left out: the group's user stays
        assert got == want, host
        key = hostvars[host].get("ansible_ssh_private_key_file")
        assert client.keyfile == (Path(key) if key and Path(key).exists() else None), host
        groups = [g for g, body in listed.items() if host in body.get("hosts", [])]
        assert client.group in ([*groups, None] if groups == ["ungrouped"] else groups), host


def test_an_ini_inventory_becomes_groups_with_what_their_hosts_share(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = imported(write_inventory(tmp_path, "hosts.ini", INI, keys), capsys)
    lines = [line.strip() for line in out.splitlines()]
    assert (
        f'<group name="web" port="22" username="stats" keyfile="{keys}/id_web" '
        'python="/usr/bin/python3">'
    ) in lines
    assert '<client ip="web01.example.org"/>' in lines
    assert '<client ip="10.0.0.9" name="web09" port="2222" username="deploy"/>' in lines
    assert '<group name="db" port="22" username="produser">' in lines
    assert '<client ip="10.0.1.2" name="db2" port="2200"/>' in lines
    assert '<client ip="10.0.1.1" name="db1" username="postgres" password="plainpw"/>' in lines
    assert "prod" not in out.replace("produser", "")
    assert "warning: 1 client with a password from the inventory" in err
    assert '<group name="windows"' not in out


COMMENTS = [
    "ansible_become, ansible_ssh_common_args",
    "write it in an OpenSSH config and name that file in <settings ssh-config=",
    "db2: also in the Ansible groups backup; a fleetstat client has one group",
    "group db: ansible_ssh_private_key_file /nowhere/id_db does not exist here: not carried over",
    "win1: connection type 'winrm' is not SSH: not carried over",
    "lab_box: not a host name or address, and no ansible_host: not carried over",
    "lab2: ansible_password is a template: not carried over",
    "lab3: 10.0.1.1:22 is imported already: not carried over",
    "bastion.example.org: no ansible_user; logs in as root, as ansible would",
]


@pytest.mark.parametrize("comment", COMMENTS)
def test_what_cannot_be_carried_over_is_said_in_a_comment(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str], comment: str
) -> None:
    out, _ = imported(write_inventory(tmp_path, "hosts.ini", INI, keys), capsys)
    comments = [line.strip() for line in out.splitlines() if line.strip().startswith("<!--")]
    assert any(comment in line for line in comments), comments


def test_a_vaulted_password_is_a_comment_and_never_written(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = imported(write_inventory(tmp_path, "inventory.yml", YAML, keys), capsys)
    assert "pg1: ansible_password is vaulted (ansible-vault); give the password" in out
    assert "ANSIBLE_VAULT" not in out and "password=" not in out
    assert '<group name="pg" port="5022" username="stats">' in out
    assert '<client ip="api.example.org" port="2201" username="api"/>' in out


def test_output_goes_to_a_private_file_and_passes_check_config(
    tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_inventory(tmp_path, "hosts.ini", INI, keys)
    out = tmp_path / "clients.xml"
    assert main(["import", "ansible", str(path), "--output", str(out)]) == 0
    assert "10 clients in 4 groups from" in capsys.readouterr().err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert main(["check-config", str(out)]) == 0
    assert "10 clients" in capsys.readouterr().out


def test_a_broken_inventory_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb1 ansible_port\n")
    assert main(["import", "ansible", str(path)]) == 2
    assert f"{path}:2: cannot read 'web1 ansible_port'" in capsys.readouterr().err


def test_host_ranges_and_ports_expand_as_ansible_expands_them() -> None:
    assert list(inventory.expand("web[01:03]:2222")) == [
        ("web01", 2222),
        ("web02", 2222),
        ("web03", 2222),
    ]
    assert list(inventory.expand("db-[a:c]")) == [("db-a", None), ("db-b", None), ("db-c", None)]
    assert list(inventory.expand("n[0:10:5]")) == [("n0", None), ("n5", None), ("n10", None)]
    assert list(inventory.expand("fe80::1")) == [("fe80::1", None)]


# ---------------------------------------------------------------- a real run


def test_an_imported_inventory_collects_from_real_hosts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ssh_user: SshUser,
    sshd_factory: Any,
    ansible_inventory: Path,
) -> None:
    server = sshd_factory(["127.0.0.71", "127.0.0.72", "127.0.0.73"])
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[stats]\nhost[71:73] ansible_host=127.0.0.{{ no }}\n".replace(
            "host[71:73] ansible_host=127.0.0.{{ no }}",
            "\n".join(f"host{n} ansible_host=127.0.0.{n}" for n in (71, 72, 73)),
        )
        + f"\n[stats:vars]\nansible_port={server.port}\nansible_user={ssh_user.name}\n"
        f"ansible_ssh_private_key_file={ssh_user.key_path}\n"
    )
    assert ansible_list(ansible_inventory, path, tmp_path / "ansible-home")["stats"]["hosts"]
    out = tmp_path / "clients.xml"
    assert main(["import", "ansible", str(path), "--output", str(out)]) == 0
    text = out.read_text().replace(
        "<clients>",
        f'<clients>\n  <settings known-hosts="{tmp_path}/known_hosts" cpu-interval="0.1"/>',
    )
    out.write_text(text)
    capsys.readouterr()
    assert main(["run", "--config", str(out), "--json"]) == 0
    hosts = json.loads(capsys.readouterr().out)["hosts"]
    assert {(h["name"], h["group"], h["outcome"]) for h in hosts} == {
        (f"host{n}", "stats", "ok") for n in (71, 72, 73)
    }


def test_importer_module_converts_without_the_cli(tmp_path: Path, keys: Path) -> None:
    path = write_inventory(tmp_path, "hosts.ini", INI, keys)
    result = importer.import_ansible(path, base=tmp_path, user="ops")
    assert (result.clients, result.groups, result.passwords) == (10, 4, 1)
    loaded = config.parse(result.text.encode(), tmp_path / "clients.xml", {})
    assert {client.username for client in loaded.clients if client.group is None} >= {"ops"}


def test_an_inventory_with_nothing_to_carry_over_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[windows]\nwin1 ansible_host=10.0.3.1 ansible_connection=winrm\n")
    assert main(["import", "ansible", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: no host of the inventory can be carried over: win1: connection type" in err
