"""Validating a decoded answer into ``model.Answer``."""

from __future__ import annotations

import copy
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleetstat.agent.events_windows import parse_wevtutil_xml
from fleetstat.collect.answer import parse_answer
from fleetstat.collect.limits import LIMITS, MAX_DEPTH
from fleetstat.core.errors import EnvelopeError
from tests.test_envelope import sample_answer
from tests.test_events_windows import EXPECTED_IDS, evtx_dir, live_text

__all__ = ["evtx_dir"]  # the fixture, used by name

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


# ---------------------------------------------------------------- the table of limits


def changed(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The sample answer with the value at ``path`` replaced (disks and events filled in)."""
    obj = with_event()
    obj["disks"] = [
        {"mount": "/", "device": "/dev/vda", "fstype": "ext4", "total": 100, "used": 40,
         "free": 60, "percent": 40.0}
    ]  # fmt: skip
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("cpu", "percent"), -50.0, "cpu.percent is -50, outside 0 to 100 percent"),
        (("cpu", "percent"), 100.5, "cpu.percent is 100.5, outside 0 to 100 percent"),
        (("memory", "percent"), 1e300, r"memory.percent is 1e\+300, outside 0 to 100 percent"),
        (("memory", "percent"), math.nan, "memory.percent must be a finite number"),
        (("swap", "percent"), math.inf, "swap.percent must be a finite number"),
        (("memory", "used"), -1, "memory.used is -1, outside 0 to"),
        (
            ("memory", "total"),
            2**63,
            "memory.total is 9223372036854775808, outside 0 to 9223372036854775807 bytes",
        ),
        (("swap", "free"), 1.5, "swap.free must be a whole number, not float"),
        (("cpu", "count"), 0, "cpu.count is 0, outside 1 to 1000000 cores"),
        (("cpu", "busy"), -3.0, "cpu.busy is -3, outside 0 to"),
        (("uptime", "seconds"), -1, "uptime.seconds is -1, outside 0 to"),
        (("uptime", "boot_time"), -86400, "uptime.boot_time is -86400, outside the years 1970"),
        (("clock",), 5e9, r"clock is 5e\+09, outside the years 1970 to 2099"),
        (("load", 1), -0.5, r"load\[1\] is -0.5, outside 0 to"),
        (("disks", 0, "percent"), 250, r"disks\[0\]\.percent is 250, outside 0 to 100"),
        (("disks", 0, "free"), True, r"disks\[0\]\.free must be a whole number, not bool"),
        (
            ("events", "records", 0, "time"),
            "2200-01-01T00:00:00Z",
            r"events\.records\[0\]\.time is 7\.25812e\+09, outside the years 1970",
        ),
        (
            ("events", "records", 0, "record_id"),
            "r" * 192,
            r"events\.records\[0\]\.record_id must be at most 191 printable characters",
        ),
        (
            ("events", "records", 0, "source"),
            "linux-auth\x00",
            r"events\.records\[0\]\.source must be at most 32 printable characters",
        ),
        (
            ("events", "records", 0, "fields"),
            {"nested": {"a": 1}},
            r"events\.records\[0\]\.fields\.nested must be text, a number, true/false or null",
        ),
        (
            ("events", "records", 0, "fields"),
            {f"f{n}": "x" for n in range(65)},
            r"events\.records\[0\]\.fields holds 65 entries, more than 64",
        ),
        (("events", "cursor"), {"s": "x" * 20000}, "events.cursor is larger than 16384"),
        (("disks",), [None] * 1025, "disks holds 1025 entries, more than 1024"),
        (("errors",), [{"part": "x", "error": "y"}] * 65, "errors holds 65 entries, more than 64"),
    ],
)
def test_a_value_outside_its_limits_is_refused_naming_the_field(
    path: tuple[str | int, ...], value: Any, message: str
) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_answer(changed(path, value))


def test_more_records_than_max_events_are_refused() -> None:
    obj = with_event()
    obj["events"]["records"] = [dict(EVENT, record_id=f"r{n}") for n in range(3)]
    assert len(parse_answer(obj, max_events=3).events) == 3
    with pytest.raises(EnvelopeError, match="records holds 3 records, more than max-events 2"):
        parse_answer(obj, max_events=2)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: Any = "bottom"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    with pytest.raises(EnvelopeError, match=f"nests more than {MAX_DEPTH} levels deep"):
        parse_answer(changed(("events", "cursor"), {"deep": deep}))


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("web01", "web01"),
        ("a\x00b", "a\ufffdb"),
        ("\x1b[2J\x1b]0;owned\x07", "\ufffd[2J\ufffd]0;owned\ufffd"),
        ("line\r\nBcc: victim@example.org", "line Bcc: victim@example.org"),
        ("tab\there\u2028next\x85end", "tab here next end"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("\x7f\x9b", "\ufffd\ufffd"),
    ],
)
def test_client_text_loses_control_characters_and_lone_surrogates(raw: str, kept: str) -> None:
    answer = parse_answer(changed(("host", "hostname"), raw))
    assert answer.host.hostname == kept
    kept.encode("utf-8")  # storable as UTF-8


def test_long_free_text_is_cut_at_its_limit() -> None:
    obj = changed(("errors",), [{"part": "memory", "error": "E" * 5000}])
    obj["events"]["records"][0]["message"] = "M" * 10000
    obj["events"]["records"][0]["fields"] = {"CommandLine": "C" * 5000, "Flag": True, "N": 7}
    answer = parse_answer(obj)
    ((_, error),) = answer.errors
    assert (len(error), error[-1]) == (2048, "…")
    (event,) = answer.events
    assert len(event.message) == 8192
    assert len(event.fields["CommandLine"]) == 1024
    assert (event.fields["Flag"], event.fields["N"]) == (True, 7)


def test_every_limit_is_documented_in_the_protocol() -> None:
    text = (Path(__file__).parents[1] / "docs" / "agent-protocol.md").read_text()
    for path, rule in LIMITS.items():
        row = re.search(rf"^\| `{re.escape(path)}` \| (.+) \|$", text, re.MULTILINE)
        assert row, f"docs/agent-protocol.md has no row for `{path}`"
        assert row.group(1) == rule.allowed, path


def test_every_real_windows_record_passes_with_only_its_line_breaks_made_spaces(
    evtx_dir: Path,
) -> None:
    for name in sorted(EXPECTED_IDS):
        records = parse_wevtutil_xml(live_text(evtx_dir / name))
        obj = with_event()
        obj["events"]["records"] = records
        answer = parse_answer(obj)
        for event, record in zip(answer.events, records, strict=True):
            assert event.message == record["message"]
            assert event.fields == {
                k: re.sub(r"[\n\t]+", " ", v) if isinstance(v, str) else v
                for k, v in record["fields"].items()
            }
