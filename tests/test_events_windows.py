"""The Windows Security log path, fed with real Security logs recorded on Windows hosts.

The ``.evtx`` files live outside the repository (see ``shared/fixtures/windows-security-evtx
/README.md``); python-evtx turns each record into the ``<Event>`` XML that Windows
renders, and the tests rewrite it into what ``wevtutil qe Security /f:xml`` prints on a
live host. ``wevtutil`` itself cannot run here, so the incremental reading is driven by a
runner that answers ``wevtutil``'s arguments from those real records.
"""

from __future__ import annotations

import collections
import datetime
import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from fleetstat.agent import events, events_windows, meanings
from fleetstat.agent.events import Options
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
    assert str(failed["message"]).startswith(
        "logon failed: bad user name or authentication information (0xc000006d); "
        "wrong password (0xc000006a); by MSEDGEWIN10\\IEUser; account MSEDGEWIN10\\IEUser; "
        "logon type interactive (2); workstation MSEDGEWIN10"
    )


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
    assert cleared["message"] == f"audit log cleared; by {user}"
    assert cleared["actor"] == user


def test_group_membership_names_the_group_and_the_account_that_changed_it(
    evtx_dir: Path,
) -> None:
    added = by_id(parse_wevtutil_xml(live_text(evtx_dir / "group-member-added-4732.evtx")))
    first = added["191029"]
    assert first["user"] == "MSEDGEWIN10\\IEUser"
    assert first["fields"]["MemberSid"] == "S-1-5-21-3461203602-4096304019-2269080069-501"
    assert first["actor"] == "MSEDGEWIN10\\IEUser"
    assert first["target"] == "S-1-5-21-3461203602-4096304019-2269080069-501"
    assert first["fields"]["group"] == "Builtin\\Administrators"
    assert first["message"] == (
        "member added to a security-enabled local group; by MSEDGEWIN10\\IEUser; "
        "member S-1-5-21-3461203602-4096304019-2269080069-501; group Builtin\\Administrators"
    )


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


def test_broken_xml_that_holds_no_event_gives_no_record() -> None:
    assert parse_wevtutil_xml("<Event><System>") == []
    unclosed = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
    assert parse_wevtutil_xml(unclosed) == []


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

    def __init__(
        self,
        event_xml: Sequence[str],
        exit_code: int = 0,
        stderr: bytes = b"",
        now: datetime.datetime | None = None,
    ):
        self.events = sorted((_record_id(xml), live_form(xml)) for xml in event_xml)
        self.exit_code = exit_code
        self.stderr = stderr
        self.now = now
        self.calls: list[list[str]] = []
        self.timeouts: list[float | None] = []

    def __call__(self, args: list[str], timeout: float | None = None) -> tuple[int, bytes, bytes]:
        self.calls.append(args)
        self.timeouts.append(timeout)
        assert args[:5] == ["wevtutil", "qe", "Security", "/f:xml", "/uni:true"]
        if self.exit_code:
            return self.exit_code, b"", self.stderr
        chosen = list(self.events)
        for arg in args[5:]:
            query = re.fullmatch(r"/q:\*\[System\[EventRecordID>(\d+)\]\]", arg)
            if query:
                chosen = [item for item in chosen if item[0] > int(query.group(1))]
            window = re.fullmatch(
                r"/q:\*\[System\[TimeCreated\[timediff\(@SystemTime\) <= (\d+)\]\]\]", arg
            )
            if window:
                assert self.now is not None
                limit = datetime.timedelta(milliseconds=int(window.group(1)))
                chosen = [item for item in chosen if self.now - _created(item[1]) <= limit]
        if "/rd:true" in args:
            chosen.reverse()
        count = next(int(arg[3:]) for arg in args if arg.startswith("/c:"))
        # /uni:true: UTF-16 little-endian without a byte order mark, as wevtutil writes it
        return 0, "".join(xml for _, xml in chosen[:count]).encode("utf-16-le"), b""


def _created(live_xml: str) -> datetime.datetime:
    match = re.search(r"SystemTime='([^']+)'", live_xml)
    assert match, live_xml
    return datetime.datetime.fromisoformat(match.group(1)[:26] + "+00:00")


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
    result = read_security_log({}, Options(40), run=mixed_log)
    assert record_ids(result) == all_ids[-40:]
    assert result["truncated"] is True
    assert result["resets"] == []
    assert result["cursor"] == {SOURCE: {"record_id": all_ids[-1]}}


def test_first_run_over_a_short_log_returns_everything(mixed_log: ReplayedWevtutil) -> None:
    result = read_security_log({}, Options(500), run=mixed_log)
    assert len(result["records"]) == 101
    assert result["truncated"] is False


def test_cursor_in_the_middle_returns_only_newer_records(mixed_log: ReplayedWevtutil) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    middle = all_ids[60]
    result = read_security_log({SOURCE: {"record_id": middle}}, Options(500), run=mixed_log)
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
        result = read_security_log(since, Options(30), run=mixed_log)
        seen += record_ids(result)
        flags.append(result["truncated"])
        since = result["cursor"]  # type: ignore[assignment]
    assert seen == all_ids[11:]
    assert flags == [True, True, False, False, False]  # 90 newer records, 30 a run


def test_nothing_new_returns_no_records_and_keeps_the_cursor(mixed_log: ReplayedWevtutil) -> None:
    newest = mixed_log.events[-1][0]
    result = read_security_log({SOURCE: {"record_id": newest}}, Options(500), run=mixed_log)
    assert result["records"] == []
    assert result["cursor"] == {SOURCE: {"record_id": newest}}
    assert len(mixed_log.calls) == 1


def test_cursor_past_the_newest_record_means_the_log_was_cleared(
    mixed_log: ReplayedWevtutil,
) -> None:
    all_ids = [record_id for record_id, _ in mixed_log.events]
    result = read_security_log({SOURCE: {"record_id": 9_000_000}}, Options(10), run=mixed_log)
    assert result["resets"] == [SOURCE]
    assert record_ids(result) == all_ids[-10:]
    assert result["cursor"] == {SOURCE: {"record_id": all_ids[-1]}}


def test_records_of_a_cleared_log_whose_numbering_restarts_get_new_record_ids(
    evtx_dir: Path, mixed_log: ReplayedWevtutil
) -> None:
    first = read_security_log({}, Options(500), run=mixed_log)
    later = evtx_events(evtx_dir / "logon-4624-4625.evtx") + evtx_events(
        evtx_dir / "account-created-4720.evtx"
    )
    numbers = record_ids(first)[: len(later)]
    cleared = ReplayedWevtutil([renumbered(xml, n) for xml, n in zip(later, numbers, strict=True)])
    second = read_security_log(first["cursor"], Options(500), run=cleared)
    assert second["resets"] == [SOURCE]
    assert record_ids(second) == numbers
    earlier = {record["record_id"] for record in first["records"]}  # type: ignore[attr-defined]
    assert not {record["record_id"] for record in second["records"]} & earlier


def test_access_denied_says_to_join_event_log_readers(evtx_dir: Path) -> None:
    denied = ReplayedWevtutil([], exit_code=5, stderr=b"Failed to read events. Access is denied.")
    with pytest.raises(events.EventsError, match="Event Log Readers"):
        read_security_log({}, Options(10), run=denied)


def test_other_wevtutil_failures_carry_its_message() -> None:
    broken = ReplayedWevtutil([], exit_code=15007, stderr=b"Failed to read events. Oops.\r\n")
    with pytest.raises(events.EventsError, match=r"exit 15007: Failed to read events\. Oops\."):
        read_security_log({}, Options(10), run=broken)


def test_missing_wevtutil_is_an_events_error() -> None:
    def missing(args: list[str], timeout: float | None = None) -> tuple[int, bytes, bytes]:
        raise FileNotFoundError(2, "No such file or directory", args[0])

    with pytest.raises(events.EventsError, match="cannot run wevtutil"):
        read_security_log({}, Options(10), run=missing)


# ---------------------------------------------------------------- meanings, actors, targets


def all_records(evtx_dir: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for name in sorted(EXPECTED_IDS):
        found += parse_wevtutil_xml(live_text(evtx_dir / name))
    return found


def test_every_event_id_in_the_real_logs_has_a_meaning(evtx_dir: Path) -> None:
    ids = {str(record["event_id"]) for record in all_records(evtx_dir)}
    assert ids >= {"4624", "4625", "4720", "4732", "1102", "4776", "4724", "5145", "4688"}
    assert {event_id for event_id in ids if meanings.meaning(event_id) is None} == set()
    messages = [str(record["message"]) for record in all_records(evtx_dir)]
    assert not [m for m in messages if "no meaning known" in m]


# Audit-relevant ids of "Appendix L: Events to Monitor" and of the "Advanced security
# audit policy" subcategories (logon, privileges, accounts, groups, Kerberos and NTLM,
# tasks, services, policy, the log, directory service, object and share access).
APPENDIX_L = [
    "1100", "1102", "1104", "4608", "4610", "4611", "4614", "4616", "4618", "4621", "4622",
    "4624", "4625", "4634", "4647", "4648", "4649", "4656", "4657", "4660", "4662", "4663",
    "4670", "4672", "4673", "4674", "4675", "4688", "4692", "4693", "4697", "4698", "4699",
    "4700", "4701", "4702", "4703", "4704", "4705", "4706", "4707", "4713", "4714", "4715",
    "4716", "4717", "4718", "4719", "4720", "4722", "4723", "4724", "4725", "4726", "4727",
    "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4738", "4739",
    "4740", "4741", "4742", "4743", "4754", "4755", "4756", "4757", "4758", "4764", "4765",
    "4766", "4767", "4768", "4769", "4770", "4771", "4772", "4773", "4776", "4777", "4778",
    "4779", "4780", "4781", "4782", "4793", "4794", "4797", "4798", "4799", "4800", "4801",
    "4817", "4820", "4821", "4822", "4823", "4824", "4865", "4866", "4867", "4902", "4904",
    "4905", "4906", "4907", "4908", "4912", "4928", "4929", "4932", "4933", "4946", "4947",
    "4948", "4950", "4954", "4956", "4964", "5025", "5030", "5136", "5137", "5138", "5139",
    "5140", "5141", "5142", "5143", "5144", "5145", "5148", "5156", "5157", "5158", "5159",
    "5376", "5377", "6272", "6273", "6281", "6416",
    "1101", "4816", "5038", "5027", "5028", "5029", "5031", "5168", "5827", "5828", "5829", "4868",
    "4870", "4882", "4885", "4890", "4892", "4896", "4897", "5120", "5124",
    # account, logon, Kerberos, policy, group and directory ids the list adds
    "4661", "4744", "4745", "4746", "4747", "4748", "4749", "4750", "4751", "4752", "4753",
    "4759", "4760", "4761", "4762", "4763", "4774", "4775", "4783", "4784", "4785", "4786",
    "4787", "4788", "4789", "4790", "4791", "4792", "4802", "4803", "4825", "4830", "4864",
    "4911", "4913", "4930", "4931", "4934", "4935", "4936", "4937", "5378", "6144", "6145",
    # IPsec, network policy server, 802.1X, firewall and filtering platform policy
    "4646", "4650", "4651", "4652", "4653", "4654", "4655", "4709", "4710", "4711", "4712",
    "4909", "4910", "4949", "4951", "4952", "4953", "4957", "4958", "4976", "4977", "4978",
    "4979", "4980", "4981", "4982", "4983", "4984", "5040", "5041", "5042", "5043", "5044",
    "5045", "5046", "5047", "5048", "5440", "5441", "5442", "5443", "5444", "5446", "5447",
    "5448", "5449", "5450", "5451", "5452", "5453", "5456", "5457", "5458", "5459", "5460",
    "5461", "5462", "5463", "5464", "5465", "5466", "5467", "5468", "5471", "5472", "5473",
    "5474", "5477", "5479", "5480", "5483", "5484", "5485", "5632", "5633", "6274", "6275",
    "6276", "6277", "6278", "6279", "6280",
]  # fmt: skip


def test_the_meaning_table_covers_the_audit_relevant_windows_ids() -> None:
    assert [event_id for event_id in APPENDIX_L if meanings.meaning(event_id) is None] == []


def test_every_linux_event_name_has_a_meaning() -> None:
    names = [
        "sshd.accepted_publickey", "sshd.failed_password", "sshd.invalid_user",
        "sshd.user_not_allowed", "sshd.max_auth_attempts", "sudo.command", "sudo.auth_failure",
        "sudo.refused", "su.session_opened", "su.session_closed", "su.switch_user",
        "su.auth_failure", "su.failed", "login.failed", "login.root", "login.session_opened",
        "useradd", "userdel", "usermod", "groupadd", "groupdel", "passwd", "chpasswd",
        "gpasswd", "log.forged",
    ]  # fmt: skip
    assert [name for name in names if meanings.meaning(name) is None] == []


def test_actor_and_target_of_account_changes_are_kept(evtx_dir: Path) -> None:
    records = by_id(parse_wevtutil_xml(live_text(evtx_dir / "pwd-reset-4724-4776-dc.evtx")))
    reset = records["769796"]
    assert (reset["actor"], reset["target"]) == ("3B\\Administrator", "3B\\01566S-WIN16-IR$")
    assert reset["message"] == (
        "password reset attempted; by 3B\\Administrator; account 3B\\01566S-WIN16-IR$"
    )
    logon = records["769794"]
    assert logon["actor"] is None  # the NULL SID did it
    assert "logon type network (3); workstation 02694W-WIN10" in str(logon["message"])


def _edited(evtx_dir: Path, name: str, record_id: str, old: str, new: str) -> str:
    """The live XML of one real record with ``old`` replaced by ``new``."""
    for xml in evtx_events(evtx_dir / name):
        if f"<EventRecordID>{record_id}<" in xml:
            assert old in xml
            return live_form(xml.replace(old, new, 1))
    raise AssertionError(record_id)


def test_an_ipv4_mapped_address_is_its_ipv4_address(evtx_dir: Path) -> None:
    xml = _edited(evtx_dir, "pwd-reset-4724-4776-dc.evtx", "769794", ">172.16.66.37<",
                  ">::ffff:172.16.66.37<")  # fmt: skip
    [logon] = parse_wevtutil_xml(xml)
    assert logon["source_ip"] == "172.16.66.37"


def test_a_name_that_carries_its_realm_does_not_repeat_it(evtx_dir: Path) -> None:
    xml = _edited(evtx_dir, "pwd-reset-4724-4776-dc.evtx", "769794",
                  ">Administrator<", ">Administrator@3B.EXAMPLE<")  # fmt: skip
    [logon] = parse_wevtutil_xml(xml)
    assert logon["target"] == "Administrator@3B.EXAMPLE"
    assert logon["user"] == "Administrator@3B.EXAMPLE"


def test_kerberos_failures_are_worded_as_failures_with_the_result_decoded() -> None:
    failed = {
        "event_id": "4771",
        "level": "audit_failure",
        "target": "CORP\\bob",
        "fields": {"Status": "0x18", "IpAddress": "10.0.0.7"},
    }
    assert meanings.describe(failed).startswith(
        "Kerberos pre-authentication failed: pre-authentication failed (wrong password) (0x18)"
    )
    ticket = {"event_id": "4768", "level": "audit_success", "fields": {"Status": "0x12"}}
    assert meanings.describe(ticket).startswith(
        "Kerberos ticket (TGT) request failed: client revoked (disabled, expired or locked out)"
    )
    granted = {"event_id": "4768", "level": "audit_success", "fields": {"Status": "0x0"}}
    assert meanings.describe(granted) == "Kerberos ticket (TGT) requested"


def test_a_rename_names_the_old_and_the_new_name() -> None:
    renamed = {
        "event_id": "4781",
        "level": "audit_success",
        "actor": "CORP\\admin",
        "target": "bob2",
        "fields": {"OldTargetUserName": "bob", "NewTargetUserName": "bob2"},
    }
    assert meanings.describe(renamed) == (
        "account renamed; by CORP\\admin; account bob2; old name bob; new name bob2"
    )


def test_a_scheduled_task_event_names_the_task() -> None:
    task = {"event_id": "4698", "level": "audit_success", "actor": "CORP\\admin",
            "fields": {"TaskName": "\\Microsoft\\Evil"}}  # fmt: skip
    assert (
        meanings.describe(task) == "scheduled task created; by CORP\\admin; task \\Microsoft\\Evil"
    )


# ---------------------------------------------------------------- what wevtutil prints


def test_a_character_xml_forbids_is_replaced_and_the_cursor_moves_past_it(evtx_dir: Path) -> None:
    events_xml = list(evtx_events(evtx_dir / "logon-4624-4625.evtx"))
    old = '"TargetUserName">IEUser<'
    index = next(i for i, xml in enumerate(events_xml) if old in xml)
    events_xml[index] = events_xml[index].replace(old, '"TargetUserName">IE&#x1;Us\x02er<')
    log = ReplayedWevtutil(events_xml)
    first = read_security_log({}, Options(500), run=log)
    assert len(first["records"]) == 4
    assert "MSEDGEWIN10\\IE\ufffdUs\ufffder" in {r["target"] for r in first["records"]}
    assert first["cursor"][SOURCE]["record_id"] == max(record_ids(first))


def test_names_outside_the_console_code_page_come_through(evtx_dir: Path) -> None:
    events_xml = [xml.replace(">IEUser<", ">Jürgen_Ωμέγα<") for xml in
                  evtx_events(evtx_dir / "logon-4624-4625.evtx")]  # fmt: skip
    records = read_security_log({}, Options(500), run=ReplayedWevtutil(events_xml))["records"]
    assert "MSEDGEWIN10\\Jürgen_Ωμέγα" in {r["user"] for r in records}


def test_a_first_run_reads_only_its_time_window_and_every_query_has_the_budget(
    mixed_log: ReplayedWevtutil,
) -> None:
    newest = max(_created(xml) for _, xml in mixed_log.events)
    mixed_log.now = newest + datetime.timedelta(minutes=1)
    result = read_security_log({}, Options(500, window=120, budget=7.0), run=mixed_log)
    times = [str(r["time"]) for r in result["records"]]
    assert times and min(times) >= (newest - datetime.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    assert len(result["records"]) < 101
    assert mixed_log.timeouts == [7.0]


def test_the_logon_of_the_agents_own_ssh_session_is_marked(
    monkeypatch: pytest.MonkeyPatch, evtx_dir: Path
) -> None:
    log = ReplayedWevtutil(evtx_events(evtx_dir / "pwd-reset-4724-4776-dc.evtx"))
    monkeypatch.setenv("SSH_CONNECTION", "172.16.66.37 49959 10.0.0.1 22")
    records = by_id(events.windows_security({}, Options(10), run=log)["records"])
    assert records["769794"]["own_session"] is True  # IpAddress and IpPort are ours
    ours = {n for n, r in records.items() if r["fields"].get("IpPort") == "49959"}  # type: ignore[attr-defined]
    assert {n for n, r in records.items() if r["own_session"]} == ours
    monkeypatch.setenv("SSH_CONNECTION", "172.16.66.37 50000 10.0.0.1 22")
    records = by_id(events.windows_security({}, Options(10), run=log)["records"])
    assert records["769794"]["own_session"] is False


@pytest.mark.parametrize(
    ("status", "sub_status"),
    [("0xc000006d", "0xc000006a"), ("0xC000006D", "0xC000006A")],
    ids=["short", "upper"],
)
def test_a_failed_logons_status_codes_are_decoded_in_either_form(
    evtx_dir: Path, status: str, sub_status: str
) -> None:
    xml = _edited(evtx_dir, "logon-4624-4625.evtx", "137222", ">0xc000006a<", f">{sub_status}<")
    xml = xml.replace(">0xc000006d<", f">{status}<", 1)
    [failed] = parse_wevtutil_xml(xml)
    assert failed["message"].startswith(
        f"logon failed: bad user name or authentication information ({status}); "
        f"wrong password ({sub_status})"
    )


def test_a_zero_padded_success_is_a_success_and_a_padded_failure_is_decoded(
    evtx_dir: Path,
) -> None:
    [validated] = parse_wevtutil_xml(
        _edited(evtx_dir, "pwd-reset-4724-4776-dc.evtx", "769793", ">0x00000000<", ">0x00000000<")
    )
    assert validated["fields"]["Status"] == "0x00000000"  # as the real log writes it
    assert "status" not in validated["message"] and "failed" not in validated["message"]
    [refused] = parse_wevtutil_xml(
        _edited(evtx_dir, "pwd-reset-4724-4776-dc.evtx", "769793", ">0x00000000<", ">0xC0000064<")
    )
    assert "no such user (0xC0000064)" in refused["message"]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("0x0", None),
        ("0x00000000", None),
        ("0x6", "client unknown (0x6)"),
        ("0x00000006", "client unknown (0x00000006)"),
        ("0x18", "pre-authentication failed (wrong password) (0x18)"),
        ("0x00000018", "pre-authentication failed (wrong password) (0x00000018)"),
    ],
)
def test_kerberos_result_codes_are_compared_as_numbers(status: str, words: str | None) -> None:
    for event_id in ("4768", "4769"):
        ticket = {"event_id": event_id, "level": "audit_success", "fields": {"Status": status}}
        assert meanings.failed(ticket) is (words is not None)
        line = meanings.describe(ticket)
        assert (words in line) if words else ("failed" not in line)


def test_every_membership_change_names_the_member_as_its_target_and_the_admin_as_actor() -> None:
    fields = {"SubjectUserName": "admin", "SubjectDomainName": "CORP",
              "SubjectUserSid": "S-1-5-21-1", "TargetUserName": "Helpdesk",
              "TargetDomainName": "CORP", "MemberName": "CN=bob,DC=corp"}  # fmt: skip
    words = {i: (meanings.meaning(i) or ("", "", ""))[1] for i in APPENDIX_L}
    changes = [i for i, w in words.items() if "member added" in w or "member removed" in w]
    assert len(changes) >= 12
    for event_id in changes:
        assert events_windows.event_target(event_id, fields) == "CN=bob,DC=corp", event_id
        assert events_windows.event_actor(fields) == "CORP\\admin"
        assert events_windows.event_user(event_id, fields) == "CORP\\admin"
