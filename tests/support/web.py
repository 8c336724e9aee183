"""A fleet on a web page for the tests: real sshd hosts, real passes, a real server, a browser.

Fixtures:

- ``web_fleet`` (session): three loopback ``sshd`` hosts (one with a wrong password, so
  ``auth_failed``), a config with alert rules, and two real passes (``fleetstat run``)
  into a SQLite database; then one more host recorded through the store's write path
  with a hostile host name and event texts, as a lying agent would send them.
- ``web_server`` (session): ``fleetstat serve``'s app under uvicorn on a free port.
- ``browser`` (session): Debian's headless Chromium driven by Playwright (nothing is
  downloaded); ``page`` (function): a fresh context (no cookies) and page.

``login(page, server)`` logs a page in; ``shot(page, tmp_path, name)`` saves a screenshot
and prints its path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetstat import web
from fleetstat.core import model
from fleetstat.store import Store
from tests.support import answers
from tests.support.sshd import SshdFactory, SshdServer, SshUser, free_port

HOSTILE = "<script>alert(1)</script>"
HOSTILE_USER = '<img src=x onerror="alert(2)">'
PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@dataclass(frozen=True)
class WebFleet:
    """The test fleet: its config, database, SSH server and the user's SSH password."""

    folder: Path
    config: Path
    db: str
    server: SshdServer
    ssh_password: str
    names: tuple[str, ...]


def fleet_config(folder: Path, user: SshUser, server: SshdServer) -> Path:
    """A ``<clients>`` config: web1, web2 (memory and disk alerts at 0 %, so both firing), db1
    (bad password)."""
    names = ("web1", "web2", "db1")
    clients = []
    for name, ip in zip(names, server.addresses, strict=True):
        password = "wrong-password" if name == "db1" else user.password
        clients.append(
            f'  <client ip="{ip}" port="{server.port}" username="{user.name}" '
            f'password="{password}" name="{name}" mail="ops@example.org">\n'
            '    <alert type="memory" limit="0%"/>\n'
            '    <alert type="disk" limit="0%"/>\n'
            "  </client>"
        )
    text = (
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/fleetstat.db" known-hosts="{folder}/known_hosts"'
        ' cpu-interval="0.1" connect-timeout="5" timeout="20">\n'
        f'    <smtp host="127.0.0.1" port="{free_port(["127.0.0.1"])}" timeout="1"/>\n'
        "  </settings>\n" + "\n".join(clients) + "\n</clients>\n"
    )
    path = folder / "clients.xml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def record_hostile_host(db: str) -> None:
    """Store a host whose agent says its name is a script tag, with hostile event texts."""
    now = datetime.now(UTC)
    client = model.Client(ip="127.0.0.99", username="x", port=22, name="evil")
    event = answers.event(1, now - timedelta(minutes=5))
    event = model.Event(**{**event.__dict__, "user": HOSTILE_USER, "message": f"login {HOSTILE}"})
    answer = answers.answer(now, evts=(event,), host=answers.host_info(HOSTILE))
    store = Store.open(db)
    try:
        run_id = store.start_run(now)
        store.record(run_id, answers.ok_result(now, answer, who=client), now)
        store.finish_run(run_id, now, 1, 1)
    finally:
        store.close()


def add_silences(db: str, tag: str) -> tuple[int, int]:
    """A silence of web1's every rule in force for an hour and one of db* that ended a
    minute ago, their reasons marked with ``tag``; their ids."""
    from fleetstat.store import silences

    now = datetime.now(UTC)
    store = Store.open(db, create=False)
    try:
        with store.session() as session:
            quiet = silences.add(session, "web1", None, now, now + timedelta(hours=1),
                                 f"kernel update {tag} <b>now</b>")  # fmt: skip
            over = silences.add(session, "db*", "disk", now - timedelta(hours=2),
                                now - timedelta(minutes=1), f"disk swap {tag}")  # fmt: skip
        return quiet.id, over.id
    finally:
        store.close()


@pytest.fixture(scope="session")
def web_fleet(tmp_path_factory: pytest.TempPathFactory, ssh_user: SshUser) -> Iterator[WebFleet]:
    """Three real hosts, two real passes, and a hostile host, in one SQLite database."""
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("/usr/sbin/sshd is not installed")
    folder = tmp_path_factory.mktemp("web-fleet")
    factory = SshdFactory(folder / "sshd")
    try:
        server = factory(["127.0.0.41", "127.0.0.42", "127.0.0.43"])
        config = fleet_config(folder, ssh_user, server)
        for _ in range(2):  # the real command, in its own process (signals, event loop)
            done = subprocess.run(
                [sys.executable, "-m", "fleetstat.cli", "run", "--config", str(config), "--json"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 1, done.stdout + done.stderr  # db1 fails
        db = f"sqlite:///{folder}/fleetstat.db"
        record_hostile_host(db)
        yield WebFleet(folder, config, db, server, ssh_user.password, ("web1", "web2", "db1"))
    finally:
        factory.close()


@pytest.fixture(scope="session")
def web_server(web_fleet: WebFleet) -> Iterator[str]:
    """The base URL of ``fleetstat serve`` over the test fleet (a free port of 127.0.0.1)."""
    port = free_port(["127.0.0.1"])
    settings = web.WebSettings(
        db=web_fleet.db, password=PASSWORD, config=web_fleet.config, host="127.0.0.1", port=port
    )
    with web.serving(settings):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright; skipped when it is not installed."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies), 1280 x 900."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda err: errors.append(str(err)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    opened.js_errors = errors
    yield opened
    context.close()


def clear_of_table_turn(seconds: float) -> None:
    """Wait until the fleet table's tag will not turn with the minute for ``seconds``."""
    from fleetstat.web.pages import TABLE_TTL

    while time.time() % TABLE_TTL > TABLE_TTL - seconds:
        time.sleep(1)


def login(page: Any, server: str, password: str = PASSWORD) -> None:
    """Log ``page`` in through the form."""
    page.goto(f"{server}/login")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def shot(page: Any, folder: Path, name: str) -> Path:
    """Save a full-page screenshot as ``folder/name.png`` and print its path."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


__all__ = [
    "HOSTILE", "HOSTILE_USER", "PASSWORD", "WebFleet", "add_silences", "clear_of_table_turn",
    "login", "shot",
]  # fmt: skip
