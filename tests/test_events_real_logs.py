"""Auth events from a real journald and a real rsyslog, written by real programs.

A private mount namespace (``tests/support/lognamespace.py``) runs journald and
rsyslog as a Debian host does; real ``sshd`` logins, ``sudo``, ``su``, ``useradd``
and ``logger`` forgeries log there, and real ``logrotate`` runs rotate
``/var/log/auth.log`` between the agent's runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from fleetstat.agent import linux_auth
from fleetstat.agent.authfile import read_auth_file
from fleetstat.agent.events import EventsError, Options
from fleetstat.agent.journal import Journal, JournalState, read_journal
from tests.support import sshd as sshd_support
from tests.support.lognamespace import JOURNALD, RSYSLOGD, LogHost
from tests.support.sshd import SshUser

SOURCE = "linux-auth"
NOBODY = "65534"
NO_SESSION: tuple[None, frozenset[int]] = (None, frozenset())
AGENT_SRC = Path(__file__).resolve().parents[1] / "src" / "fleetstat" / "agent"


@pytest.fixture(scope="module")
def log_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogHost]:
    needed = [JOURNALD, RSYSLOGD, "/usr/sbin/logrotate", "/usr/bin/sudo", sshd_support.SSHD]
    if os.geteuid() != 0 or not all(os.access(p, os.X_OK) for p in needed):
        pytest.skip("needs root, systemd-journald, rsyslog, logrotate, sudo and sshd")
    host = LogHost.start(tmp_path_factory.mktemp("loghost"))
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def ns_sshd(log_host: LogHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real sshd inside the namespace, logging to its syslog; yields its port."""
    workdir = tmp_path_factory.mktemp("ns-sshd")
    key = workdir / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    port = sshd_support.free_port(["127.0.0.1"])
    config = workdir / "sshd_config"
    options = {"SyslogFacility": "AUTH", "PidFile": "none"}
    config.write_text(sshd_support.config_text(["127.0.0.1"], port, key, options))
    proc = log_host.spawn([sshd_support.SSHD, "-D", "-f", str(config)])
    try:
        log_host.wait_for(lambda: sshd_support._accepts("127.0.0.1", port))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _login(port: int, user: SshUser, password: str, command: str = "true") -> str | None:
    """One password login running ``command``; its output, or None when refused."""
    try:
        async with asyncssh.connect(
            "127.0.0.1", port, username=user.name, password=password,
            known_hosts=None, client_keys=None, agent_path=None,
        ) as conn:  # fmt: skip
            done = await conn.run(command, check=True)
            return str(done.stdout)
    except asyncssh.PermissionDenied:
        return None


def journal_of(host: LogHost) -> Journal:
    return Journal(extra_args=host.journal_args())


def read_all_journal(host: LogHost) -> list[dict[str, Any]]:
    return read_journal(journal_of(host), {}, 100_000)["records"]  # type: ignore[no-any-return]


def wait_for_line(host: LogHost, needle: str) -> None:
    """Wait until ``needle`` is in the journal and in auth.log."""
    auth = host.path("/var/log/auth.log")

    def both() -> bool:
        in_file = auth.exists() and needle in auth.read_text(errors="replace")
        return in_file and any(needle in r["message"] for r in read_all_journal(host))

    host.wait_for(both)


def forge(host: LogHost, body: str, tag: str = "sshd") -> None:
    host.run(["logger", "-p", "auth.info", "-t", tag, body], user=NOBODY)


# ---------------------------------------------------------------- 11.1 forgeries


def test_a_forged_root_login_is_log_forged_and_a_real_login_is_real(
    log_host: LogHost, ns_sshd: int, ssh_user: SshUser
) -> None:
    forged = "Accepted publickey for root from 203.0.113.50 port 1 ssh2"
    forge(log_host, forged)
    assert asyncio.run(_login(ns_sshd, ssh_user, ssh_user.password)) is not None
    wait_for_line(log_host, f"Accepted password for {ssh_user.name}")
    wait_for_line(log_host, forged)

    records = read_all_journal(log_host)
    fake = [r for r in records if r["message"] == forged]
    real = [r for r in records if r["message"].startswith(f"Accepted password for {ssh_user.name}")]
    assert [r["event_id"] for r in fake] == ["log.forged"]
    assert fake[0]["level"] == "warning"
    assert fake[0]["fields"]["uid"] == NOBODY
    assert fake[0]["fields"]["exe"] in ("/usr/bin/logger", "")  # "" when logger ended first
    assert fake[0]["fields"]["claimed_event"] == "sshd.accepted_publickey"
    assert fake[0]["actor"] == "nobody"
    assert [r["event_id"] for r in real] == ["sshd.accepted_password"]
    assert real[0]["target"] == ssh_user.name

    # auth.log carries no trusted fields: there the forgery cannot be told apart.
    lines = log_host.path("/var/log/auth.log").read_text().splitlines()
    assert any(line.endswith(forged) for line in lines)


def test_a_non_ascii_user_name_reads_as_it_was_typed_in_file_and_journal(
    log_host: LogHost, ns_sshd: int, ssh_user: SshUser
) -> None:
    """sshd logs a user name it does not know with octal escapes (j\\303\\266rg)."""
    named = replace(ssh_user, name="jörg-ns")
    assert asyncio.run(_login(ns_sshd, named, "wrong")) is None
    wait_for_line(log_host, "rg-ns from")
    raw = log_host.path("/var/log/auth.log").read_bytes()
    assert b"Invalid user j\\303\\266rg-ns from" in raw  # as sshd writes it
    from_file = read_auth_file(str(log_host.path("/var/log/auth.log")), {}, 1000)["records"]
    for records in (from_file, read_all_journal(log_host)):
        invalid = [r for r in records if r["event_id"] == "sshd.invalid_user"
                   and "rg-ns" in r["message"]]  # fmt: skip
        assert invalid, records[-3:]
        assert {r["user"] for r in invalid} == {"jörg-ns"}
        assert all("Invalid user jörg-ns from 127.0.0.1" in r["message"] for r in invalid)


def test_real_sudo_su_and_useradd_are_believed_and_forged_ones_are_not(
    log_host: LogHost, tmp_path: Path
) -> None:
    prefix = tmp_path / "root"
    (prefix / "etc").mkdir(parents=True)
    for name in ("passwd", "shadow", "group", "gshadow", "login.defs"):
        shutil.copy(f"/etc/{name}", prefix / "etc" / name)
    log_host.run(["sudo", "-u", "nobody", "/bin/echo", "real-sudo-1"])
    log_host.run(["su", "-s", "/bin/true", "nobody"])
    log_host.run(["useradd", "--prefix", str(prefix), "carol-ns"])
    log_host.run(["userdel", "--prefix", str(prefix), "carol-ns"])
    forge(log_host, "root : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/echo forged-sudo", "sudo")
    forge(log_host, "new user: name=mallory, UID=0, GID=0, home=/root", "useradd")
    wait_for_line(log_host, "name=mallory")
    wait_for_line(log_host, "delete user 'carol-ns'")

    records = read_all_journal(log_host)
    by_message = {r["message"]: r for r in records}
    sudo = next(r for m, r in by_message.items() if m.endswith("COMMAND=/bin/echo real-sudo-1"))
    assert (sudo["event_id"], sudo["actor"], sudo["target"]) == ("sudo.command", "root", "nobody")
    su = [r for r in records if r["event_id"] == "su.session_opened"]
    assert su and all(r["user"] == "root" and r["target"] == "nobody" for r in su)
    added = next(r for m, r in by_message.items() if "name=carol-ns, UID" in m)
    assert (added["event_id"], added["target"]) == ("useradd", "carol-ns")
    removed = [r for r in records if r["event_id"] == "userdel" and "carol-ns" in r["message"]]
    assert removed and all(r["user"] in ("carol-ns", None) for r in removed)
    assert all(r["user"] != "carol-ns" or "group" not in r["message"] or
               r["fields"].get("group") == "carol-ns" for r in removed)  # fmt: skip
    for message in ("COMMAND=/bin/echo forged-sudo", "name=mallory"):
        forged = next(r for m, r in by_message.items() if message in m)
        assert forged["event_id"] == "log.forged"
        assert forged["fields"]["uid"] == NOBODY


# ---------------------------------------------------------------- 11.2 rotation

ROTATE = """\
{path} {{
    rotate 5
    {mode}
    missingok
    postrotate
        kill -HUP $(cat {pidfile}) 2>/dev/null || true
    endscript
}}
"""
CREATE = "create 0640 root root"
MODES = {
    "rename": CREATE,
    "rename-compress": f"{CREATE}\n    compress",
    "rename-delaycompress": f"{CREATE}\n    compress\n    delaycompress",
    "copytruncate": "copytruncate",
    # dated names, as RHEL, Rocky and Alma name them (with the seconds: five a minute)
    "dateext": f"{CREATE}\n    dateext\n    dateformat -%Y%m%d-%s",
    "dateext-compress": f"{CREATE}\n    dateext\n    dateformat -%Y%m%d-%s\n    compress",
    "olddir": f"{CREATE}\n    olddir /var/log/old\n    createolddir 0750 root root",
    "xz": f"{CREATE}\n    compress\n    compresscmd /usr/bin/xz\n    uncompresscmd /usr/bin/unxz"
    "\n    compressext .xz",
    "bzip2": f"{CREATE}\n    compress\n    compresscmd /usr/bin/bzip2\n"
    "    uncompresscmd /usr/bin/bunzip2\n    compressext .bz2",
}


def sudo_marker(host: LogHost, marker: str) -> None:
    host.run(["sudo", "-u", "nobody", "/bin/echo", marker])


def markers(records: list[dict[str, Any]], prefix: str = "rot-") -> list[str]:
    """The markers of ``sudo /bin/echo <marker>`` records that start with ``prefix``."""
    found = []
    for record in records:
        command = str(record["fields"].get("command", ""))
        if record["event_id"] == "sudo.command" and command.startswith("/bin/echo " + prefix):
            found.append(command.rsplit(maxsplit=1)[-1])
    return found


def without_rotated_copies(host: LogHost, path: str) -> None:
    """Remove what earlier tests' rotations left of ``path`` (the file itself stays)."""
    folder = host.path(path).parent
    for left in [*folder.glob(host.path(path).name + "[.-]*"), *folder.glob("old/*")]:
        left.unlink()


@pytest.mark.parametrize("mode", sorted(MODES))
def test_five_runs_with_rotations_between_read_every_event_exactly_once(
    log_host: LogHost, tmp_path: Path, mode: str
) -> None:
    path = "/var/log/auth.log"
    conf = tmp_path / "logrotate.conf"
    pidfile = log_host.workdir / "rsyslogd.pid"
    conf.write_text(ROTATE.format(path=path, mode=MODES[mode], pidfile=pidfile))
    state = tmp_path / "logrotate.state"
    without_rotated_copies(log_host, path)
    outside = str(log_host.path(path))
    written: list[str] = []
    seen: list[str] = []
    journal_seen: list[str] = []

    def write(count: int) -> None:
        for _ in range(count):
            marker = f"rot-{mode}-{len(written)}"
            sudo_marker(log_host, marker)
            written.append(marker)
        wait_for_line(log_host, written[-1])

    write(2)
    cursor = read_auth_file(outside, {}, 1000)["cursor"][SOURCE]
    journal_cursor = read_journal(journal_of(log_host), {}, 1000)["cursor"][SOURCE]
    seen += [m for m in written]  # the first run's view: everything so far
    journal_seen += written
    for _ in range(5):
        write(3)  # read by the next run from the file that is rotated now
        if "dateext" in MODES[mode]:
            time.sleep(1.05)  # one dated name a second
        log_host.run(["logrotate", "-f", "-s", str(state), str(conf)])
        write(2)  # the new file
        result = read_auth_file(outside, cursor, 1000)
        assert result["gaps"] == []
        seen += markers(result["records"])
        cursor = result["cursor"][SOURCE]
        page = read_journal(journal_of(log_host), {SOURCE: journal_cursor}[SOURCE], 1000)
        journal_seen += markers(page["records"])
        journal_cursor = page["cursor"][SOURCE]
    assert seen == written
    assert journal_seen == written


def test_copytruncate_of_a_file_that_was_empty_at_the_last_read_loses_nothing(
    log_host: LogHost, tmp_path: Path
) -> None:
    path = "/var/log/auth.log"
    conf = tmp_path / "logrotate.conf"
    pidfile = log_host.workdir / "rsyslogd.pid"
    conf.write_text(ROTATE.format(path=path, mode="copytruncate", pidfile=pidfile))
    state, outside = str(tmp_path / "state"), str(log_host.path(path))
    sudo_marker(log_host, "rot-empty-0")
    wait_for_line(log_host, "rot-empty-0")
    log_host.run(["logrotate", "-f", "-s", state, str(conf)])  # auth.log is empty now
    cursor = read_auth_file(outside, {}, 1000)["cursor"][SOURCE]
    assert (cursor["offset"], cursor["head_len"]) == (0, 0)
    written = [f"rot-empty-{n}" for n in (1, 2)]
    for marker in written:
        sudo_marker(log_host, marker)
    wait_for_line(log_host, written[-1])
    log_host.run(["logrotate", "-f", "-s", state, str(conf)])  # copied, truncated again
    sudo_marker(log_host, "rot-empty-3")
    wait_for_line(log_host, "rot-empty-3")
    result = read_auth_file(outside, cursor, 1000)
    assert markers(result["records"]) == [*written, "rot-empty-3"]


def test_lines_written_to_the_renamed_file_before_the_writer_reopens_are_not_lost(
    log_host: LogHost, tmp_path: Path
) -> None:
    path = "/var/log/auth.log"
    conf = tmp_path / "logrotate.conf"
    conf.write_text(ROTATE.format(path=path, mode="create 0640 root root", pidfile="/nonexistent"))
    state, outside = str(tmp_path / "state"), str(log_host.path(path))
    written = ["rot-hup-0"]
    sudo_marker(log_host, written[0])
    wait_for_line(log_host, written[0])
    cursor = read_auth_file(outside, {}, 1000)["cursor"][SOURCE]
    seen: list[str] = []
    log_host.run(["logrotate", "-f", "-s", state, str(conf)])  # renamed; rsyslog not told
    for step in range(1, 4):
        marker = f"rot-hup-{step}"
        sudo_marker(log_host, marker)  # still goes to auth.log.1
        written.append(marker)
        log_host.wait_for(lambda m=marker: m in log_host.path(path + ".1").read_text())
        result = read_auth_file(outside, cursor, 1000)
        seen += markers(result["records"])
        cursor = result["cursor"][SOURCE]
    pid = (log_host.workdir / "rsyslogd.pid").read_text().strip()
    log_host.run(["kill", "-HUP", pid])  # now rsyslog reopens auth.log
    log_host.wait_for(lambda: log_host.path(path).exists())
    sudo_marker(log_host, "rot-hup-4")
    written.append("rot-hup-4")
    wait_for_line(log_host, "rot-hup-4")
    seen += markers(read_auth_file(outside, cursor, 1000)["records"])
    assert seen == written[1:]


def test_a_rotated_file_that_is_gone_is_reported_with_the_gap(
    log_host: LogHost, tmp_path: Path
) -> None:
    path = "/var/log/auth.log"
    conf = tmp_path / "logrotate.conf"
    pidfile = log_host.workdir / "rsyslogd.pid"
    conf.write_text(ROTATE.format(path=path, mode="create 0640 root root", pidfile=pidfile)
                    .replace("rotate 5", "rotate 0"))  # fmt: skip
    outside = str(log_host.path(path))
    without_rotated_copies(log_host, path)
    sudo_marker(log_host, "rot-gone-0")
    wait_for_line(log_host, "rot-gone-0")
    cursor = read_auth_file(outside, {}, 1000)["cursor"][SOURCE]
    sudo_marker(log_host, "rot-gone-1")  # only in the file that is deleted
    wait_for_line(log_host, "rot-gone-1")
    log_host.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)])
    sudo_marker(log_host, "rot-gone-2")
    wait_for_line(log_host, "rot-gone-2")
    result = read_auth_file(outside, cursor, 1000)
    assert markers(result["records"], "rot-gone-") == ["rot-gone-2"]
    assert result["resets"] == [SOURCE]
    assert len(result["gaps"]) == 1
    assert "is gone" in result["gaps"][0]["reason"]


@dataclass(frozen=True)
class Rotation:
    """One test's logrotate of ``/var/log/auth.log``: its config and state, the file as
    the agent outside the namespace reads it."""

    host: LogHost
    conf: Path
    state: Path
    outside: str

    def mark(self, *names: str) -> None:
        """Log ``sudo /bin/echo NAME`` for each name and wait until it is written."""
        for name in names:
            sudo_marker(self.host, name)
            wait_for_line(self.host, name)

    def rotate(self) -> None:
        self.host.run(["logrotate", "-f", "-s", str(self.state), str(self.conf)])

    def read(self, cursor: dict[str, Any], cap: int = 1000, **window: str) -> dict[str, Any]:
        return read_auth_file(self.outside, cursor, cap, **window)  # type: ignore[arg-type]


def rotation(host: LogHost, folder: Path, mode: str, keep: int = 5) -> Rotation:
    """A logrotate config of ``mode`` keeping ``keep`` copies; earlier copies removed."""
    path = "/var/log/auth.log"
    conf = folder / "logrotate.conf"
    pidfile = host.workdir / "rsyslogd.pid"
    text = ROTATE.format(path=path, mode=mode, pidfile=pidfile)
    conf.write_text(text.replace("rotate 5", f"rotate {keep}"))
    without_rotated_copies(host, path)
    return Rotation(host, conf, folder / "state", str(host.path(path)))


def test_more_rotations_than_kept_lose_only_what_is_gone(log_host: LogHost, tmp_path: Path) -> None:
    """Four rotations between two runs, two kept: the two survivors and the new file are
    read, each event once; only the deleted ones are a gap."""
    logs = rotation(log_host, tmp_path, MODES["rename-compress"], keep=2)
    logs.mark("rot-lost-0")
    cursor = logs.read({})["cursor"][SOURCE]
    for number in range(1, 5):
        logs.mark(f"rot-lost-{number}")
        logs.rotate()
    logs.mark("rot-lost-5")
    result = logs.read(cursor)
    # rot-lost-1 and -2 were in the files rotated away; -3 and -4 survive in .2.gz, .1.gz
    assert markers(result["records"], "rot-lost-") == ["rot-lost-3", "rot-lost-4", "rot-lost-5"]
    [gap] = result["gaps"]
    assert "is gone since (rotated more times than logrotate keeps)" in gap["reason"]
    assert "the 2 rotated files written since were read" in gap["reason"]


def test_a_first_run_reads_the_rotated_files_inside_its_window(
    log_host: LogHost, tmp_path: Path
) -> None:
    logs = rotation(log_host, tmp_path, MODES["rename-compress"])
    logs.mark("rot-first-0")
    logs.rotate()  # rot-first-0 in .1.gz
    time.sleep(1.1)
    since = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    logs.mark("rot-first-1")
    logs.rotate()  # rot-first-1 in .1.gz, rot-first-0 in .2.gz
    logs.mark("rot-first-2")
    day = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 86400))
    first = logs.read({}, not_before=day)["records"]
    assert markers(first, "rot-first-") == ["rot-first-0", "rot-first-1", "rot-first-2"]
    # a window that starts after the oldest rotation leaves that file unread
    recent = logs.read({}, not_before=since)["records"]
    assert markers(recent, "rot-first-") == ["rot-first-1", "rot-first-2"]
    # the cap keeps the newest, across files
    capped = logs.read({}, 2, not_before=day)
    assert markers(capped["records"], "rot-first-") == ["rot-first-1", "rot-first-2"]
    assert capped["truncated"] is True


def test_a_plain_dateext_rotation_as_rhel_names_it_loses_nothing(
    log_host: LogHost, tmp_path: Path
) -> None:
    """``dateext`` alone: one rotation a day, ``auth.log-YYYYMMDD.gz``."""
    logs = rotation(log_host, tmp_path, f"{CREATE}\n    dateext\n    compress")
    logs.mark("rot-dated-0")
    cursor = logs.read({})["cursor"][SOURCE]
    logs.mark("rot-dated-1")
    logs.rotate()
    assert Path(logs.outside + "-" + time.strftime("%Y%m%d") + ".gz").exists()
    logs.mark("rot-dated-2")
    result = logs.read(cursor)
    assert markers(result["records"], "rot-dated-") == ["rot-dated-1", "rot-dated-2"]
    assert result["gaps"] == []


def test_a_rotated_file_no_reader_can_open_is_a_gap_with_its_size(
    log_host: LogHost, tmp_path: Path
) -> None:
    zstd = (
        f"{CREATE}\n    compress\n    compresscmd /usr/bin/zstd\n"
        "    uncompresscmd /usr/bin/unzstd\n    compressext .zst\n    compressoptions -q"
    )
    logs = rotation(log_host, tmp_path, zstd)
    logs.mark("rot-zstd-0")
    cursor = logs.read({})["cursor"][SOURCE]
    logs.mark("rot-zstd-1")
    logs.rotate()
    logs.mark("rot-zstd-2")
    result = logs.read(cursor)
    assert markers(result["records"], "rot-zstd-") == ["rot-zstd-2"]
    unreadable = [g for g in result["gaps"] if g["file"].endswith(".zst")]
    assert len(unreadable) == 1 and unreadable[0]["bytes"] > 0, result["gaps"]
    assert "compressed in a format this Python cannot read" in unreadable[0]["reason"]


# ---------------------------------------------------------------- 11.4 own session


def test_the_agents_own_login_is_marked_and_another_login_is_not(
    log_host: LogHost, ns_sshd: int, ssh_user: SshUser
) -> None:
    assert asyncio.run(_login(ns_sshd, ssh_user, ssh_user.password)) is not None  # another one
    copy = ssh_user.home / "agent-src" / "fleetstat_agent"
    shutil.copytree(AGENT_SRC, copy, dirs_exist_ok=True)
    shutil.chown(copy.parent, ssh_user.name)
    probe = (
        f"/usr/bin/python3 -I -c \"import sys, json; sys.path.insert(0, '{copy.parent}'); "
        "from fleetstat_agent.linux_auth import session_identity as s; "
        'ip, pids = s(); print(json.dumps([ip, sorted(pids)]))"'
    )
    out = asyncio.run(_login(ns_sshd, ssh_user, ssh_user.password, probe))
    assert out is not None
    ip_port, pids = json.loads(out)
    own_line = f"Accepted password for {ssh_user.name} from 127.0.0.1 port {ip_port[1]}"
    wait_for_line(log_host, own_line)
    since = {}
    result = linux_auth.read_auth_events(
        since, Options(10_000), journal_of(log_host), (), session=(tuple(ip_port), frozenset(pids))
    )
    accepted = [r for r in result["records"] if r["event_id"] == "sshd.accepted_password"]
    own = [r for r in accepted if r["own_session"]]
    assert [r["message"].split(" ssh2")[0] for r in own] == [own_line]
    assert any(not r["own_session"] for r in accepted)


# ---------------------------------------------------------------- 11.5 truthful errors


def test_an_unknown_journal_cursor_reads_again_from_its_time(log_host: LogHost) -> None:
    sudo_marker(log_host, "rot-cursor-0")
    wait_for_line(log_host, "rot-cursor-0")
    first = read_journal(journal_of(log_host), {}, 1000)
    stamp = first["cursor"][SOURCE]["time"]
    sudo_marker(log_host, "rot-cursor-1")
    wait_for_line(log_host, "rot-cursor-1")
    for broken in ("not-a-cursor", "s=0123;i=99999;b=0;m=1;t=1;x=1"):
        again = read_journal(journal_of(log_host), {"journal": broken, "time": stamp}, 1000)
        assert markers(again["records"]) == ["rot-cursor-1"]
        assert again["resets"] == [SOURCE]
        assert again["cursor"][SOURCE]["journal"]
        assert "read again from its time" in again["gaps"][0]["reason"]


def test_a_journal_this_user_may_not_read_is_not_an_empty_one(
    log_host: LogHost, tmp_path: Path
) -> None:
    wrapper = tmp_path / "journalctl-as-nobody"
    wrapper.write_text(
        "#!/bin/sh\nexec " + " ".join(log_host.inside(["journalctl"], user=NOBODY)) + ' "$@"\n'
    )
    wrapper.chmod(0o755)
    denied = Journal(command=str(wrapper), dirs=("/var/log/journal", "/run/log/journal"))
    assert denied.state() == JournalState.DENIED
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert Journal(extra_args=[f"--directory={empty_dir}"]).state() == JournalState.EMPTY
    assert journal_of(log_host).state() == JournalState.ENTRIES
    with pytest.raises(EventsError, match="systemd-journal group"):
        linux_auth.read_auth_events({}, Options(10), denied, (), session=NO_SESSION)


# ---------------------------------------------------------------- become


BECOME_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from fleetstat_agent import linux_auth
from fleetstat_agent.events_common import EventsError, Options
from fleetstat_agent.journal import Journal
cursor = json.loads(sys.argv[3])
try:
    result = linux_auth.read_auth_events(
        cursor, Options(int(sys.argv[4]), become="sudo"), Journal(extra_args=[sys.argv[2]]), (),
        session=(None, frozenset()))
    print(json.dumps(result))
except EventsError as err:
    print(json.dumps({"error": str(err)}))
"""


def test_become_sudo_reads_the_journal_through_one_fixed_command_and_a_refusal_says_the_rule(
    log_host: LogHost, ssh_user: SshUser, tmp_path: Path
) -> None:
    """An account outside adm and systemd-journal: refused without the rule (which the
    error gives word for word), then every event read through it, once."""
    from fleetstat.agent import become

    copy = ssh_user.home / "agent-src-become" / "fleetstat_agent"
    shutil.copytree(AGENT_SRC, copy, dirs_exist_ok=True)
    shutil.chown(copy.parent, ssh_user.name)
    directory = log_host.journal_args()[0]

    def as_user(cursor: dict[str, Any], cap: int = 10000) -> dict[str, Any]:
        done = subprocess.run(
            ["setpriv", f"--reuid={ssh_user.name}", f"--regid={ssh_user.name}",
             "--clear-groups", "/usr/bin/python3", "-I", "-c", BECOME_PROBE,
             str(copy.parent), directory, json.dumps(cursor), str(cap)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return dict(json.loads(done.stdout))

    command = become.command("sudo", "/usr/bin/journalctl", [directory])
    line = become.rule("sudo", ssh_user.name, command)
    assert line == (
        f"{ssh_user.name} ALL=(root) NOPASSWD: /usr/bin/journalctl -o json --no-pager -q "
        f"--since=-7d {directory} " + " ".join(command[9:])
    )
    refused = as_user({})
    assert refused["error"].startswith("auth events: sudo refused (")
    assert refused["error"].endswith(f"add this line (visudo, or /etc/doas.conf): {line}")

    sudoers = Path(f"/etc/sudoers.d/fleetstat-test-{ssh_user.name}")
    sudoers.write_text(line + "\n")
    sudoers.chmod(0o440)
    try:
        sudo_marker(log_host, "rot-become-0")
        wait_for_line(log_host, "rot-become-0")
        first = as_user({})
        assert "rot-become-0" in markers(first["records"], "rot-become-")
        sudo_marker(log_host, "rot-become-1")
        wait_for_line(log_host, "rot-become-1")
        later = as_user(first["cursor"])
        assert markers(later["records"], "rot-become-") == ["rot-become-1"]
        # a read cut short by the cap keeps its cursor (the reader's lines are closed)
        capped = as_user({}, cap=1)
        assert capped["truncated"] is True and len(capped["records"]) == 1
    finally:
        sudoers.unlink()
