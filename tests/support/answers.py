"""Builders of realistic agent answers and host results for the tests.

The figures are those of a small Debian server (2 cores, 24 GB of memory, 1 GB of swap,
two filesystems); events are sshd lines as journald reports them. Every builder takes
the time it needs: nothing here reads the clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from fleetstat.agent import meanings
from fleetstat.core import model

GIB = 1024**3


def client(ip: str = "127.0.0.1", port: int = 22, name: str = "web01") -> model.Client:
    """A configured client (password login)."""
    return model.Client(ip=ip, username="stat", port=port, name=name, password="secret")


def host_info(hostname: str = "web01") -> model.HostInfo:
    """A Debian 12 host as the agent names it."""
    return model.HostInfo(
        hostname=hostname,
        os="linux",
        os_name="Debian GNU/Linux",
        os_version="12",
        kernel="6.1.0-18-amd64",
        arch="x86_64",
        python="3.11.2",
    )


def event(n: int, time: datetime, *, source: str = "linux-auth") -> model.Event:
    """The ``n``-th failed sshd login of a journal, at ``time``."""
    ip = f"10.0.{n // 250}.{n % 250 + 1}"
    message = f"Failed password for root from {ip} port {40000 + n} ssh2"
    fields: dict[str, Any] = {
        "_SYSTEMD_UNIT": "ssh.service",
        "SYSLOG_IDENTIFIER": "sshd",
        "_PID": str(1000 + n),
        "MESSAGE": message,
    }
    return model.Event(
        source=source,
        record_id=f"s=739ad463348b4ceca5a9e69c95a3c93f;i={0x4EC00 + n:x}",
        event_id="sshd.failed_password",
        time=time,
        level="audit_failure",
        user="root",
        source_ip=ip,
        message=message,
        fields=fields,
        category=meanings.category("sshd.failed_password"),
    )


def events(numbers: Iterable[int], start: datetime) -> tuple[model.Event, ...]:
    """Events number ``numbers``, one second apart from ``start``."""
    return tuple(event(n, start + timedelta(seconds=n)) for n in numbers)


def cursor_after(items: tuple[model.Event, ...]) -> dict[str, Any]:
    """The cursor an agent sends back after ``items`` (empty journal: a fresh cursor)."""
    last = items[-1].record_id if items else "s=739ad463348b4ceca5a9e69c95a3c93f;i=0"
    return {"linux-auth": {"journal": last}}


def answer(clock: datetime, *, evts: tuple[model.Event, ...] = (), **changes: Any) -> model.Answer:
    """An answer of a healthy server at ``clock``; ``changes`` replace any field."""
    made = model.Answer(
        host=host_info(),
        clock=clock,
        cpu=model.Cpu(percent=12.5, count=2, interval=1.0, busy=12345.67, total=98765.43),
        memory=model.Memory(
            total=24 * GIB, available=19 * GIB, used=5 * GIB, percent=round(5 / 24 * 100, 1)
        ),
        swap=model.Swap(total=GIB, used=GIB // 4, free=GIB - GIB // 4, percent=25.0),
        uptime=86400.5,
        boot_time=clock - timedelta(seconds=86400.5),
        load=(0.15, 0.25, 0.35),
        disks=(
            model.Disk(
                "/", "/dev/vda1", "ext4", 270_000_000_000, 23_000_000_000, 233_000_000_000, 9.0
            ),
            model.Disk(
                "/var",
                "/dev/vdb1",
                "xfs",
                1_000_000_000_000,
                850_000_000_000,
                150_000_000_000,
                85.0,
            ),
        ),
        events=evts,
        cursor=cursor_after(evts),
        resets=(),
        errors=(),
    )
    return dataclasses.replace(made, **changes)


def ok_result(
    started: datetime, ans: model.Answer, *, who: model.Client | None = None, seconds: float = 1.5
) -> model.HostResult:
    """A host that answered ``ans``, connected at ``started`` and done ``seconds`` later."""
    return model.HostResult(
        client=who or client(),
        outcome=model.Outcome.OK,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        answer=ans,
    )


def failed_result(
    started: datetime,
    outcome: model.Outcome = model.Outcome.UNREACHABLE,
    error: str = "connect to 127.0.0.1 port 22: Connection refused",
    *,
    who: model.Client | None = None,
) -> model.HostResult:
    """A host whose run ended in ``outcome`` with ``error``, 0.25 s after ``started``."""
    return model.HostResult(
        client=who or client(),
        outcome=outcome,
        started_at=started,
        finished_at=started + timedelta(seconds=0.25),
        error=error,
    )
