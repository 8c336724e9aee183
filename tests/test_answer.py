"""Validating a decoded answer into ``model.Answer``."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetstat.answer import parse_answer
from fleetstat.errors import EnvelopeError
from tests.test_envelope import sample_answer

EVENT = {
    "source": "linux-auth",
    "record_id": "s=4e1c;i=2a9f",
    "event_id": "sshd.failed_password",
    "time": "2026-11-27T12:00:00.123456Z",
    "level": "audit_failure",
    "user": "root",
    "source_ip": "10.0.0.9",
    "message": "Failed password for root from 10.0.0.9 port 52144 ssh2",
    "fields": {"_PID": "812", "SYSLOG_IDENTIFIER": "sshd"},
}


def with_event(**changes: Any) -> dict[str, Any]:
    answer = sample_answer()
    event = dict(EVENT, **changes)
    answer["events"] = {
        "records": [event],
        "cursor": {"linux-auth": {"cursor": "s=4e1c;i=2a9f"}},
        "resets": ["linux-auth"],
        "truncated": False,
    }
    return answer


def test_epoch_seconds_become_aware_utc_datetimes() -> None:
    answer = parse_answer(sample_answer())
    assert answer.clock == datetime(2025, 11, 27, 12, 20, 0, 123000, tzinfo=UTC)
    assert answer.boot_time == datetime(2025, 11, 26, 12, 20, tzinfo=UTC)
    assert answer.uptime == 86400.5
    assert answer.load == (0.1, 0.2, 0.3)


def test_event_time_and_fields_are_read() -> None:
    answer = parse_answer(with_event())
    (event,) = answer.events
    assert event.time == datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
    assert event.user == "root"
    assert event.fields["SYSLOG_IDENTIFIER"] == "sshd"
    assert answer.cursor == {"linux-auth": {"cursor": "s=4e1c;i=2a9f"}}
    assert answer.resets == ("linux-auth",)


def test_event_without_user_or_address_keeps_none() -> None:
    (event,) = parse_answer(with_event(user=None, source_ip=None)).events
    assert event.user is None
    assert event.source_ip is None


def test_failed_sections_are_none_and_errors_are_pairs() -> None:
    obj = sample_answer()
    obj.update(cpu=None, memory=None, swap=None, uptime=None, load=None, disks=None, events=None)
    obj["errors"] = [{"part": "memory", "error": "PermissionError: denied"}]
    answer = parse_answer(obj)
    assert (answer.cpu, answer.memory, answer.swap, answer.uptime, answer.load) == (None,) * 5
    assert answer.disks == ()
    assert answer.events == ()
    assert answer.errors == (("memory", "PermissionError: denied"),)


def test_disks_become_dataclasses() -> None:
    obj = sample_answer()
    obj["disks"] = [
        {
            "mount": "/",
            "device": "/dev/vda",
            "fstype": "ext4",
            "total": 100,
            "used": 40,
            "free": 50,
            "percent": 44.4,
        }
    ]
    (disk,) = parse_answer(obj).disks
    assert (disk.mount, disk.used, disk.percent) == ("/", 40, 44.4)


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_another_version_is_refused(version: Any) -> None:
    obj = sample_answer()
    obj["v"] = version
    with pytest.raises(EnvelopeError, match="v must be 1"):
        parse_answer(obj)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("host", "hostname"), 5, "host.hostname must be a string"),
        (("cpu", "count"), 2.5, "cpu.count must be a whole number"),
        (("cpu", "percent"), "12", "cpu.percent must be a number"),
        (("memory", "total"), True, "memory.total must be a whole number"),
        (("uptime", "boot_time"), 1e300, "uptime.boot_time is 1e\\+300, outside the years 1970"),
        (("events", "records"), {}, "events.records must be an array"),
    ],
)
def test_wrong_typed_field_is_named(path: tuple[str, str], value: Any, message: str) -> None:
    obj = copy.deepcopy(sample_answer())
    obj[path[0]][path[1]] = value
    with pytest.raises(EnvelopeError, match=message):
        parse_answer(obj)


@pytest.mark.parametrize("name", ["host", "clock", "load", "errors", "cpu"])
def test_missing_top_level_field_is_named(name: str) -> None:
    obj = sample_answer()
    del obj[name]
    with pytest.raises(EnvelopeError, match=f"{name} is missing"):
        parse_answer(obj)


def test_null_host_is_refused() -> None:
    obj = sample_answer()
    obj["host"] = None
    with pytest.raises(EnvelopeError, match="host must not be null"):
        parse_answer(obj)


def test_event_time_without_zone_is_refused() -> None:
    with pytest.raises(EnvelopeError, match=r"records\[0\]\.time has no time zone"):
        parse_answer(with_event(time="2026-11-27T12:00:00"))


def test_load_needs_three_numbers() -> None:
    obj = sample_answer()
    obj["load"] = [0.1, 0.2]
    with pytest.raises(EnvelopeError, match="load must hold 3 numbers"):
        parse_answer(obj)


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="must be an object"):
        parse_answer([1, 2, 3])
