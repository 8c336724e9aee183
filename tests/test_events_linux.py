"""Linux auth events: lines a real OpenSSH ``sshd`` wrote, in every prefix we read.

A real ``sshd`` on loopback takes one wrong and one right password login and logs them
with ``-E`` (bare message bodies); the same bodies are then wrapped in the classic
syslog prefix and in rsyslog's RFC 3339 prefix, and written into an auth file to
exercise the file cursor (incremental reads, rotation, truncation).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from fleetstat.agent import journal as journal_module
from fleetstat.agent import linux_auth
from fleetstat.agent.authfile import read_auth_file
from fleetstat.agent.events import EventsError, Options
from fleetstat.agent.events_linux import (
    decode_line,
    journal_record_id,
    parse_auth_line,
    parse_auth_message,
    parse_journal_entry,
    unescape_octal,
)
from fleetstat.agent.journal import Journal, JournalState, read_journal
from tests.support.sshd import SshdFactory, SshUser


def read_auth_events(
    since: dict[str, Any], max_events: int, journal: Journal, files: tuple[str, ...]
) -> dict[str, Any]:
    """``linux_auth.read_auth_events`` with no time window and no session of its own."""
    options = Options(max_events)
    return linux_auth.read_auth_events(since, options, journal, files, session=(None, frozenset()))


SOURCE = "linux-auth"
UTC = datetime.UTC
LOG_WAIT = 10.0  # seconds to wait for sshd (or journald) to write its lines
JOURNALD = "/lib/systemd/systemd-journald"


async def _login(port: int, user: str, password: str) -> bool:
    """One password login to 127.0.0.1; True when it was accepted."""
    try:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username=user,
            password=password,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
        ):
            return True
    except asyncssh.PermissionDenied:
        return False


@pytest.fixture(scope="module")
def sshd_bodies(ssh_user: SshUser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The lines a fresh ``sshd -E`` wrote for one wrong and one right password login."""
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("/usr/sbin/sshd is not installed")
    factory = SshdFactory(tmp_path_factory.mktemp("auth-events"))
    try:
        server = factory(["127.0.0.1"])
        assert not asyncio.run(_login(server.port, ssh_user.name, "not-" + ssh_user.password))
        assert asyncio.run(_login(server.port, ssh_user.name, ssh_user.password))
        deadline = time.monotonic() + LOG_WAIT
        while "Accepted password" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield [line.rstrip("\r") for line in server.log_text().splitlines()]
    finally:
        factory.close()


def syslog_form(body: str, pid: int = 4242) -> str:
    return f"Nov 27 12:00:01 web01 sshd[{pid}]: {body}"


def rfc3339_form(body: str, pid: int = 4242) -> str:
    return f"2026-11-27T13:00:01.250000+01:00 web01 sshd[{pid}]: {body}"


def meanings(bodies: list[str]) -> list[dict[str, object]]:
    found = (parse_auth_message("sshd", body) for body in bodies)
    return [meaning for meaning in found if meaning is not None]


# ---------------------------------------------------------------- real sshd lines


def test_real_sshd_wrong_and_right_password_give_one_failure_and_one_success(
    sshd_bodies: list[str], ssh_user: SshUser
) -> None:
    found = meanings(sshd_bodies)
    assert [m["event_id"] for m in found] == ["sshd.failed_password", "sshd.accepted_password"]
    assert [m["level"] for m in found] == ["audit_failure", "audit_success"]
    assert {m["user"] for m in found} == {ssh_user.name}
    assert {m["source_ip"] for m in found} == {"127.0.0.1"}
    assert found[0]["fields"]["method"] == "password"  # type: ignore[index]
    assert found[0]["fields"]["invalid_user"] is False  # type: ignore[index]


def test_real_sshd_lines_in_syslog_form_keep_time_pid_and_message(
    sshd_bodies: list[str], ssh_user: SshUser
) -> None:
    records = [parse_auth_line(syslog_form(b), 2026, tz=UTC) for b in sshd_bodies]
    found = [record for record in records if record is not None]
    assert [r["event_id"] for r in found] == ["sshd.failed_password", "sshd.accepted_password"]
    failed = found[0]
    assert failed["time"] == "2026-11-27T12:00:01.000000Z"
    assert failed["user"] == ssh_user.name
    assert failed["source_ip"] == "127.0.0.1"
    assert failed["source"] == SOURCE
    assert failed["fields"]["pid"] == "4242"
    assert failed["fields"]["host"] == "web01"
    assert str(failed["message"]).startswith(f"Failed password for {ssh_user.name} from 127.0.0.1")


def test_real_sshd_lines_in_rfc3339_form_are_read_with_their_offset(
    sshd_bodies: list[str],
) -> None:
    records = [parse_auth_line(rfc3339_form(b), 1999) for b in sshd_bodies]
    found = [record for record in records if record is not None]
    assert [r["event_id"] for r in found] == ["sshd.failed_password", "sshd.accepted_password"]
    assert {r["time"] for r in found} == {"2026-11-27T12:00:01.250000Z"}


def test_lines_that_say_nothing_about_auth_are_skipped(sshd_bodies: list[str]) -> None:
    quiet = [b for b in sshd_bodies if not b.startswith(("Failed ", "Accepted "))]
    assert quiet  # "Server listening on ...", "Connection closed by ..."
    assert meanings(quiet) == []
    assert parse_auth_line("not a syslog line", 2026) is None
    assert parse_auth_line("Nov 27 12:00:01 web01 cron[1]: (root) CMD (true)", 2026) is None


# ---------------------------------------------------------------- other auth lines


AUTH_LINES = [
    # (program, message body, (event id, level, user, source IP))
    ("sshd", "Failed password for invalid user admin from 203.0.113.9 port 40022 ssh2",
     ("sshd.failed_password", "audit_failure", "admin", "203.0.113.9")),
    ("sshd", "Invalid user admin from 203.0.113.9 port 40022",
     ("sshd.invalid_user", "audit_failure", "admin", "203.0.113.9")),
    ("sshd", "Accepted publickey for deploy from 192.0.2.4 port 51000 ssh2: "
     "ED25519 SHA256:2VkLq0Xn6kMzZ0Yq9iZ8jW1bM5cX4aT3rQ2pO1nM0lK",
     ("sshd.accepted_publickey", "audit_success", "deploy", "192.0.2.4")),
    ("sshd-session", "Accepted keyboard-interactive/pam for ana from 192.0.2.5 port 2 ssh2",
     ("sshd.accepted_keyboard_interactive_pam", "audit_success", "ana", "192.0.2.5")),
    ("sudo", "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id -u",
     ("sudo.command", "audit_success", "alice", None)),
    ("sudo", "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; "
     "USER=root ; COMMAND=/bin/bash",
     ("sudo.auth_failure", "audit_failure", "alice", None)),
    ("sudo", "bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
     ("sudo.refused", "audit_failure", "bob", None)),
    ("su", "pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
     ("su.session_opened", "audit_success", "alice", None)),
    ("su", "pam_unix(su-l:session): session closed for user root",
     ("su.session_closed", "information", "root", None)),
    ("su", "pam_unix(su:session): session opened for user nobody(uid=65534) by (uid=0)",
     ("su.session_opened", "audit_success", "root", None)),
    ("userdel", "removed group 'carol' owned by 'carol'",
     ("userdel", "information", "carol", None)),
    ("userdel", "removed shadow group 'ops' owned by 'carol'",
     ("userdel", "information", "carol", None)),
    ("groupadd", "new group: name=ops, GID=1004",
     ("groupadd", "information", None, None)),
    ("groupdel", "group 'ops' removed",
     ("groupdel", "information", None, None)),
    ("su", "pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 "
     "tty=/dev/pts/0 ruser=alice rhost=  user=root",
     ("su.auth_failure", "audit_failure", "alice", None)),
    ("su", "FAILED SU (to root) alice on pts/0",
     ("su.failed", "audit_failure", "alice", None)),
    ("useradd", "new user: name=carol, UID=1003, GID=1003, home=/home/carol, "
     "shell=/bin/bash, from=/dev/pts/0",
     ("useradd", "information", "carol", None)),
    ("groupadd", "group added to /etc/group: name=ops, GID=1004",
     ("groupadd", "information", None, None)),
    ("usermod", "add 'carol' to group 'sudo'",
     ("usermod", "information", "carol", None)),
    ("userdel", "delete user 'carol'",
     ("userdel", "information", "carol", None)),
    ("passwd", "pam_unix(passwd:chauthtok): password changed for carol",
     ("passwd", "information", "carol", None)),
    ("chpasswd", "pam_unix(chpasswd:chauthtok): password changed for carol",
     ("chpasswd", "information", "carol", None)),
    ("gpasswd", "user carol added by root to group ops",
     ("gpasswd", "information", "carol", None)),
    ("login", "FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure",
     ("login.failed", "audit_failure", "root", None)),
]  # fmt: skip


@pytest.mark.parametrize(("program", "body", "expected"), AUTH_LINES)
def test_auth_programs_lines_are_named_and_levelled(
    program: str, body: str, expected: tuple[str, str, str | None, str | None]
) -> None:
    meaning = parse_auth_message(program, body)
    assert meaning is not None
    found = (meaning["event_id"], meaning["level"], meaning["user"], meaning["source_ip"])
    assert found == expected


def test_sudo_fields_carry_the_command_and_the_target_user() -> None:
    meaning = parse_auth_message(
        "sudo", "alice : TTY=pts/0 ; PWD=/srv ; USER=postgres ; COMMAND=/usr/bin/psql -c 'a ; b'"
    )
    assert meaning is not None
    assert meaning["fields"] == {
        "tty": "pts/0",
        "pwd": "/srv",
        "run_as": "postgres",
        "target_user": "postgres",
        "command": "/usr/bin/psql -c 'a ; b'",
    }
    assert (meaning["actor"], meaning["target"]) == ("alice", "postgres")


def test_sudo_line_without_host_pid_is_read() -> None:
    line = "Nov  3 08:09:10 web01 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls"
    record = parse_auth_line(line, 2026, tz=UTC)
    assert record is not None
    assert record["event_id"] == "sudo.command"
    assert record["time"] == "2026-11-03T08:09:10.000000Z"
    assert "pid" not in record["fields"]


# ---------------------------------------------------------------- time stamps


def test_classic_stamps_are_local_time_of_the_host() -> None:
    line = syslog_form("Invalid user x from 192.0.2.1 port 1")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        record = parse_auth_line(line, 2026)
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert record is not None
    assert record["time"] == "2026-11-27T11:00:01.000000Z"  # CET is UTC+1 in November


def test_december_lines_in_a_file_written_in_january_are_last_year() -> None:
    line = "Dec 31 23:59:59 web01 sshd[1]: Invalid user x from 192.0.2.1 port 1"
    written = datetime.datetime(2027, 1, 2, tzinfo=UTC).timestamp()
    record = parse_auth_line(line, 2027, tz=UTC, not_after=written)
    assert record is not None
    assert record["time"] == "2026-12-31T23:59:59.000000Z"


# ---------------------------------------------------------------- the auth file


@pytest.fixture
def auth_lines(sshd_bodies: list[str]) -> list[str]:
    """The real sshd lines in syslog form, each twice (with other pids), plus noise."""
    lines = []
    for pid in (100, 200):
        lines += [syslog_form(body, pid) for body in sshd_bodies]
    return lines


def record_lines(lines: list[str]) -> list[str]:
    """The lines of ``lines`` that give a record."""
    return [line for line in lines if parse_auth_line(line, 2026, tz=UTC) is not None]


def write_lines(path: Path, lines: list[str], mode: str = "w") -> None:
    with path.open(mode) as out:
        out.writelines(line + "\n" for line in lines)


def ids(result: dict[str, object]) -> list[str]:
    return [r["record_id"] for r in result["records"]]  # type: ignore[attr-defined]


def test_first_read_of_an_auth_file_returns_the_newest_records(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    result = read_auth_file(str(path), {}, 3)
    info = path.stat()
    assert [r["fields"]["pid"] for r in result["records"]] == ["100", "200", "200"]
    assert result["truncated"] is True
    assert result["resets"] == []
    cursor = result["cursor"][SOURCE]
    assert (cursor["file"], cursor["inode"], cursor["offset"]) == (
        str(path),
        info.st_ino,
        info.st_size,
    )
    assert cursor["head_len"] == 256
    assert all(i.startswith(f"{info.st_ino}:") for i in ids(result))


def test_record_ids_are_inode_and_byte_offset_of_the_line(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    data = path.read_bytes()
    for record in read_auth_file(str(path), {}, 100)["records"]:
        offset = int(str(record["record_id"]).split(":")[1])
        assert data[offset:].split(b"\n", 1)[0].decode().endswith(str(record["message"]))


def test_later_reads_return_only_lines_appended_since(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines[: len(auth_lines) // 2])
    first = read_auth_file(str(path), {}, 100)
    write_lines(path, auth_lines[len(auth_lines) // 2 :], mode="a")
    second = read_auth_file(str(path), first["cursor"][SOURCE], 100)
    assert [r["fields"]["pid"] for r in first["records"]] == ["100", "100"]
    assert [r["fields"]["pid"] for r in second["records"]] == ["200", "200"]
    assert second["resets"] == []
    third = read_auth_file(str(path), second["cursor"][SOURCE], 100)
    assert third["records"] == []
    assert without_read_time(third["cursor"]) == without_read_time(second["cursor"])


def without_read_time(cursor: dict[str, Any]) -> dict[str, Any]:
    """A cursor without the times of its reads (a later read of the same place is later)."""
    return {
        source: {k: v for k, v in place.items() if k != "read_at"}
        for source, place in cursor.items()
    }


def test_capped_reads_resume_after_the_last_record(tmp_path: Path, auth_lines: list[str]) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines[:1])
    cursor = read_auth_file(str(path), {}, 100)["cursor"][SOURCE]
    write_lines(path, auth_lines * 3, mode="a")
    seen, flags = [], []
    for _ in range(4):
        result = read_auth_file(str(path), cursor, 5)
        seen += ids(result)
        flags.append(result["truncated"])
        cursor = result["cursor"][SOURCE]
    assert len(seen) == len(set(seen)) == 12
    assert flags == [True, True, False, False]


def test_a_partial_last_line_waits_for_the_next_read(tmp_path: Path, auth_lines: list[str]) -> None:
    path = tmp_path / "auth.log"
    accepted = next(line for line in auth_lines if "Accepted" in line)
    path.write_text(accepted[:20])
    first = read_auth_file(str(path), {}, 100)
    assert first["records"] == []
    assert first["cursor"][SOURCE]["offset"] == 0
    path.write_text(accepted + "\n")
    second = read_auth_file(str(path), first["cursor"][SOURCE], 100)
    assert [r["event_id"] for r in second["records"]] == ["sshd.accepted_password"]


def test_rotated_file_starts_over_and_says_so(tmp_path: Path, auth_lines: list[str]) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    cursor = read_auth_file(str(path), {}, 100)["cursor"][SOURCE]
    path.rename(tmp_path / "auth.log.1")
    write_lines(path, record_lines(auth_lines)[:2])
    result = read_auth_file(str(path), cursor, 100)
    assert result["resets"] == [SOURCE]
    assert len(result["records"]) == 2
    assert result["cursor"][SOURCE]["inode"] == path.stat().st_ino != cursor["inode"]


def test_truncated_file_starts_over_and_says_so(tmp_path: Path, auth_lines: list[str]) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    cursor = read_auth_file(str(path), {}, 100)["cursor"][SOURCE]
    inode = path.stat().st_ino
    with path.open("r+") as handle:
        handle.truncate(0)
    write_lines(path, record_lines(auth_lines)[:2], mode="a")
    assert path.stat().st_ino == inode
    result = read_auth_file(str(path), cursor, 100)
    assert result["resets"] == [SOURCE]
    assert [r["event_id"] for r in result["records"]] == [
        "sshd.failed_password",
        "sshd.accepted_password",
    ]


def test_lines_written_after_copytruncate_get_new_record_ids(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    failed, accepted = record_lines(auth_lines)[:2]
    write_lines(path, [failed, accepted])
    first = read_auth_file(str(path), {}, 100)
    inode = path.stat().st_ino
    with path.open("r+") as handle:
        handle.truncate(0)
    write_lines(path, [accepted], mode="a")
    assert path.stat().st_ino == inode
    second = read_auth_file(str(path), first["cursor"][SOURCE], 100)
    assert second["resets"] == [SOURCE]
    assert [r["event_id"] for r in second["records"]] == ["sshd.accepted_password"]
    assert ids(second)[0].split(":")[:2] == ids(first)[0].split(":")[:2]
    assert not set(ids(second)) & set(ids(first))


def test_the_same_line_at_the_same_place_keeps_its_record_id(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    assert ids(read_auth_file(str(path), {}, 100)) == ids(read_auth_file(str(path), {}, 100))


# ---------------------------------------------------------------- choosing the source


class NoJournal(Journal):
    """A host whose ``journalctl`` is missing."""

    def __init__(self) -> None:
        super().__init__(command="/nonexistent/journalctl")


def test_without_a_journal_the_first_existing_auth_file_is_read(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    secure = tmp_path / "secure"
    write_lines(secure, auth_lines)
    files = (str(tmp_path / "auth.log"), str(secure))
    result = read_auth_events({}, 100, journal=NoJournal(), files=files)
    assert len(result["records"]) == 4
    assert result["cursor"][SOURCE]["file"] == str(secure)


def test_a_cursor_for_another_file_counts_as_a_first_run(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    since = {SOURCE: {"file": "/var/log/secure", "inode": 1, "offset": 10}}
    result = read_auth_events(since, 100, journal=NoJournal(), files=(str(path),))
    assert result["resets"] == []
    assert len(result["records"]) == 4


def test_no_journal_and_no_auth_file_is_an_events_error(tmp_path: Path) -> None:
    with pytest.raises(EventsError, match="no systemd journal"):
        read_auth_events({}, 10, journal=NoJournal(), files=(str(tmp_path / "auth.log"),))


def test_an_empty_journal_does_not_count_as_working() -> None:
    empty = Journal(extra_args=["--directory=/nonexistent-journal-dir"])
    assert empty.state() == JournalState.EMPTY


# ---------------------------------------------------------------- the journal


def journal_json(body: str, seqnum: int, program: str = "sshd") -> str:
    """One ``journalctl -o json`` line with the fields journald records for a syslog call."""
    cursor = (
        f"s=6f3c1d2a9b8e4c7d8e9f0a1b2c3d4e5f;i={seqnum:x};b=0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f;"
        f"m=1a2b3c;t=5f1e2d3c4b5a6;x=9a8b7c6d5e4f3a2b"
    )
    entry = {
        "__CURSOR": cursor,
        "__REALTIME_TIMESTAMP": str(1_764_244_801_250_000 + seqnum),
        "_HOSTNAME": "web01",
        "SYSLOG_IDENTIFIER": program,
        "_COMM": program,
        "_EXE": f"/usr/sbin/{program}",
        "_UID": "0",
        "_PID": "4242",
        "MESSAGE": body,
    }
    return json.dumps(entry)


def test_journal_entry_of_a_real_sshd_line_becomes_a_record(
    sshd_bodies: list[str], ssh_user: SshUser
) -> None:
    failed = next(body for body in sshd_bodies if body.startswith("Failed password"))
    record = parse_journal_entry(journal_json(failed, 0x1F))
    assert record is not None
    assert record["event_id"] == "sshd.failed_password"
    assert record["record_id"] == "s=6f3c1d2a9b8e4c7d8e9f0a1b2c3d4e5f;i=1f"
    assert record["time"] == "2025-11-27T12:00:01.250031Z"
    assert (record["user"], record["source_ip"]) == (ssh_user.name, "127.0.0.1")


def test_journal_message_as_byte_array_is_decoded(sshd_bodies: list[str]) -> None:
    accepted = next(body for body in sshd_bodies if body.startswith("Accepted password"))
    entry = json.loads(journal_json(accepted, 1))
    entry["MESSAGE"] = list(accepted.encode())
    record = parse_journal_entry(json.dumps(entry))
    assert record is not None
    assert record["event_id"] == "sshd.accepted_password"


def test_journal_record_id_without_sequence_parts_is_a_short_hash() -> None:
    assert journal_record_id("opaque") == journal_record_id("opaque")
    assert len(journal_record_id("opaque")) == 16


def test_journal_shows_system_entries_to_root_and_the_journal_groups_only() -> None:
    assert linux_auth.journal_readable(0, [])
    assert linux_auth.journal_readable(1000, ["users", "systemd-journal"])
    assert linux_auth.journal_readable(1000, ["adm"])
    assert not linux_auth.journal_readable(1000, ["users", "sudo"])


def test_an_unreadable_auth_file_says_which_group_to_join(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "auth.log"
    write_lines(path, auth_lines)
    path.chmod(0o600)
    nobody = pwd.getpwnam("nobody")
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        try:
            read_auth_file(str(path), {}, 10)
        except EventsError as err:
            os._exit(0 if "add the user to the adm group" in str(err) else 2)
        os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0


def test_an_unreadable_secure_file_advises_an_acl_or_the_journal_not_the_adm_group(
    tmp_path: Path, auth_lines: list[str]
) -> None:
    path = tmp_path / "secure"
    write_lines(path, auth_lines)
    path.chmod(0o600)  # as RHEL ships /var/log/secure
    nobody = pwd.getpwnam("nobody")
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
        try:
            read_auth_file(str(path), {}, 10)
        except EventsError as err:
            text = str(err)
            good = "setfacl -m u:USER:r" in text and "systemd-journal" in text
            os._exit(0 if good and "adm group" not in text else 2)
        os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0


def test_stream_lines_reads_a_real_command_and_stops_it_early() -> None:
    assert list(journal_module.stream_lines(["printf", "a\\nb\\n"])) == ["a\n", "b\n"]
    endless = journal_module.stream_lines(["yes", "line"])
    assert next(endless) == "line\n"
    endless.close()  # kills ``yes``; nothing left running


def test_stream_lines_reports_a_failing_command() -> None:
    with pytest.raises(EventsError, match="journalctl failed"):
        list(journal_module.stream_lines(["journalctl", "--no-such-option"]))


# ---------------------------------------------------------------- a real journald


@pytest.fixture(scope="module")
def journal_namespace() -> Iterator[str]:
    """A private systemd-journald namespace (volatile storage) run for this module.

    journald serves namespace ``NAME`` on ``/run/systemd/journal.NAME/`` and keeps it
    apart from the system journal; ``journalctl --namespace=NAME`` reads it.
    Everything it creates is removed afterwards.
    """
    if os.geteuid() != 0 or not os.access(JOURNALD, os.X_OK):
        pytest.skip("running systemd-journald needs root and the systemd package")
    name = f"fleetstat-test-{os.getpid()}"
    conf = Path(f"/etc/systemd/journald@{name}.conf")
    run_log = Path("/run/log/journal")
    had_run_log = run_log.exists()
    conf.write_text("[Journal]\nStorage=volatile\n")
    proc = subprocess.Popen([JOURNALD, name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: Path(f"/run/systemd/journal.{name}/socket").exists())
        yield name
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        conf.unlink()
        shutil.rmtree(f"/run/systemd/journal.{name}", ignore_errors=True)
        machine_id = Path("/etc/machine-id").read_text().strip()
        shutil.rmtree(run_log / f"{machine_id}.{name}", ignore_errors=True)
        if not had_run_log:
            shutil.rmtree(run_log, ignore_errors=True)


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + LOG_WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("journald did not come up")
        time.sleep(0.05)


def send_to_journal(namespace: str, program: str, bodies: list[str]) -> None:
    """Log ``bodies`` as ``program`` through journald's native protocol (one datagram each)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for body in bodies:
            entry = f"SYSLOG_IDENTIFIER={program}\nSYSLOG_PID=4242\nMESSAGE={body}\n"
            sock.sendto(entry.encode(), f"/run/systemd/journal.{namespace}/socket")


def test_real_journal_first_and_later_runs(
    journal_namespace: str, sshd_bodies: list[str], ssh_user: SshUser
) -> None:
    journal = Journal(extra_args=[f"--namespace={journal_namespace}"])
    send_to_journal(journal_namespace, "sshd", sshd_bodies)
    send_to_journal(journal_namespace, "cron", ["Failed password for x from 10.0.0.1 port 1 ssh2"])
    _wait_for(lambda: len(read_journal(journal, {}, 10)["records"]) == 2)

    first = read_auth_events({}, 10, journal=journal, files=())
    # Sent by this Python process, not by sshd: journald's _EXE says so.
    assert {r["event_id"] for r in first["records"]} == {"log.forged"}
    assert [r["fields"]["claimed_event"] for r in first["records"]] == [
        "sshd.failed_password",
        "sshd.accepted_password",
    ]
    assert {r["fields"]["exe"] for r in first["records"]} == {os.path.realpath(sys.executable)}
    assert all(str(r["record_id"]).startswith("s=") for r in first["records"])
    assert first["records"][0]["fields"]["pid"] == str(os.getpid())  # journald's _PID

    failed = next(body for body in sshd_bodies if body.startswith("Failed password"))
    send_to_journal(journal_namespace, "sshd", [failed])
    _wait_for(lambda: len(read_journal(journal, {}, 10)["records"]) == 3)
    later = read_auth_events(first["cursor"], 10, journal=journal, files=())
    assert [r["fields"]["claimed_event"] for r in later["records"]] == ["sshd.failed_password"]
    assert later["records"][0]["record_id"] not in {r["record_id"] for r in first["records"]}
    again = read_auth_events(later["cursor"], 10, journal=journal, files=())
    assert again["records"] == []
    assert again["cursor"] == later["cursor"]

    send_to_journal(journal_namespace, "sshd", sshd_bodies * 2)
    _wait_for(lambda: len(read_journal(journal, {}, 10)["records"]) == 7)
    capped = read_auth_events({}, 2, journal=journal, files=())
    assert capped["truncated"] is True
    assert [r["fields"]["claimed_event"] for r in capped["records"]] == [
        "sshd.failed_password",
        "sshd.accepted_password",
    ]
    seen: list[str] = []
    cursor = again["cursor"]
    for _ in range(3):
        page = read_auth_events(cursor, 2, journal=journal, files=())
        seen += ids(page)
        cursor = page["cursor"]
    assert len(seen) == len(set(seen)) == 4


# ---------------------------------------------------------------- bounded reads


def rfc_line(body: str, stamp: str, pid: int = 1) -> str:
    return f"{stamp} web01 sshd[{pid}]: {body}"


def test_a_first_read_returns_only_the_window_and_a_cursor_at_the_end(
    tmp_path: Path, sshd_bodies: list[str]
) -> None:
    failed = next(body for body in sshd_bodies if body.startswith("Failed password"))
    path = tmp_path / "auth.log"
    old = [rfc_line(failed, "2026-11-20T10:00:00.000000+00:00", n) for n in range(20_000)]
    new = [rfc_line(failed, "2026-11-27T10:00:00.000000+00:00", n) for n in range(3)]
    write_lines(path, old + new)
    result = read_auth_file(str(path), {}, 500, not_before="2026-11-26T10:00:00.000000Z")
    assert [r["fields"]["pid"] for r in result["records"]] == ["0", "1", "2"]
    assert result["truncated"] is False
    assert result["cursor"][SOURCE]["offset"] == path.stat().st_size
    capped = read_auth_file(str(path), {}, 5)
    assert [r["fields"]["pid"] for r in capped["records"]] == ["19998", "19999", "0", "1", "2"]
    assert capped["truncated"] is True
    assert capped["cursor"][SOURCE]["offset"] == path.stat().st_size


def test_a_read_stopped_by_its_time_budget_carries_a_cursor_the_next_read_goes_on_from(
    tmp_path: Path, sshd_bodies: list[str]
) -> None:
    failed = next(body for body in sshd_bodies if body.startswith("Failed password"))
    path = tmp_path / "auth.log"
    write_lines(path, [rfc_line(failed, "2026-11-27T10:00:00.000000+00:00")])
    cursor = read_auth_file(str(path), {}, 10)["cursor"][SOURCE]
    lines = [rfc_line(failed, "2026-11-27T11:00:00.000000+00:00", n) for n in range(3000)]
    write_lines(path, lines, mode="a")
    seen: list[str] = []
    for _ in range(3000):
        page = read_auth_file(str(path), cursor, 10**6, budget=1e-9)
        seen += ids(page)
        cursor = page["cursor"][SOURCE]
        if not page["truncated"]:
            break
    assert len(seen) == len(set(seen)) == 3000


def test_sshd_octal_escapes_become_the_utf8_they_stand_for():
    line = r"Dec  8 01:02:03 web sshd[42]: Invalid user j\303\266rg from 10.0.0.9 port 5022"
    record = parse_auth_line(line, 2026, tz=UTC)
    assert record is not None
    assert (record["user"], record["target"]) == ("jörg", "jörg")
    assert record["message"] == "Invalid user jörg from 10.0.0.9 port 5022"


def test_bytes_that_are_not_utf8_stay_visible_as_escapes():
    raw = b"Dec  8 01:02:03 web sshd[42]: Invalid user j\xf6rg from 10.0.0.9 port 5022\n"
    record = parse_auth_line(decode_line(raw).strip(), 2026, tz=UTC)
    assert record is not None
    assert record["user"] == "j\\xf6rg"
    assert "\ufffd" not in record["message"]
    # an octal run that is not UTF-8 either is kept as sshd wrote it
    assert unescape_octal(r"user j\366rg") == r"user j\366rg"
