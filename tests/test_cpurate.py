"""CPU percent without a sleep: the server's rate over the stored counters of real passes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from fleetstat.agent import __main__ as agent_main
from fleetstat.collect import job
from fleetstat.core import cpurate, model
from fleetstat.core.model import Cpu, CpuMethod
from fleetstat.store import Store
from tests.support.sshd import client_for

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_two_real_passes_measure_the_first_over_the_interval_and_the_second_from_counters(
    tmp_path: Path, sqlite_url: str, ssh_user, sshd, smtp_server
) -> None:
    settings = model.Settings(
        db=sqlite_url,
        known_hosts=tmp_path / "known_hosts",
        connect_timeout=5.0,
        timeout=30.0,
        cpu_interval=0.5,
        smtp=smtp_server.settings(),
    )
    client = client_for(ssh_user, sshd, "127.0.0.1", name="h1")
    config = model.Config(path=tmp_path / "clients.xml", settings=settings, clients=(client,))
    store = Store.open(sqlite_url)
    try:
        first = asyncio.run(job.run_pass(config, store))
        time.sleep(0.3)
        second = asyncio.run(job.run_pass(config, store))
    finally:
        store.close()
    cpu1 = first.results[0].answer.cpu  # type: ignore[union-attr]
    cpu2 = second.results[0].answer.cpu  # type: ignore[union-attr]
    assert cpu1 is not None and cpu2 is not None
    assert (cpu1.method, cpu1.interval) == (CpuMethod.INTERVAL, pytest.approx(0.5, abs=0.2))
    assert cpu2.method == CpuMethod.COUNTERS
    assert cpu2.interval == 0.0  # the agent did not sleep
    assert cpu2.percent is not None and 0.0 <= cpu2.percent <= 100.0
    assert cpu2.seconds > 0.3
    with create_engine(sqlite_url).connect() as db:
        rows = db.execute(
            text("SELECT cpu_method, cpu_seconds, cpu_percent FROM samples ORDER BY id")
        ).all()
    assert [row[0] for row in rows] == ["interval", "counters"]
    assert rows[1][1] == pytest.approx(cpu2.seconds)


def cpu(busy: float, total: float, percent: float | None = None) -> Cpu:
    return Cpu(percent, 2, 0.0 if percent is None else 1.0, busy, total)


def test_the_rate_is_busy_over_total_since_the_previous_sample() -> None:
    previous = cpurate.Counters(busy=100.0, total=1000.0, at=T0)
    found = cpurate.apply(cpu(130.0, 1200.0), T0 + timedelta(seconds=100), previous)
    assert (found.percent, found.method, found.seconds) == (15.0, CpuMethod.COUNTERS, 100.0)


def test_counters_that_went_back_give_no_rate() -> None:
    previous = cpurate.Counters(busy=100.0, total=1000.0, at=T0)
    found = cpurate.apply(cpu(5.0, 50.0), T0 + timedelta(seconds=60), previous)
    assert (found.percent, found.method) == (None, CpuMethod.NONE)


def test_a_percent_the_agent_measured_is_kept() -> None:
    previous = cpurate.Counters(busy=100.0, total=1000.0, at=T0)
    found = cpurate.apply(cpu(5.0, 50.0, 42.0), T0, previous)
    assert (found.percent, found.method, found.seconds) == (42.0, CpuMethod.INTERVAL, 1.0)


def test_the_agent_is_told_to_sleep_on_a_first_pass_and_after_a_long_gap() -> None:
    previous = cpurate.Counters(busy=1.0, total=2.0, at=T0)
    assert cpurate.request_since(None, T0, 900.0) is None
    assert cpurate.request_since(previous, T0 + timedelta(seconds=901), 900.0) is None
    assert cpurate.request_since(previous, T0 + timedelta(seconds=60), 900.0) == {
        "busy": 1.0,
        "total": 2.0,
    }


def system(*samples: tuple[float, float]) -> SimpleNamespace:
    values = list(samples)
    return SimpleNamespace(cpu_times=lambda: values.pop(0), cpu_count=lambda: 2)


def test_the_agent_does_not_sleep_when_told_so_but_does_after_a_reboot() -> None:
    slept: list[float] = []
    told = agent_main.cpu_section(
        system((50.0, 500.0)), 1.0, False, (40.0, 400.0), sleep=slept.append
    )
    assert (told["percent"], told["interval"], slept) == (None, 0.0, [])
    rebooted = system((5.0, 50.0), (6.0, 52.0))
    after = agent_main.cpu_section(rebooted, 1.0, False, (40.0, 400.0), sleep=slept.append)
    assert slept == [1.0]
    assert after["percent"] == 50.0


def test_with_cpu_interval_0_the_agent_measures_nothing() -> None:
    slept: list[float] = []
    found = agent_main.cpu_section(system((50.0, 500.0)), 0.0, True, None, sleep=slept.append)
    assert (found["percent"], slept) == (None, [])


def test_a_cpu_rule_without_a_figure_leaves_the_state_and_check_config_warns(
    tmp_path: Path,
) -> None:
    from fleetstat.alerting import rules
    from fleetstat.config import load
    from tests.test_alerts import ok_result

    result = ok_result(cpu=50.0)
    assert result.answer is not None and result.answer.cpu is not None
    blank = replace(result.answer.cpu, percent=None, method=CpuMethod.NONE)
    unmeasured = replace(result, answer=replace(result.answer, cpu=blank))
    assert rules.read(model.AlertRule(type="cpu", limit=10.0), unmeasured) is None
    xml = tmp_path / "clients.xml"
    xml.write_text(
        '<clients><settings cpu-interval="0"/>'
        '<client ip="10.0.0.5" username="stat" mail="ops@example.org">'
        '<alert type="cpu" limit="80%"/></client></clients>'
    )
    warnings = load(xml, environ={}).warnings
    assert any("cpu-interval is 0" in w and "no CPU figure" in w for w in warnings)
