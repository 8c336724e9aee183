"""The Windows Security log path, fed with real Security logs recorded on Windows hosts.

The ``.evtx`` files live outside the repository (see ``shared/fixtures/windows-security-evtx
/README.md``); python-evtx turns each record into the ``<Event>`` XML that Windows
renders, and the tests rewrite it into what ``wevtutil qe Security /f:xml`` prints on a
live host. ``wevtutil`` itself cannot run here, so the incremental reading is driven by a
runner that answers ``wevtutil``'s arguments from those real records.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetstat.agent import events
from fleetstat.agent.events_windows import (
    decode_output,
    parse_wevtutil_xml,
    read_security_log,
    wevtutil_args,
)

SOURCE = "windows-security"

# The README's table, with the counts of pwd-reset-4724-4776-dc.evtx read from its XML.
EXPECTED_IDS = {
    "rdp-tunneling-4624.evtx": {"4624": 18},
    "logon-4624-4625.evtx": {"4624": 3, "4625": 1},
    "pwd-reset-4724-4776-dc.evtx": {"4624": 2, "5145": 2, "1102": 1, "4776": 1, "4724": 1},
    "account-created-4720.evtx": {"4720": 2},
    "group-member-added-4732.evtx": {"4732": 2},
    "mixed-5156-4688-4624-1102.evtx": {
        "5156": 63,
        "4688": 17,
        "5158": 9,
        "4624": 5,
        "4648": 3,
        "4672": 3,
        "1102": 1,
    },
}


def fixtures_root() -> Path:
    """``shared/fixtures`` beside the repository, or ``$FLEETSTAT_FIXTURES``."""
    override = os.environ.get("FLEETSTAT_FIXTURES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "fixtures"


EVTX_DIR = fixtures_root() / "windows-security-evtx"


@pytest.fixture(scope="module")
def evtx_dir() -> Path:
    """The folder of real ``.evtx`` files; skips (or fails, when required) without it."""
    if not EVTX_DIR.is_dir():
        reason = f"real Windows Security logs not found at {EVTX_DIR} (set FLEETSTAT_FIXTURES)"
        if os.environ.get("FLEETSTAT_REQUIRE_FIXTURES") == "1":
            pytest.fail(reason + "; FLEETSTAT_REQUIRE_FIXTURES=1 requires them")
        pytest.skip(reason)
    return EVTX_DIR


@functools.cache
def evtx_events(path: Path) -> tuple[str, ...]:
    """Each record's ``<Event>`` element as python-evtx renders it, oldest first."""
    import Evtx.Evtx

    with Evtx.Evtx.Evtx(str(path)) as log:
        return tuple(record.xml() for record in log.records())


def live_form(event_xml: str) -> str:
    """One python-evtx ``<Event>`` as a live ``wevtutil`` prints it.

    Attributes in single quotes, ``SystemTime`` with seven fractional digits and
    ``Z``, no line breaks between elements.
    """
    text = re.sub(
        r'SystemTime="(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6})\+00:00"',
        r'SystemTime="\1T\2.\g<3>0Z"',
        event_xml,
    )
    text = re.sub(r"<[^>]+>", _single_quote_attributes, text)
    return re.sub(r">\s*\n\s*<", "><", text)


def _single_quote_attributes(tag: re.Match[str]) -> str:
    return re.sub(
        r'="([^"]*)"', lambda m: "='" + m.group(1).replace("'", "&apos;") + "'", tag.group(0)
    )


def python_evtx_text(path: Path) -> str:
    return "\n".join(evtx_events(path))


def live_text(path: Path) -> str:
    return "".join(live_form(event) for event in evtx_events(path))


def record_number(record: dict[str, object]) -> int:
    """The EventRecordID a record's id starts with."""
    return int(str(record["record_id"]).split("@")[0])


def by_id(records: Sequence[dict[str, object]]) -> dict[object, dict[str, object]]:
    """Records by their EventRecordID, as a string."""
    return {str(record_number(record)): record for record in records}


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_event_ids_and_counts_match_the_fixture_table_in_both_forms(
    evtx_dir: Path, name: str
) -> None:
    for text in (python_evtx_text(evtx_dir / name), live_text(evtx_dir / name)):
        records = parse_wevtutil_xml(text)
        counts = collections.Counter(record["event_id"] for record in records)
        assert dict(counts) == EXPECTED_IDS[name]
        assert all(record["source"] == SOURCE for record in records)


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_live_form_and_python_evtx_form_give_the_same_records(evtx_dir: Path, name: str) -> None:
    assert parse_wevtutil_xml(live_text(evtx_dir / name)) == parse_wevtutil_xml(
        python_evtx_text(evtx_dir / name)
    )


def test_live_form_really_has_single_quotes_seven_digits_and_no_root(evtx_dir: Path) -> None:
    text = live_text(evtx_dir / "logon-4624-4625.evtx")
    assert "SystemTime='2020-09-09T13:18:23.6279510Z'" in text
    assert '"' not in text
    assert text.startswith("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>")
    assert text.count("<Event xmlns=") == 4


def test_failed_logon_without_address_has_user_and_no_source_ip(evtx_dir: Path) -> None:
    records = by_id(parse_wevtutil_xml(live_text(evtx_dir / "logon-4624-4625.evtx")))
    failed = records["137222"]
    assert failed["record_id"] == "137222@2020-09-09T13:18:23.627951Z"
    assert failed["event_id"] == "4625"
    assert failed["level"] == "audit_failure"
    assert failed["time"] == "2020-09-09T13:18:23.627951Z"
    assert failed["user"] == "MSEDGEWIN10\\IEUser"
    assert failed["source_ip"] is None
    assert failed["fields"]["Status"] == "0xc000006d"
    assert failed["fields"]["LogonType"] == "2"
    assert str(failed["message"]).startswith("Failed logon; user MSEDGEWIN10\\IEUser")


def test_network_logon_keeps_its_source_ip_and_domain(evtx_dir: Path) -> None:
    records = by_id(parse_wevtutil_xml(live_text(evtx_dir / "pwd-reset-4724-4776-dc.evtx")))
    logon = records["769794"]
    assert (logon["event_id"], logon["level"]) == ("4624", "audit_success")
    assert logon["user"] == "3B\\Administrator"
    assert logon["source_ip"] == "172.16.66.37"
    assert logon["fields"]["IpPort"] == "49959"
    assert records["769798"]["source_ip"] == "::1"
    assert records["769796"]["event_id"] == "4724"
    assert records["769796"]["user"] == "3B\\01566S-WIN16-IR$"


def test_loopback_and_remote_addresses_of_rdp_logons_are_kept_as_written(
    evtx_dir: Path,
) -> None:
    records = by_id(parse_wevtutil_xml(live_text(evtx_dir / "rdp-tunneling-4624.evtx")))
    addresses = {record_id: record["source_ip"] for record_id, record in records.items()}
    assert {k: v for k, v in addresses.items() if v} == {
        "5308": "127.0.0.1",
        "5315": "127.0.0.1",
        "5319": "127.0.0.1",
        "5322": "10.0.2.17",
        "5323": "10.0.2.17",
    }
    assert records["5315"]["user"] == "PC02\\IEUser"
    assert records["5315"]["fields"]["LogonType"] == "10"
    assert records["5322"]["user"] == "NT AUTHORITY\\ANONYMOUS LOGON"
    assert records["5322"]["time"] == "2019-02-13T15:31:19.529518Z"


@pytest.mark.parametrize(
    ("name", "record_id", "user"),
    [
        ("pwd-reset-4724-4776-dc.evtx", "769792", "3B\\a-jbrown"),
        ("mixed-5156-4688-4624-1102.evtx", "227693", "EXAMPLE\\admin01"),
    ],
)
def test_audit_log_cleared_comes_through_with_its_user(
    evtx_dir: Path, name: str, record_id: str, user: str
) -> None:
    cleared = by_id(parse_wevtutil_xml(live_text(evtx_dir / name)))[record_id]
    assert cleared["event_id"] == "1102"
    assert cleared["user"] == user
    assert cleared["fields"]["SubjectUserName"] == user.split("\\")[1]
    assert str(cleared["message"]).startswith("Audit log cleared")


def test_group_membership_names_the_group_and_the_account_that_changed_it(
    evtx_dir: Path,
) -> None:
    added = by_id(parse_wevtutil_xml(live_text(evtx_dir / "group-member-added-4732.evtx")))
    first = added["191029"]
    assert first["user"] == "MSEDGEWIN10\\IEUser"
    assert first["fields"]["MemberSid"] == "S-1-5-21-3461203602-4096304019-2269080069-501"
    assert "Member added to local group" in str(first["message"])
    assert "group Administrators" in str(first["message"])


def test_account_created_is_about_the_new_account(evtx_dir: Path) -> None:
    created = by_id(parse_wevtutil_xml(live_text(evtx_dir / "account-created-4720.evtx")))
    assert set(created) == {"769629", "769634"}
    assert created["769629"]["user"] == "3B\\$"
    assert created["769629"]["fields"]["SubjectUserName"] == "01566S-WIN16-IR$"


def test_filtering_platform_events_have_no_user(evtx_dir: Path) -> None:
    records = parse_wevtutil_xml(live_text(evtx_dir / "mixed-5156-4688-4624-1102.evtx"))
    network = [record for record in records if record["event_id"] in ("5156", "5158")]
    assert len(network) == 72
    assert all(record["user"] is None for record in network)


def test_empty_output_has_no_records() -> None:
    assert parse_wevtutil_xml("") == []
    assert parse_wevtutil_xml("\r\n") == []


def test_broken_xml_is_an_events_error() -> None:
    with pytest.raises(events.EventsError, match="does not parse"):
        parse_wevtutil_xml("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>")


def test_utf16_output_with_a_byte_order_mark_decodes_like_utf8(evtx_dir: Path) -> None:
    text = live_text(evtx_dir / "account-created-4720.evtx")
    assert decode_output(text.encode("utf-16")) == text
    assert decode_output(text.encode("utf-8")) == text


# ---------------------------------------------------------------- reading with a cursor


class ReplayedWevtutil:
    """Answers ``wevtutil qe Security`` arguments from real records, as Windows would.

    ``/rd:true`` reads newest first, otherwise oldest first; ``/c:N`` caps the count;
    ``/q:*[System[EventRecordID>K]]`` keeps the records after ``K``.
    """

    def __init__(self, event_xml: Sequence[str], exit_code: int = 0, stderr: bytes = b""):
        self.events = sorted((_record_id(xml), live_form(xml)) for xml in event_xml)
        self.exit_code = exit_code
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> tuple[int, bytes, bytes]:
        self.calls.append(args)
        assert args[:4] == ["wevtutil", "qe", "Security", "/f:xml"]
        if self.exit_code:
            return self.exit_code, b"", self.stderr
        chosen = list(self.events)
        for arg in args[4:]:
            query = re.fullmatch(r"/q:\*\[System\[EventRecordID>(\d+)\]\]", arg)
            if query:
                chosen = [item for item in chosen if item[0] > int(query.group(1))]
        if "/rd:true" in args:
            chosen.reverse()
        count = next(int(arg[3:]) for arg in args if arg.startswith("/c:"))
        return 0, "".join(xml for _, xml in chosen[:count]).encode("utf-8"), b""


def _record_id(event_xml: str) -> int:
    match = re.search(r"<EventRecordID>(\d+)<", event_xml)
    assert match, event_xml
    return int(match.group(1))


@pytest.fixture
def mixed_log(evtx_dir: Path) -> ReplayedWevtutil:
    return ReplayedWevtutil(evtx_events(evtx_dir / "mixed-5156-4688-4624-1102.evtx"))


def record_ids(result: dict[str, object]) -> list[int]:
    return [record_number(record) for record in result["records"]]  # type: ignore[attr-defined]


def renumbered(event_xml: str, record_id: int) -> str:
    """One ``<Event>`` with its EventRecordID replaced, as after a log was cleared."""
    return re.sub(r"<EventRecordID>\d+<", f"<EventRecordID>{record_id}<", event_xml, count=1)


def test_first_run_returns_the_newest_records_oldest_first(mixed_log: ReplayedWevtutil) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    result = read_security_log({}, 40, run=mixed_log)
    assert record_ids(result) == all_ids[-40:]
    assert result["truncated"] is True
    assert result["resets"] == []
    assert result["cursor"] == {SOURCE: {"record_id": all_ids[-1]}}


def test_first_run_over_a_short_log_returns_everything(mixed_log: ReplayedWevtutil) -> None:
    result = read_security_log({}, 500, run=mixed_log)
    assert len(result["records"]) == 101
    assert result["truncated"] is False


def test_cursor_in_the_middle_returns_only_newer_records(mixed_log: ReplayedWevtutil) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    middle = all_ids[60]
    result = read_security_log({SOURCE: {"record_id": middle}}, 500, run=mixed_log)
    assert record_ids(result) == all_ids[61:]
    assert result["truncated"] is False
    assert result["resets"] == []
    assert result["cursor"] == {SOURCE: {"record_id": all_ids[-1]}}
    assert mixed_log.calls[-1] == wevtutil_args(501, after=middle)


def test_capped_runs_continue_where_the_last_one_stopped(mixed_log: ReplayedWevtutil) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    since: dict[str, object] = {SOURCE: {"record_id": all_ids[10]}}
    seen: list[int] = []
    flags = []
    for _ in range(5):
        result = read_security_log(since, 30, run=mixed_log)
        seen += record_ids(result)
        flags.append(result["truncated"])
        since = result["cursor"]  # type: ignore[assignment]
    assert seen == all_ids[11:]
    assert flags == [True, True, False, False, False]  # 90 newer records, 30 a run


def test_nothing_new_returns_no_records_and_keeps_the_cursor(mixed_log: ReplayedWevtutil) -> None:
    newest = mixed_log.events[-1][0]
    result = read_security_log({SOURCE: {"record_id": newest}}, 500, run=mixed_log)
    assert result["records"] == []
    assert result["cursor"] == {SOURCE: {"record_id": newest}}
    assert len(mixed_log.calls) == 1


def test_cursor_past_the_newest_record_means_the_log_was_cleared(
    mixed_log: ReplayedWevtutil,
) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    result = read_security_log({SOURCE: {"record_id": 9_000_000}}, 10, run=mixed_log)
    assert result["resets"] == [SOURCE]
    assert record_ids(result) == all_ids[-10:]
    assert result["cursor"] == {SOURCE: {"record_id": all_ids[-1]}}


def test_records_of_a_cleared_log_whose_numbering_restarts_get_new_record_ids(
    evtx_dir: Path, mixed_log: ReplayedWevtutil
) -> None:
    first = read_security_log({}, 500, run=mixed_log)
    later = evtx_events(evtx_dir / "logon-4624-4625.evtx") + evtx_events(
        evtx_dir / "account-created-4720.evtx"
    )
    numbers = record_ids(first)[: len(later)]
    cleared = ReplayedWevtutil([renumbered(xml, n) for xml, n in zip(later, numbers, strict=True)])
    second = read_security_log(first["cursor"], 500, run=cleared)
    assert second["resets"] == [SOURCE]
    assert record_ids(second) == numbers
    earlier = {record["record_id"] for record in first["records"]}  # type: ignore[attr-defined]
    assert not {record["record_id"] for record in second["records"]} & earlier


def test_access_denied_says_to_join_event_log_readers(evtx_dir: Path) -> None:
    denied = ReplayedWevtutil([], exit_code=5, stderr=b"Failed to read events. Access is denied.")
    with pytest.raises(events.EventsError, match="Event Log Readers"):
        read_security_log({}, 10, run=denied)


def test_other_wevtutil_failures_carry_its_message() -> None:
    broken = ReplayedWevtutil([], exit_code=15007, stderr=b"Failed to read events. Oops.\r\n")
    with pytest.raises(events.EventsError, match=r"exit 15007: Failed to read events\. Oops\."):
        read_security_log({}, 10, run=broken)


def test_missing_wevtutil_is_an_events_error() -> None:
    def missing(args: list[str]) -> tuple[int, bytes, bytes]:
        raise FileNotFoundError(2, "No such file or directory", args[0])

    with pytest.raises(events.EventsError, match="cannot run wevtutil"):
        read_security_log({}, 10, run=missing)
