"""``/metrics``: the fleet in the Prometheus text format, from the database on request.

One query reads every host with its newest sample (an index lookup per host), its
fullest filesystem and its firing alerts; a second reads the newest finished run.
Labels: ``host`` (the client's name) and ``ip``. Each figure of the metrics table
(``metrics.COLUMNS``) is one gauge, named by its row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from fleetstat.core.metrics import COLUMNS
from fleetstat.store import browse
from fleetstat.web.guard import api_login

router = APIRouter(dependencies=[Depends(api_login)])

#: Gauges per host besides the metrics' figures: (name, help, the LatestRow field).
FIGURES = (
    ("fleetstat_disk_percent", "fullest filesystem, percent used, at the last sample",
     "disk_percent"),
    ("fleetstat_uptime_seconds", "seconds since boot at the last sample", "uptime_seconds"),
    ("fleetstat_memory_total_bytes", "memory, bytes", "mem_total"),
    ("fleetstat_alerts_firing", "alert rules firing now", "firing"),
)  # fmt: skip


class FleetCollector(Collector):
    """The metric families of one request, read once at construction."""

    def __init__(self, rows: list[browse.LatestRow], run: browse.LastRun | None) -> None:
        self.rows = rows
        self.run = run
        self.now = datetime.now(UTC)

    def collect(self) -> Iterator[Metric]:
        """Every family: the figures per host, the outcomes and their ages, the last pass."""
        for column in COLUMNS:
            values = [row.figures.get(column.name) for row in self.rows]
            yield self._gauge(column.gauge, column.help, values)
        for name, text, field in FIGURES:
            yield self._gauge(name, text, [getattr(row, field) for row in self.rows])
        yield from self._outcomes()
        yield from self._run()

    def _gauge(self, name: str, text: str, values: list[float | None]) -> Metric:
        """One family: ``values`` holds each row's value; a host without one is left out."""
        family = GaugeMetricFamily(name, text, labels=["host", "ip"])
        for row, value in zip(self.rows, values, strict=True):
            if value is not None:
                family.add_metric([row.name, row.ip], float(value))
        return family

    def _outcomes(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "fleetstat_up", "1 when the last attempt was ok", labels=["host", "ip"]
        )
        outcome = GaugeMetricFamily(
            "fleetstat_last_outcome", "1 for the outcome of the host's last attempt",
            labels=["host", "ip", "outcome"],
        )  # fmt: skip
        age = GaugeMetricFamily(
            "fleetstat_last_attempt_age_seconds", "seconds since the host's last attempt",
            labels=["host", "ip"],
        )  # fmt: skip
        ok_age = GaugeMetricFamily(
            "fleetstat_last_ok_age_seconds", "seconds since the host last answered",
            labels=["host", "ip"],
        )  # fmt: skip
        for row in self.rows:
            labels = [row.name, row.ip]
            up.add_metric(labels, 1.0 if row.last_outcome == "ok" else 0.0)
            if row.last_outcome:
                outcome.add_metric([*labels, row.last_outcome], 1.0)
            if row.last_attempt_at:
                age.add_metric(labels, (self.now - row.last_attempt_at).total_seconds())
            if row.last_ok_at:
                ok_age.add_metric(labels, (self.now - row.last_ok_at).total_seconds())
        yield from (up, outcome, age, ok_age)

    def _run(self) -> Iterator[Metric]:
        if self.run is None:
            return
        run = self.run
        pairs = (
            ("fleetstat_last_pass_duration_seconds", "how long the last pass took",
             (run.finished_at - run.started_at).total_seconds()),
            ("fleetstat_last_pass_finished_timestamp_seconds", "when the last pass ended",
             run.finished_at.timestamp()),
            ("fleetstat_last_pass_hosts", "hosts tried in the last pass", run.hosts_total),
            ("fleetstat_last_pass_hosts_ok", "hosts that answered in the last pass", run.hosts_ok),
            ("fleetstat_last_pass_id", "the id of the last finished pass", run.run_id),
        )  # fmt: skip
        for name, text, value in pairs:
            yield GaugeMetricFamily(name, text, value=float(value))


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """The Prometheus text format of the fleet now."""
    with request.app.state.db.session() as session:
        rows = browse.latest(session)
        run = browse.last_run(session)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(rows, run))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
