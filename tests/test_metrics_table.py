"""A new metric is the agent, one row of ``metrics.METRICS``, a migration and the docs.

The test makes a copy of the package and adds a metric to it the way a developer would
(docs/alerts.md, "Adding a metric"): the agent counts processes, the table gets a
``procs`` row, a migration adds ``samples.procs_count``. Nothing else is edited. Then a
script in a fresh interpreter on that copy runs the real agent, opens its answer, runs
passes through ``job.run_pass`` on SQLite with mail to a real SMTP server, and reports
what the validation, the store, the rollups, the alerts, ``/metrics`` and the config
made of the new figure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fleetstat.collect.limits import limit_of
from fleetstat.core import metrics
from fleetstat.store import migrations
from fleetstat.store.models import Sample
from fleetstat.store.retention import ROLLED_UP
from fleetstat.web.metrics import FleetCollector
from tests.support.smtp import SmtpServer

PACKAGE = Path(metrics.__file__).resolve().parents[1]

AGENT_LINUX = '''

def procs():
    """``{"count": int}``: the processes running now (the numeric entries of /proc)."""
    return {"count": sum(1 for name in os.listdir("/proc") if name.isdigit())}
'''

ROW = """\
        Metric(
            "procs",
            Unit("processes", "", 0, plain_number),
            "processes running on the client",
            columns=(
                Column(
                    "procs_count",
                    "procs.count",
                    Figure("processes", 0, 10_000_000, whole=True),
                    "fleetstat_procs",
                    "processes at the last sample",
                ),
            ),
        ),
"""

MIGRATION = '''\
"""Samples count the client's processes."""

import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("procs_count", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("procs_count")
'''

SCRIPT = '''
import asyncio, dataclasses, json, subprocess, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

import fleetstat
from fleetstat import config as configs
from fleetstat.collect import envelope
from fleetstat.ssh.framing import unframe
from fleetstat.collect import job
from fleetstat.collect import payload
from fleetstat.collect.answer import parse_answer
from fleetstat.core import wire
from fleetstat.core.errors import ConfigError, EnvelopeError
from fleetstat.core.model import Client, HostResult, Outcome, SmtpSettings
from fleetstat.store import Store, browse, spool
from fleetstat.store.models import Base, Sample, SampleRollup
from fleetstat.web.metrics import FleetCollector

folder, smtp_port = Path(sys.argv[1]), int(sys.argv[2])
report = {"package": fleetstat.__file__}

# the real agent, built from the copy, run as a client runs it
agent = payload.write_agent(folder / "agent.pyz")
key = envelope.new_key()
request = envelope.request_bytes(key, cpu_interval=0.0, since={}, max_events=0)
done = subprocess.run([sys.executable, "-I", "-S", str(agent)], input=request,
                      capture_output=True, check=True, timeout=60)
answer = envelope.open_answer(unframe(done.stdout).answer, key)
report["figures"] = answer.figures
client = Client(ip="10.0.0.5", username="stat")
result = HostResult(client, Outcome.OK, datetime.now(UTC), datetime.now(UTC), answer=answer)
kept = spool.Spool(folder / "spool")
kept.keep(1, result)
report["spooled"] = next(kept.results()).result.answer.figures
report["as_json"] = wire.decode_result(wire.encode_result(result), client).answer.figures

raw = json.loads(envelope.decompress(envelope.decrypt(unframe(done.stdout).answer, key)))
raw["procs"]["count"] = -3
try:
    parse_answer(raw)
except EnvelopeError as err:
    report["bad"] = str(err)

xml = folder / "clients.xml"
xml.write_text(
    f"""<clients>
  <settings db="sqlite:///{folder}/fleetstat.db"/>
  <client ip="10.0.0.5" username="stat" name="web01" mail="ops@example.org">
    <alert type="procs" limit="1" />
  </client>
</clients>
""")
config = configs.load(xml)
smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, sender="fleetstat@example.org")
config = dataclasses.replace(config, settings=dataclasses.replace(config.settings, smtp=smtp))
(bad_xml := folder / "bad.xml").write_text(
    \'<client ip="10.0.0.5" username="stat"><alert type="procs" limit="lots" /></client>\')
try:
    configs.load(bad_xml)
except ConfigError as err:
    report["config_error"] = err.problem

store = Store.open(config.settings.db)
with store.engine.connect() as connection:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    report["schema_differences"] = [str(d) for d in compare_metadata(context, Base.metadata)]

now = datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
async def collect(clients, *_args, on_result, **_kwargs):
    results = [HostResult(c, Outcome.OK, now, now, answer=answer) for c in clients]
    for result in results:
        on_result(result)
    return results
for minutes in (0, 30, 70):  # the third pass rolls up the hour of the first two
    now = datetime(2026, 3, 2, 10, 20, tzinfo=UTC) + timedelta(minutes=minutes)
    asyncio.run(job.run_pass(config, store, clock=lambda: now, collect=collect))

with store.session() as session:
    report["stored"] = list(session.scalars(select(Sample.procs_count)))
    rollups = session.scalars(select(SampleRollup).where(SampleRollup.metric == "procs_count"))
    report["rollups"] = [[r.hour.isoformat(), r.count, r.min, r.max] for r in rollups]
    families = FleetCollector(browse.latest(session), None).collect()
    report["gauges"] = {f.name: [s.value for s in f.samples] for f in families}
store.close()
print(json.dumps(report))
'''


def add_a_metric(root: Path) -> None:
    """Add ``procs`` to the package copied at ``root`` as docs/alerts.md says: the agent,
    the table, a migration (and the docs, which this test does not read)."""
    package = root / "fleetstat"
    linux = package / "agent" / "linux.py"
    linux.write_text(linux.read_text() + AGENT_LINUX)
    guard = '    guarded(answer, "load", system.load)\n'
    edit(package / "agent" / "__main__.py", guard, guard + guard.replace("load", "procs"))
    end = "    )\n}\n\n#: The ``type`` values"
    edit(package / "core" / "metrics.py", end, ROW + end)
    versions = package / "store" / "migrations" / "versions"
    (versions / "0099_procs.py").write_text(MIGRATION.format(head=migrations.head()))


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one ``old`` of the file at ``path`` with ``new``."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} does not hold {old!r} once"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package with the ``procs`` metric added."""
    root = tmp_path_factory.mktemp("with_procs")
    shutil.copytree(PACKAGE, root / "fleetstat", ignore=shutil.ignore_patterns("__pycache__"))
    add_a_metric(root)
    return root


def run_on_copy(copy: Path, tmp_path: Path, smtp: SmtpServer) -> dict[str, Any]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(smtp.port)],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="the test's agent reads /proc")
def test_a_metric_added_by_its_row_is_validated_stored_rolled_up_alerted_mailed_and_exported(
    copy: Path, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    report = run_on_copy(copy, tmp_path, smtp_server)
    assert report["package"].startswith(str(copy))

    count = report["figures"]["procs_count"]
    assert isinstance(count, int) and count > 1  # the real agent counted this machine's
    assert report["spooled"] == report["as_json"] == {"procs_count": count}
    assert report["bad"] == "agent answer: procs.count is -3, outside 0 to 10000000 processes"
    assert "limit='lots' on <alert>: 'lots' is not a number" in report["config_error"]
    assert report["schema_differences"] == []  # the migration makes what the row declares

    assert report["stored"] == [count, count, count]
    assert report["rollups"] == [["2026-03-02T10:00:00+00:00", 2, count, count]]
    assert report["gauges"]["fleetstat_procs"] == [count]

    alerts = [m for m in smtp_server.messages if "security events" not in m.subject]
    [fired, reminded] = alerts  # the third pass is past the rule's `repeat` of an hour
    assert fired.recipients == ("ops@example.org",)
    assert fired.subject.startswith("[fleetstat] 1 FIRING: procs on web01")
    assert reminded.subject.startswith("[fleetstat] 1 STILL FIRING: procs on web01")
    for mail in alerts:
        assert f"procs {count} > 1" in mail.body
    assert f"previous  03-02 10:50 {count}, 03-02 10:20 {count}" in reminded.body  # as stored


def test_the_packaged_table_stores_exactly_the_figures_it_declares() -> None:
    """Today's metrics: every figure has its column, its bounds and its gauge; nothing more."""
    names = [column.name for column in metrics.COLUMNS]
    assert names == ["mem_percent", "cpu_percent", "swap_percent", "load1", "load5", "load15"]
    assert set(ROLLED_UP) == set(names)
    for column in metrics.COLUMNS:
        assert column.name in Sample.__table__.c
        assert limit_of(column.path) == column.bounds
    gauges = {family.name for family in FleetCollector([], None).collect()}
    assert {column.gauge for column in metrics.COLUMNS} <= gauges
    assert metrics.PLAIN_COLUMNS == ()
