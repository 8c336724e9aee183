"""The docs cannot drift: every command, outcome and alert type is documented and has help."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from fleetstat.cli import cli
from fleetstat.core.metrics import ALERT_TYPES, METRICS
from fleetstat.core.model import Outcome

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _all_docs() -> str:
    return "\n".join(p.read_text() for p in [REPO / "README.md", *sorted(DOCS.glob("*.md"))])


def _commands(group: click.Group, prefix: str = "fleetstat") -> Iterator[tuple[str, click.Command]]:
    for name, sub in group.commands.items():
        path = f"{prefix} {name}"
        yield path, sub
        if isinstance(sub, click.Group):
            yield from _commands(sub, path)


COMMANDS = list(_commands(cli))


def test_the_command_line_has_every_command_of_the_design():
    names = {path for path, _ in COMMANDS}
    for expected in (
        "run",
        "watch",
        "check-config",
        "hosts",
        "history",
        "db upgrade",
        "agent build",
        "demo",
        "mail test",
        "mail flush",
        "alerts",
        "alerts ack",
        "silence add",
        "silence list",
        "silence expire",
        "hosts forget",
    ):
        assert f"fleetstat {expected}" in names


@pytest.mark.parametrize(("path", "sub"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_text(path, sub):
    text = sub.get_help(click.Context(sub, info_name=path))
    assert sub.help and len(sub.help) > 40, f"{path} has no description"
    assert "example" in text, f"{path} --help shows no example"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_appears_in_the_docs(path):
    assert path in _all_docs(), f"`{path}` is in no README or docs/*.md page"


OPTIONS = sorted(
    {
        (path, opt)
        for path, sub in COMMANDS
        for param in sub.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    }
)


@pytest.mark.parametrize(("path", "option"), OPTIONS, ids=[f"{p} {o}" for p, o in OPTIONS])
def test_every_option_appears_in_the_docs(path, option):
    assert f"{option}" in _all_docs(), f"`{path} {option}` is in no README or docs/*.md page"


def test_the_shared_options_name_their_variables_in_the_docs():
    docs = _all_docs()
    for text in ("-c/--config", "FLEETSTAT_CONFIG", "--db", "FLEETSTAT_DB"):
        assert text in docs


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_explained_with_its_fix(outcome):
    text = (DOCS / "outcomes.md").read_text()
    row = re.search(rf"^\| `{outcome.value}` \|(.+)\|(.+)\|$", text, re.MULTILINE)
    assert row, f"docs/outcomes.md has no row for `{outcome.value}`"
    assert len(row.group(2).strip()) > 5


@pytest.mark.parametrize("alert_type", ALERT_TYPES)
def test_every_alert_type_is_documented(alert_type):
    assert f"`{alert_type}`" in (DOCS / "alerts.md").read_text()


@pytest.mark.parametrize("metric", list(METRICS.values()), ids=list(METRICS))
def test_every_metric_has_its_row_with_the_tables_doc_line_and_unit(metric):
    row = f"| `{metric.name}` | {metric.doc} | {metric.unit} |"
    assert row in (DOCS / "alerts.md").read_text(), f"docs/alerts.md lacks: {row}"


def test_every_outcome_but_ok_has_its_wording_in_the_alerts_doc():
    from fleetstat.alerting.rules import REACHABILITY

    text = (DOCS / "alerts.md").read_text()
    for outcome, words in REACHABILITY.items():
        assert f"| `{outcome}` | {words.headline} |" in text


def test_readme_links_point_at_files_that_exist():
    for target in re.findall(r"\]\(([^)#]+)\)", (REPO / "README.md").read_text()):
        if "://" not in target:
            assert (REPO / target).exists(), target


def test_readme_quick_start_is_the_two_commands():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]


def test_the_web_pages_variables_api_paths_and_metrics_are_documented():
    from datetime import UTC, datetime

    from fleetstat.store.browse import LastRun, LatestRow
    from fleetstat.web import WebSettings, auth, create_app, metrics

    config_doc, web_doc = (DOCS / "config.md").read_text(), (DOCS / "web.md").read_text()
    for name in auth.ENV:
        assert f"`{name}`" in config_doc and f"`{name}`" in web_doc, name
    app = create_app(WebSettings(db="sqlite://", password="x", config=None))
    for path in app.openapi()["paths"]:
        assert f"`GET {path}`" in web_doc, path
    now = datetime.now(UTC)
    fields = {name: None for name in LatestRow.__dataclass_fields__ if name != "figures"}
    row = LatestRow(**{**fields, "host_id": 1, "name": "a", "address": "b:22", "ip": "b",
                       "last_outcome": "ok", "firing": 0})  # fmt: skip
    families = metrics.FleetCollector([row], LastRun(1, now, now, 1, 1)).collect()
    for family in families:
        assert f"`{family.name}`" in web_doc, family.name


def test_the_become_rules_in_the_security_doc_are_the_ones_the_agent_asks_for():
    from fleetstat.agent import become

    text = (DOCS / "security.md").read_text()
    for tool in become.TOOLS:
        line = become.rule(tool, "stat", become.command(tool, "/usr/bin/journalctl"))
        assert f"\n{line}\n" in text, tool
