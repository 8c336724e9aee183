"""``fleetstat serve`` over HTTP: login, CSRF, headers, escaping, secrets, the API, /metrics.

The app runs in process (Starlette's test client) over the fleet that real passes filled
(``tests/support/web.py``); the browser tests are in ``test_web_browser.py``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import html
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import hypothesis
import pytest
import schemathesis
import sqlalchemy
from starlette.testclient import TestClient

from fleetstat import web
from fleetstat.cli import main
from fleetstat.store import Store
from fleetstat.web import clientedit
from tests.support.sshd import free_port
from tests.support.web import (
    HOSTILE,
    HOSTILE_USER,
    PASSWORD,
    WebFleet,
    add_silences,
    clear_of_table_turn,
)

AUTH = ("admin", PASSWORD)


@pytest.fixture(scope="module")
def app(web_fleet: WebFleet):
    return web.create_app(web.WebSettings(db=web_fleet.db, password=PASSWORD,
                                          config=web_fleet.config))  # fmt: skip


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def logged_in(client: TestClient) -> TestClient:
    csrf = _csrf(client.get("/login").text)
    response = client.post("/login", data={"password": PASSWORD, "csrf": csrf, "next": "/"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    return client


def _csrf(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


# ---------------------------------------------------------------- starting


def test_serve_refuses_to_start_without_a_password_and_says_how_to_set_one(monkeypatch, capsys):
    monkeypatch.delenv("FLEETSTAT_WEB_PASSWORD", raising=False)
    monkeypatch.delenv("FLEETSTAT_WEB_PASSWORD_FILE", raising=False)
    assert main(["serve", "--db", "sqlite:///nowhere.db"]) == 2
    err = capsys.readouterr().err
    assert "needs an admin password" in err
    assert "FLEETSTAT_WEB_PASSWORD" in err and "FLEETSTAT_WEB_PASSWORD_FILE" in err


def test_the_password_comes_from_a_file_without_its_newline(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret-twelve\n")
    assert web.password_from_env({"FLEETSTAT_WEB_PASSWORD_FILE": str(path)}) == "s3cret-twelve"
    with pytest.raises(web.WebError, match="only one"):
        web.password_from_env({"FLEETSTAT_WEB_PASSWORD": "a", "FLEETSTAT_WEB_PASSWORD_FILE": "b"})


def test_serve_refuses_a_password_shorter_than_twelve_characters(monkeypatch, capsys):
    monkeypatch.delenv("FLEETSTAT_WEB_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("FLEETSTAT_WEB_PASSWORD", "elevenchars")
    assert main(["serve", "--db", "sqlite:///nowhere.db"]) == 2
    err = capsys.readouterr().err
    assert "has 11 characters; it needs at least 12" in err
    assert "openssl rand" in err


def test_a_missing_database_gets_a_page_that_says_how_to_make_one(tmp_path):
    """The logins live in the database, so without one even the login says how to make it."""
    db = "postgresql+psycopg://fleetstat:db-secret-pw@127.0.0.1:1/nothing"
    for url in (f"sqlite:///{tmp_path}/none.db", db):
        app = web.create_app(web.WebSettings(db=url, password=PASSWORD, config=None))
        with TestClient(app) as client:
            csrf = _csrf(client.get("/login").text)
            page = client.post("/login", data={"password": PASSWORD, "csrf": csrf})
            api = client.get("/api/hosts", auth=AUTH)
        assert page.status_code == api.status_code == 503
        assert "db-secret-pw" not in page.text + api.text
    assert "no fleetstat database at" in page.text or "cannot be read" in page.text
    assert not (tmp_path / "none.db").exists()


# ---------------------------------------------------------------- login and sessions


def test_pages_send_an_anonymous_visitor_to_the_login(client):
    response = client.get("/hosts/1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/hosts/1"


def test_the_session_cookie_is_random_httponly_and_samesite_strict(client):
    csrf = _csrf(client.get("/login").text)
    anonymous = client.cookies["fleetstat_session"]
    response = client.post("/login", data={"password": PASSWORD, "csrf": csrf},
                           follow_redirects=False)  # fmt: skip
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("fleetstat_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/", follow_redirects=False).status_code == 200
    value = client.cookies["fleetstat_session"]
    assert value != anonymous  # a login never keeps the token the browser had before
    tampered = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    other = TestClient(client.app, base_url="http://127.0.0.1",
                       cookies={"fleetstat_session": tampered})  # fmt: skip
    assert other.get("/", follow_redirects=False).status_code == 303
    same = TestClient(client.app, base_url="http://127.0.0.1",
                      cookies={"fleetstat_session": value})  # fmt: skip
    assert same.get("/", follow_redirects=False).status_code == 200


def test_the_database_holds_a_digest_of_the_session_never_the_cookie(client, web_fleet):
    logged_in(client)
    value = client.cookies["fleetstat_session"]
    store = Store.open(web_fleet.db)
    try:
        with store.session() as session:
            ids = session.execute(sqlalchemy.text("SELECT id FROM web_sessions")).scalars().all()
    finally:
        store.close()
    assert hashlib.sha256(value.encode()).hexdigest() in ids
    assert value not in ids


def test_a_cookie_copied_before_logout_is_worth_nothing_after_it(client):
    logged_in(client)
    copied = client.cookies["fleetstat_session"]
    page = client.get("/")
    assert client.post("/logout", data={"csrf": _csrf(page.text)}).status_code == 200
    thief = TestClient(client.app, base_url="http://127.0.0.1",
                       cookies={"fleetstat_session": copied})  # fmt: skip
    assert thief.get("/", follow_redirects=False).status_code == 303
    assert thief.get("/api/hosts").status_code == 401


def test_a_password_change_ends_every_session(web_fleet):
    before = web.create_app(web.WebSettings(db=web_fleet.db, password=PASSWORD, config=None))
    with TestClient(before, base_url="http://127.0.0.1") as client:
        logged_in(client)
        cookie = client.cookies["fleetstat_session"]
    changed = web.create_app(
        web.WebSettings(db=web_fleet.db, password=PASSWORD + " and more", config=None)
    )
    with TestClient(changed, base_url="http://127.0.0.1",
                    cookies={"fleetstat_session": cookie}) as client:  # fmt: skip
        assert client.get("/api/hosts").status_code == 401
    with TestClient(before, base_url="http://127.0.0.1",
                    cookies={"fleetstat_session": cookie}) as client:  # fmt: skip
        # ended for good: going back to the old password does not revive it
        assert client.get("/api/hosts").status_code == 401


def test_a_session_idle_longer_than_the_setting_ends(web_fleet):
    app = web.create_app(
        web.WebSettings(db=web_fleet.db, password=PASSWORD, config=None, session_idle=1.0)
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        logged_in(client)
        assert client.get("/api/hosts").status_code == 200
        time.sleep(1.2)
        assert client.get("/api/hosts").status_code == 401
        assert client.get("/", follow_redirects=False).status_code == 303


def test_a_form_posted_without_its_csrf_token_changes_nothing(client, web_fleet):
    before = web_fleet.config.read_bytes()
    logged_in(client)
    fields = {"ip": "127.0.0.88", "username": "x", "port": "22", "auth": "agent"}
    assert client.post("/clients", data=fields).status_code == 403
    assert client.post("/clients", data={**fields, "csrf": "forged"}).status_code == 403
    address = f"127.0.0.41:{web_fleet.server.port}"
    assert client.post("/clients/remove", data={"address": address}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert web_fleet.config.read_bytes() == before
    anonymous = TestClient(client.app)
    assert anonymous.post("/login", data={"password": PASSWORD}).status_code == 400


@pytest.mark.parametrize(
    ("variable", "refusal"),
    [
        ("FLEETSTAT_SMTP_PASSWORD", "a variable fleetstat reads itself"),
        ("HOME", "does not start with FLEETSTAT_CLIENT_"),
        ("FLEETSTAT_CLIENT_NOT_SET_HERE", "which is not set (or empty)"),
    ],
)
def test_the_form_hands_no_client_a_variable_it_may_not_read(
    client, web_fleet, monkeypatch, variable, refusal
):
    monkeypatch.setenv("FLEETSTAT_SMTP_PASSWORD", "the collector's own secret")
    before = web_fleet.config.read_bytes()
    page = logged_in(client).get("/clients").text
    digest = page.split('name="digest" value="', 1)[1].split('"', 1)[0]
    fields = {"ip": "127.0.0.88", "username": "x", "port": "22", "auth": "password_env",
              "password_env": variable, "csrf": _csrf(page), "digest": digest}  # fmt: skip
    response = client.post("/clients", data=fields)
    assert response.status_code == 422
    assert refusal in html.unescape(response.text)
    assert web_fleet.config.read_bytes() == before


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_host_path_no_host_can_have_is_not_found_on_every_database(tmp_path, backend):
    from tests.support.databases import server_database

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            db = f"sqlite:///{tmp_path / 'fleet.db'}"
        else:
            db = stack.enter_context(server_database("postgresql"))
        Store.open(db).close()
        app = web.create_app(web.WebSettings(db=db, password=PASSWORD, config=None))
        client = stack.enter_context(TestClient(app, base_url="http://127.0.0.1"))
        logged_in(client)
        for path in ("/hosts/%00", "/hosts/web%001", "/hosts/" + "x" * 300, "/hosts/nope"):
            assert client.get(path).status_code == 404, path
            assert client.get("/api" + path, auth=AUTH).status_code in (404, 422), path


def test_api_and_metrics_take_basic_auth_and_refuse_a_wrong_password(client):
    assert client.get("/api/hosts").status_code == 401
    assert client.get("/metrics").headers["www-authenticate"].startswith("Basic")
    wrong = client.get("/api/hosts", auth=("admin", "wrong"))
    assert wrong.status_code == 401
    assert client.get("/api/hosts", auth=AUTH).status_code == 200
    assert client.get("/metrics", auth=AUTH).status_code == 200


# ---------------------------------------------------------------- what is rendered


def test_every_response_forbids_inline_scripts(client):
    for path in ("/login", "/api/openapi.json"):
        policy = client.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page = logged_in(client).get("/").text
    assert "<script>" not in page.replace('<script src="/static/app.js" defer></script>', "")


def test_client_values_are_escaped_on_every_page(client, web_fleet):
    logged_in(client)
    pages = [client.get(p).text for p in ("/", "/hosts/evil", "/events", "/alerts")]
    joined = "\n".join(pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in pages[1]
    assert HOSTILE not in joined and HOSTILE_USER not in joined
    hosts = client.get("/api/hosts", auth=AUTH).json()
    assert HOSTILE in [h["hostname"] for h in hosts]  # JSON carries the text as it came


def test_no_secret_is_rendered_or_returned(client, web_fleet):
    logged_in(client)
    bodies = [client.get(p).text for p in ("/", "/clients", "/hosts/web1", "/events", "/alerts")]
    bodies += [client.get(p, auth=AUTH).text for p in ("/api/hosts", "/metrics", "/api/alerts")]
    for body in bodies:
        assert web_fleet.ssh_password not in body
        assert PASSWORD not in body
        assert "wrong-password" not in body


def test_the_alerts_page_shows_silences_in_force_and_ended_and_what_they_cover(client, web_fleet):
    quiet, over = add_silences(web_fleet.db, "tc")
    page = logged_in(client).get("/alerts").text
    in_force, ended = page.split("<h3>In force or to come</h3>", 1)[1].split("<h3>Ended in", 1)
    assert f'<tr id="silence-{quiet}"><td class="num">{quiet}</td><td class="mono">web1</td>' in (
        in_force
    )
    assert "every rule" in in_force and "kernel update tc &lt;b&gt;now&lt;/b&gt;" in in_force
    assert f'id="silence-{over}"' in ended and "disk swap tc" in ended
    assert "disk swap tc" not in in_force and "kernel update tc" not in ended
    firing = page.split('id="active-h"', 1)[1].split('id="silences-h"', 1)[0]
    web1_rows = [row for row in firing.split("<tr>") if ">web1</a>" in row]
    assert len(web1_rows) == 2  # memory and disk fire on web1, both under the silence
    assert all(f"silenced (silence {quiet})" in row for row in web1_rows)
    api = client.get("/api/alerts", auth=AUTH).json()
    assert quiet in [s["id"] for s in api["silences"]] and over not in [
        s["id"] for s in api["silences"]
    ]
    assert {a["host"] for a in api["active"]} >= {"web1", "web2"}


def test_a_lone_sparkline_point_is_a_dot_and_a_line_keeps_its_ends():
    from fleetstat.web.filters import spark

    lone = spark([None] * 23 + [50.0])
    assert lone.line == "" and lone.dots == ((96.0, 11.0),)
    pair = spark([None] * 22 + [50.0, 60.0])
    assert pair.line == "91.8,11.0 96.0,9.0" and len(pair.dots) == 2
    gappy = spark([10.0, None, 30.0, 40.0, None, None, 70.0])
    assert gappy.line.count(",") == 4 and gappy.dots == ((0.0, 19.0), (96.0, 7.0))
    assert not spark([None, None]) and not spark(None)


def test_the_events_csv_holds_the_matches_and_defuses_formulas(client):
    logged_in(client)
    response = client.get("/events.csv?host=evil")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["time", "host", "address"]
    assert len(rows) == 2 and rows[1][1] == "evil" and rows[1][6] == HOSTILE_USER
    assert clientedit_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"


def clientedit_cell(text: str) -> str:
    from fleetstat.web.pages import _cell

    return _cell(text)


# ---------------------------------------------------------------- the API and /metrics


def test_a_30_day_chart_has_at_most_1000_points_a_series(client):
    hosts = {h["name"]: h for h in client.get("/api/hosts", auth=AUTH).json()}
    assert {"web1", "web2", "db1", "evil"} <= set(hosts)
    web1 = hosts["web1"]
    assert web1["last_outcome"] == "ok" and web1["mem_percent"] > 0 and web1["firing"] == 2
    assert hosts["db1"]["last_outcome"] == "auth_failed"
    data = client.get(f"/api/hosts/{web1['host_id']}/samples?range=30d", auth=AUTH).json()
    assert data["step"] == 3600  # by the hour: the rollups, then the newest raw samples
    for line in [*data["series"].values(), *data["disks"].values()]:
        assert 1 <= len(line["times"]) <= 1000
    assert data["series"]["memory"]["values"][-1] > 0
    attempts = client.get(f"/api/hosts/{web1['host_id']}/attempts", auth=AUTH).json()
    assert [a["outcome"] for a in attempts] == ["ok", "ok"]


def test_a_host_key_of_unicode_digits_is_an_unknown_host_not_a_crash(client):
    for key in ("%C2%B2", "%D9%A3"):  # superscript two, Arabic-Indic three
        response = client.get(f"/api/hosts/{key}", auth=AUTH)
        assert response.status_code < 500 and "web1" not in response.text


def test_metrics_give_each_hosts_figures_outcome_and_the_last_pass(client):
    text = client.get("/metrics", auth=AUTH).text
    assert 'fleetstat_memory_percent{host="web1",ip="127.0.0.41"}' in text
    assert 'fleetstat_last_outcome{host="db1",ip="127.0.0.43",outcome="auth_failed"} 1.0' in text
    assert 'fleetstat_up{host="db1",ip="127.0.0.43"} 0.0' in text
    assert 'fleetstat_alerts_firing{host="web1",ip="127.0.0.41"} 2.0' in text
    assert "fleetstat_last_pass_duration_seconds " in text
    assert 'host="\\u003cscript' not in text and "hostname" not in text


BASIC = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


@pytest.mark.slow
def test_the_api_survives_fuzzing_without_a_500_or_a_leaked_secret(app, web_fleet):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @hypothesis.settings(max_examples=60, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
        @hypothesis.given(case=operation.as_strategy())
        def call(case):
            response = case.call(headers={"Authorization": BASIC})
            assert response.status_code < 500, (case.path, case.query, response.text)
            assert web_fleet.ssh_password not in response.text
            assert PASSWORD not in response.text
            case.validate_response(response, headers={"Authorization": BASIC})

        call()


# ---------------------------------------------------------------- clients in the XML


def test_adding_and_removing_a_client_keeps_every_other_byte(tmp_path):
    path = tmp_path / "clients.xml"
    text = ('<?xml version="1.0"?>\n<!-- ours -->\n<clients>\n  <client ip="10.0.0.1" '
            "username='a'   name=\"x\"/>\n\n  <!-- keep me -->\n</clients>\n")  # fmt: skip
    path.write_text(text)
    path.chmod(0o640)
    new = clientedit.NewClient({"ip": "10.0.0.2", "port": "2200", "username": "b",
                                "password": "p&<\"w"}, alerts={"disk": "80%"})  # fmt: skip
    loaded = clientedit.add(path, new, {})
    assert [c.address for c in loaded.clients] == ["10.0.0.1:22", "10.0.0.2:2200"]
    assert loaded.clients[1].password == 'p&<"w'
    assert path.read_text().startswith(text[: text.index("</clients>")])
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    clientedit.remove(path, "10.0.0.2:2200", {})
    assert path.read_text() == text


def test_a_bad_value_gets_check_configs_message_at_its_field(tmp_path, capsys):
    path = tmp_path / "clients.xml"
    path.write_text('<clients>\n  <client ip="10.0.0.1" username="a"/>\n</clients>\n')
    cases = {
        "port": ({"ip": "10.0.0.2", "port": "0", "username": "b"}, {}),
        "username": ({"ip": "10.0.0.2"}, {}),
        "alert_cpu": ({"ip": "10.0.0.2", "username": "b"}, {"cpu": "120%"}),
        "ip": ({"ip": "10.0.0.1", "username": "b"}, {}),
    }
    for field, (values, alerts) in cases.items():
        with pytest.raises(clientedit.FormError) as caught:
            clientedit.add(path, clientedit.NewClient(values, auth="agent", alerts=alerts), {})
        assert list(caught.value.fields) == [field], caught.value.fields
    bad = tmp_path / "bad.xml"
    bad.write_text('<clients>\n  <client ip="10.0.0.2" port="0" username="b"/>\n</clients>\n')
    assert main(["check-config", str(bad)]) == 2
    said = capsys.readouterr().err
    with pytest.raises(clientedit.FormError) as caught:
        clientedit.add(path, clientedit.NewClient(cases["port"][0], auth="agent"), {})
    problem = caught.value.fields["port"].split(" — fix: ")[0]
    assert problem in said
    assert path.read_text().count("<client ") == 1


# ---------------------------------------------------------------- the refresh over HTTP


def _store_pass(db: str, hosts: int) -> None:
    """One pass in which ``hosts`` hosts answered, written through the store."""
    from datetime import UTC, datetime

    from fleetstat.store import Store
    from tests.support import answers

    now = datetime.now(UTC)
    store = Store.open(db)
    try:
        run_id = store.start_run(now)
        for n in range(hosts):
            who = answers.client(f"10.0.1.{n + 1}", name=f"host{n:02d}")
            store.record(run_id, answers.ok_result(now, answers.answer(now), who=who), now)
        store.finish_run(run_id, now, hosts, hosts)
    finally:
        store.close()


def test_the_fleet_refresh_is_gzipped_and_a_304_while_nothing_changed(tmp_path):
    db = f"sqlite:///{tmp_path}/fleet.db"
    _store_pass(db, 12)
    clear_of_table_turn(10)  # the table's tag turns with the minute: not in this test
    port = free_port(["127.0.0.1"])
    settings = web.WebSettings(db=db, password=PASSWORD, config=None, port=port)
    with web.serving(settings), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        csrf = _csrf(http.get("/login").text)
        http.post("/login", data={"password": PASSWORD, "csrf": csrf, "next": "/"})
        gzip = {"Accept-Encoding": "gzip"}
        with http.stream("GET", "/fleet/rows", headers=gzip) as first:
            sent = sum(len(chunk) for chunk in first.iter_raw())
        assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
        plain = http.get("/fleet/rows", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and "host11" in plain.text
        assert sent * 4 < len(plain.content), (sent, len(plain.content))
        tag = first.headers["etag"]
        assert tag.startswith('W/"') and plain.headers["etag"] == tag

        again = http.get("/fleet/rows", headers={**gzip, "If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        strong = http.get("/fleet/rows", headers={"If-None-Match": tag.removeprefix("W/")})
        assert strong.status_code == 304
        other = http.get("/fleet/rows?sort=cpu", headers={"If-None-Match": tag})
        assert other.status_code == 200 and other.headers["etag"] != tag

        _store_pass(db, 13)  # a new pass, and one host more
        changed = http.get("/fleet/rows", headers={"If-None-Match": tag})
        assert changed.status_code == 200 and "host12" in changed.text
        assert changed.headers["etag"] != tag
        assert changed.headers["x-fleet-summary"] == "13 hosts, 0 not ok"


# ---------------------------------------------------------------- watch --serve


def test_watch_serve_collects_and_serves_in_one_process_until_sigterm(web_fleet, tmp_path):
    port = free_port(["127.0.0.1"])
    env = {**os.environ, "FLEETSTAT_WEB_PASSWORD": PASSWORD}
    db = f"sqlite:///{tmp_path}/watch.db"
    watch = subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", "watch", "--config", str(web_fleet.config),
         "--db", db, "--every", "1h", "--serve", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        hosts = _wait_for_hosts(f"http://127.0.0.1:{port}/api/hosts", 3)
        assert {h["name"] for h in hosts} == {"web1", "web2", "db1"}
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert f"web page on http://127.0.0.1:{port}/" in err
    assert "2/3 ok" in out


def _wait_for_hosts(url: str, count: int, timeout: float = 90.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, auth=AUTH, timeout=5)
            if response.status_code == 200 and len(response.json()) >= count:
                return list(response.json())
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never listed {count} hosts")
        time.sleep(0.3)


def test_demo_serve_prints_the_url_and_a_login_that_works(tmp_path):
    port = free_port(["127.0.0.1"])
    demo = subprocess.Popen(
        [sys.executable, "-m", "fleetstat.cli", "demo", "--dir", str(tmp_path / "demo"),
         "--serve", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("web page:"):
                break
        password = line.split("password ", 1)[1].split()[0]
        assert f"http://127.0.0.1:{port}/" in line
        hosts = _wait_for_hosts_with(f"http://127.0.0.1:{port}/api/hosts", password)
        assert {h["ip"] for h in hosts} == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    finally:
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=30)
    assert Path(tmp_path / "demo" / "fleetstat.db").exists()


def _wait_for_hosts_with(url: str, password: str) -> list[dict[str, object]]:
    for _ in range(100):
        try:
            response = httpx.get(url, auth=("admin", password), timeout=5)
            if response.status_code == 200:
                return list(response.json())
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_watch_collects_a_client_added_on_the_page_from_its_next_pass(tmp_path):
    from fleetstat import config as configs
    from fleetstat.cli import watch

    path = tmp_path / "clients.xml"
    path.write_text('<clients>\n  <client ip="10.0.0.1" username="a"/>\n</clients>\n')
    loaded = configs.load(path)
    loaded = dataclasses.replace(
        loaded, settings=dataclasses.replace(loaded.settings, db="sqlite:///override.db")
    )
    clientedit.add(path, clientedit.NewClient({"ip": "10.0.0.2", "username": "b"}, "agent"), {})
    fresh = watch.current_clients(loaded)
    assert [c.address for c in fresh.clients] == ["10.0.0.1:22", "10.0.0.2:22"]
    assert fresh.settings.db == "sqlite:///override.db"
    path.write_text("<clients>")
    assert watch.current_clients(fresh) is fresh
