"""The web page in a real browser: Debian's headless Chromium over a fleet that real passes
filled. Each test saves a screenshot in its tmp dir and prints the path."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from fleetstat.cli import main
from tests.support.web import (
    HOSTILE,
    HOSTILE_USER,
    add_silences,
    clear_of_table_turn,
    login,
    shot,
)

pytestmark = pytest.mark.slow

CANVAS_INK = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
  return ink;
}"""


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(page, web_server, tmp_path):
    page.goto(web_server + "/")
    assert page.url.startswith(web_server + "/login")
    login(page, web_server, password="not the password")
    assert page.get_by_role("alert").inner_text() == "Wrong password. Try again."
    shot(page, tmp_path, "login-refused")
    login(page, web_server)
    assert page.get_by_role("heading", name="Fleet").is_visible()
    shot(page, tmp_path, "fleet")


def test_the_fleet_page_shows_every_host_and_sorts_and_filters_without_reloading(
    page, web_server, web_fleet, tmp_path
):
    login(page, web_server)
    rows = page.locator("#fleet-rows tr")
    names = rows.locator("th").all_inner_texts()
    for name in (*web_fleet.names, "evil"):
        assert any(text.startswith(name) for text in names), names
    page.evaluate("() => { window.notReloaded = true; }")

    page.get_by_role("link", name="Host").focus()  # by keyboard: focus, then Enter
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#fleet-rows th a').innerText.startsWith('web2')"
    )
    assert "▼" in page.locator("th[aria-sort=descending]").inner_text()
    descending = rows.locator("th a").all_inner_texts()
    assert descending == sorted(descending, key=str.lower, reverse=True)

    page.get_by_label("Filter").fill("web")
    page.wait_for_function("() => document.querySelectorAll('#fleet-rows tr').length === 2")
    assert rows.locator("th a").all_inner_texts() == ["web2", "web1"]
    page.get_by_label("Last outcome").select_option("auth_failed")
    page.get_by_label("Filter").fill("")
    page.wait_for_function(
        "() => document.querySelector('#fleet-rows th a')?.innerText === 'db1'"
        " && document.querySelectorAll('#fleet-rows tr').length === 1"
    )
    assert rows.locator("th a").all_inner_texts() == ["db1"]
    assert "auth failed" in rows.first.inner_text()
    assert "outcome=auth_failed" in page.url

    page.wait_for_function(  # the 10 s refresh keeps sort and filter
        "() => /updated/.test(document.getElementById('refresh-state').innerText)",
        timeout=20_000,
    )
    assert rows.locator("th a").all_inner_texts() == ["db1"]
    assert page.locator("#fleet-summary").inner_text() == "4 hosts, 1 not ok"
    assert page.evaluate("() => window.notReloaded") is True
    shot(page, tmp_path, "fleet-filtered")
    assert page.js_errors == []


def test_the_fleet_refresh_is_a_304_while_nothing_changed_and_its_times_move_on(
    page, web_server, tmp_path
):
    clear_of_table_turn(25)  # the table's tag turns with the minute: not in this test
    login(page, web_server)
    rows = page.locator("#fleet-rows").inner_html()
    answered = page.locator("#fleet-rows time[data-ago]").first
    said = answered.inner_text()
    with page.expect_response(lambda r: "/fleet/rows" in r.url, timeout=20_000) as refresh:
        pass
    assert refresh.value.status == 304
    assert refresh.value.request.headers["if-none-match"].startswith('W/"')
    page.wait_for_function(
        "() => /updated/.test(document.getElementById('refresh-state').innerText)"
    )
    assert answered.inner_text() != said and answered.inner_text().endswith("ago")
    untimed = re.compile(r">[^<]* ago</time>")
    assert untimed.sub("", page.locator("#fleet-rows").inner_html()) == untimed.sub("", rows)
    assert page.js_errors == []


def test_a_sparkline_of_one_sample_shows_a_dot(page, web_server, tmp_path):
    login(page, web_server)
    web1 = page.locator("#fleet-rows tr", has=page.get_by_role("link", name="web1", exact=True))
    dots = web1.locator("svg.spark circle")
    assert dots.count() == 4  # two passes in one hour: one point per sparkline
    for n in range(4):
        box = dots.nth(n).bounding_box()
        assert box is not None and box["width"] >= 3 and box["height"] >= 3
    color = dots.first.evaluate("(dot) => getComputedStyle(dot).fill")
    assert color not in ("none", "rgba(0, 0, 0, 0)")
    web1.screenshot(path=str(tmp_path / "sparkline-dots-row.png"))
    shot(page, tmp_path, "fleet-sparkline-dots")


def test_a_host_page_draws_its_charts_and_filters_its_events(page, web_server, tmp_path):
    login(page, web_server)
    page.get_by_role("link", name="web1", exact=True).click()
    assert page.get_by_role("heading", name="web1", level=1).is_visible()
    for chart in ("cpu", "memory", "load", "disks"):
        canvas = page.locator(f"figure[data-chart={chart}] canvas")
        canvas.wait_for()
        assert canvas.evaluate(CANVAS_INK) > 100, f"the {chart} chart is empty"
    assert page.locator("svg.timeline rect").count() >= 2
    page.get_by_role("link", name="30d").click()
    expect(page).to_have_url(re.compile("range=30d"))
    page.locator("figure[data-chart=memory] canvas").wait_for()
    shot(page, tmp_path, "host-web1")

    page.goto(web_server + "/")
    page.get_by_role("link", name="evil").click()
    events = page.locator("table.events tbody tr")
    expect(events).to_have_count(1)
    page.get_by_label("Kind or event id").fill("sshd.failed_password")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile("kind=sshd.failed_password"))
    expect(events).to_have_count(1)
    page.get_by_label("User").fill("somebody-else")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No security event matches these filters.")).to_be_visible()
    assert page.get_by_label("User").input_value() == "somebody-else"
    shot(page, tmp_path, "host-events-filtered")
    assert page.js_errors == []


def test_a_hostile_host_name_and_event_texts_show_as_text(page, web_server, tmp_path):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, web_server)
    evil = page.locator("#fleet-rows tr", has=page.get_by_role("link", name="evil"))
    assert evil.locator("th .sub").inner_text() == HOSTILE
    evil.get_by_role("link", name="evil").click()
    assert page.get_by_role("heading", level=1).inner_text() == "evil"
    assert page.get_by_text(HOSTILE, exact=True).first.is_visible()  # its host name
    assert page.get_by_role("cell", name=HOSTILE_USER).is_visible()
    page.goto(web_server + "/events")
    assert page.get_by_role("cell", name=f"login {HOSTILE}").is_visible()
    shot(page, tmp_path, "hostile")
    assert dialogs == []
    assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0


def test_adding_a_client_checks_it_like_check_config_and_removing_it_restores_the_file(
    page, web_server, web_fleet, tmp_path, capsys
):
    original = web_fleet.config.read_bytes()
    login(page, web_server)
    page.get_by_role("link", name="Clients").click()
    expect(page.get_by_role("heading", name="Add a client")).to_be_visible()
    form = page.locator("form.grid")
    form.get_by_label("IP address or host name").fill("127.0.0.77")
    form.get_by_label("SSH port").fill("99999")
    form.get_by_label("SSH user").fill("stats")
    form.get_by_label("Name", exact=True).fill("new-box")
    form.get_by_label("Password", exact=True).fill("typed-secret-9")
    form.get_by_label("memory", exact=True).fill("90%")
    form.get_by_role("button", name="Add client").click()

    expect(page.locator("#e-port")).to_be_visible()
    message = page.locator("#e-port").inner_text()
    assert "port='99999'" in message
    assert "1-65535" in message or "65535" in message
    assert page.get_by_label("SSH port").get_attribute("aria-invalid") == "true"
    assert form.get_by_label("Password", exact=True).input_value() == ""
    assert "typed-secret-9" not in page.content()
    assert web_fleet.config.read_bytes() == original
    shot(page, tmp_path, "client-bad-port")

    form.get_by_label("SSH port").fill("2222")
    form.get_by_label("Password", exact=True).fill("typed-secret-9")
    form.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("^Added new-box"))
    assert "typed-secret-9" not in page.content()
    written = web_fleet.config.read_text()
    assert re.search(r'ip="127.0.0.77"\s+port="2222"\s+username="stats"', written)
    assert '<alert type="memory" limit="90%"/>' in written
    assert written.startswith(original.decode()[: original.decode().rindex("</clients>")])
    assert main(["check-config", str(web_fleet.config)]) == 0
    assert "4 clients" in capsys.readouterr().out
    shot(page, tmp_path, "client-added")

    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Remove new-box (127.0.0.77:2222)").click()
    expect(page.get_by_role("status")).to_have_text("Removed 127.0.0.77:2222 from the config.")
    assert questions == ["Remove new-box (127.0.0.77:2222) from the config?"]
    assert web_fleet.config.read_bytes() == original
    shot(page, tmp_path, "client-removed")


def test_the_alerts_page_shows_the_silences_and_what_they_cover(
    page, web_server, web_fleet, tmp_path
):
    quiet, over = add_silences(web_fleet.db, "pw")
    login(page, web_server)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Silences")).to_be_visible()
    in_force = page.get_by_role("table", name="Silences in force or still to come")
    row = in_force.locator(f"#silence-{quiet}")
    expect(row).to_contain_text("kernel update pw <b>now</b>")  # a reason shows as text
    expect(row).to_contain_text("every rule")
    ended = page.get_by_role("table", name="Silences that ended in the last 7 days, newest first")
    expect(ended.locator(f"#silence-{over}")).to_contain_text("disk swap pw")
    firing = page.get_by_role("table", name="Alerts firing or pending")
    covered = firing.locator("tr", has=page.get_by_role("link", name="web1", exact=True))
    note = covered.first.get_by_role("link", name=re.compile(r"^silenced \(silence \d+\)$"))
    first = int(re.findall(r"\d+", note.inner_text())[0])  # an earlier test's may come first
    assert first <= quiet and in_force.locator(f"#silence-{first}").count() == 1
    note.click()
    expect(page).to_have_url(re.compile(f"#silence-{first}$"))
    shot(page, tmp_path, "alerts-silences")
    assert page.js_errors == []


def test_logging_out_ends_the_session(page, web_server, tmp_path):
    login(page, web_server)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile("/login$"))
    page.goto(web_server + "/alerts")
    assert page.url.startswith(web_server + "/login?next=/alerts")
    shot(page, tmp_path, "logged-out")
