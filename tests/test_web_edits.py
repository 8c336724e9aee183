"""Edits of the config from the clients page: two real ``serve`` processes on one file lose
nothing, a stale page's edit is refused, and a writer killed midway leaves no secret."""

from __future__ import annotations

import concurrent.futures
import html
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetstat import config
from fleetstat.store import Store
from fleetstat.web import clientedit
from tests.support.sshd import free_port
from tests.support.web import PASSWORD

FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))
START = '<clients>\n  <client ip="10.0.0.1" username="a" password="first secret"/>\n</clients>\n'


def write_config(folder: Path) -> Path:
    path = folder / "clients.xml"
    path.write_text(START)
    path.chmod(0o600)
    return path


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """Two ``fleetstat serve`` processes on one config; their base URLs."""
    path = write_config(tmp_path)
    env = {**os.environ, "FLEETSTAT_WEB_PASSWORD": PASSWORD}
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    Store.open(db).close()  # the logins live in the database
    urls, processes = [], []
    for _ in range(2):
        port = free_port(["127.0.0.1"])
        argv = [FLEETSTAT, "serve", "-c", str(path), "--db", db, "--listen", f"127.0.0.1:{port}"]
        processes.append(subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_listening(url)
        yield path, urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def wait_listening(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/login", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never listened")


def logged_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    csrf = form_value(client.get("/login").text, "csrf")
    response = client.post("/login", data={"password": PASSWORD, "csrf": csrf, "next": "/"})
    assert response.status_code == 303
    return client


def form_value(page: str, name: str) -> str:
    return page.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]


def add(client: httpx.Client, n: int, *, page: str | None = None) -> httpx.Response:
    """Post the add form for client ``n`` from ``page`` (a fresh one when None)."""
    page = page or client.get("/clients").text
    fields = {"ip": f"10.0.1.{n}", "username": "u", "port": "22", "auth": "agent",
              "csrf": form_value(page, "csrf"), "digest": form_value(page, "digest")}  # fmt: skip
    return client.post("/clients", data=fields)


def listed(path: Path) -> set[str]:
    return {c.ip for c in config.load(path, {}).clients} - {"10.0.0.1"}


def test_adds_through_two_processes_at_once_are_each_saved_or_refused_never_lost(
    two_servers: tuple[Path, list[str]],
) -> None:
    path, urls = two_servers
    sessions = [logged_in(url) for url in urls]
    pages = [session.get("/clients").text for session in sessions]  # both read the same file

    def stale(n: int) -> httpx.Response:
        return add(sessions[n % 2], n, page=pages[n % 2])

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = dict(zip(range(1, 21), pool.map(stale, range(1, 21)), strict=True))
    saved = {f"10.0.1.{n}" for n, answer in answers.items() if answer.status_code == 303}
    refused = [answer for answer in answers.values() if answer.status_code == 409]
    assert len(saved) == 1 and len(refused) == 19  # one read of the file, one edit from it
    assert all(clientedit.CHANGED in html.unescape(a.text) for a in refused)
    assert listed(path) == saved

    def fresh(n: int) -> httpx.Response:
        for _ in range(40):  # a page read anew after each conflict, as a person would
            answer = add(sessions[n % 2], n)
            if answer.status_code != 409:
                return answer
        raise AssertionError(f"client {n} never got through")

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = dict(zip(range(21, 41), pool.map(fresh, range(21, 41)), strict=True))
    assert {a.status_code for a in answers.values()} == {303}
    assert listed(path) == saved | {f"10.0.1.{n}" for n in range(21, 41)}
    assert "first secret" in path.read_text()  # every other byte kept
    assert sorted(p.name for p in path.parent.glob(".clients.xml.*")) == [".clients.xml.lock"]


KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from fleetstat.store import Store
from fleetstat.web import clientedit

def stuck(fd):
    print("writing", flush=True)
    time.sleep(60)

os.fsync = stuck
new = clientedit.NewClient({"ip": "10.0.0.9", "username": "k", "password": "new secret"})
clientedit.add(Path(sys.argv[1]), new, {})
"""


def test_a_writer_killed_midway_leaves_the_config_whole_and_its_temp_file_is_removed_next(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    other = tmp_path / ".other.xml.abc.tmp"  # another config's: not ours to remove
    other.write_text("x")
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    [left] = path.parent.glob(".clients.xml.*.tmp")
    assert stat.S_IMODE(left.stat().st_mode) == 0o600 and "new secret" in left.read_text()
    assert path.read_text() == START  # the config itself stayed whole

    clientedit.add(path, clientedit.NewClient({"ip": "10.0.0.8", "username": "b"}, "agent"), {})
    assert list(path.parent.glob(".clients.xml.*.tmp")) == []
    assert other.exists()
    assert listed(path) == {"10.0.0.8"}


def test_serve_removes_what_a_killed_edit_left_when_it_starts(tmp_path: Path) -> None:
    from fleetstat.web import WebSettings, serving

    path = write_config(tmp_path)
    left = tmp_path / ".clients.xml.k1ll3d.tmp"
    left.write_text("a half-written config with passwords")
    port = free_port(["127.0.0.1"])
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    settings = WebSettings(db=db, password=PASSWORD, config=path, host="127.0.0.1", port=port)
    with serving(settings):
        assert not left.exists()


def test_the_form_takes_a_key_file_only_from_keys_dir(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "id_web1").write_text("a private key")
    (keys / "escape").symlink_to("/etc/shadow")
    outside = tmp_path / "id_elsewhere"
    outside.write_text("a key outside keys-dir")

    def with_key(keyfile: str) -> clientedit.NewClient:
        values = {"ip": "10.0.0.7", "username": "k", "keyfile": keyfile}
        return clientedit.NewClient(values, auth="keyfile")

    for sneaky in ("../../../../etc/shadow", "escape", str(outside), "../id_elsewhere"):
        with pytest.raises(clientedit.FormError) as caught:
            clientedit.add(path, with_key(sneaky), {})
        assert list(caught.value.fields) == ["keyfile"]
        assert f"must be in {keys}" in caught.value.fields["keyfile"]
    assert path.read_text() == START

    loaded = clientedit.add(path, with_key("id_web1"), {})
    assert loaded.clients[-1].keyfile == keys / "id_web1"
    assert f'keyfile="{keys / "id_web1"}"' in path.read_text()
