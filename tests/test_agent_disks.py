"""Disks as ``df`` shows them: this machine's ``df``, mounts made in a private namespace,
captured mount tables of a container, and a filesystem that does not answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetstat.agent import linux
from fleetstat.alerting import rules
from fleetstat.core.model import AlertRule, Disk
from tests.test_agent_linux import RunAgent, run_agent  # noqa: F401 - the fixture

SRC = Path(__file__).resolve().parents[1] / "src"
DF = ["df", "-B1", "--output=target,fstype,size,used,avail"]


def df_table(command: list[str]) -> dict[str, tuple[str, int, int, int]]:
    """``df``'s rows: mount point → (type, size, used, available) in bytes."""
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in lines.splitlines()[1:]:
        target, fstype, size, used, avail = line.rsplit(None, 4)
        rows[target.strip()] = (fstype, int(size), int(used), int(avail))
    return rows


def real(rows: dict[str, tuple[str, int, int, int]]) -> dict[str, tuple[str, int, int, int]]:
    """``df``'s rows of real filesystems (df also lists tmpfs and devtmpfs)."""
    return {m: r for m, r in rows.items() if linux.is_real_filesystem("dev", r[0], m)}


def test_disks_are_the_filesystems_df_shows_with_its_figures(
    run_agent: RunAgent,  # noqa: F811
) -> None:
    expected = real(df_table(DF))
    disks = {disk.mount: disk for disk in run_agent().disks}
    assert set(disks) == set(expected)
    for mount, (fstype, size, used, avail) in expected.items():
        disk = disks[mount]
        assert (disk.fstype, disk.total) == (fstype, size)
        assert disk.used == pytest.approx(used, rel=0.01)  # a live filesystem moves
        assert disk.free == pytest.approx(avail, rel=0.01)


NS_SCRIPT = """
set -e
cd "$1"
mkdir -p data bound
mount --bind data bound
mkdir -p deeper/bound2 && mount --bind data deeper/bound2
touch hosts-file single
mount --bind hosts-file single
df -B1 --output=target,fstype,size,used,avail > df.txt
PYTHONPATH="$2" "$3" -c 'import json; from fleetstat.agent import linux
print(json.dumps(linux.disks()))'
"""


def test_bind_mounts_count_once_and_single_file_mounts_not_at_all(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", NS_SCRIPT, "ns",
         str(tmp_path), str(SRC), sys.executable],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    disks = json.loads(done.stdout)
    mounts = [d["mount"] for d in disks]
    df_rows = real(df_table(["cat", str(tmp_path / "df.txt")]))
    assert str(tmp_path / "bound") not in mounts
    assert str(tmp_path / "single") not in mounts
    assert str(tmp_path / "deeper" / "bound2") not in mounts
    assert sorted(mounts) == sorted(df_rows)
    assert mounts.count("/") == 1


CONTAINER = """\
612 540 0:52 / / rw,relatime master:248 - overlay overlay rw,lowerdir=/l/A:/l/B,upperdir=/x/diff
613 612 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
614 612 0:56 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
620 612 254:1 /var/lib/docker/containers/abc/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda1 rw
621 612 254:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw
622 612 254:1 /var/lib/docker/containers/abc/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw
623 612 254:1 /srv/app-data /data rw,relatime - ext4 /dev/vda1 rw
624 612 254:1 /srv/app-data /data2 rw,relatime - ext4 /dev/vda1 rw
625 612 7:3 / /media/cd ro,relatime - iso9660 /dev/loop3 ro
626 612 0:60 / /mnt/share rw,relatime - nfs4 server:/export rw,vers=4.2
"""
FILES = {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"}


def test_in_a_container_the_overlay_is_root_and_single_file_mounts_are_left_out() -> None:
    mounts = linux.df_mounts(linux.parse_mountinfo(CONTAINER), is_dir=lambda p: p not in FILES)
    assert [(m["mount"], m["fstype"]) for m in mounts] == [
        ("/", "overlay"),
        ("/data", "ext4"),  # /data2 mounts the same folder of the same disk: counted once
        ("/media/cd", "iso9660"),
        ("/mnt/share", "nfs4"),
    ]


def test_a_filesystem_that_does_not_answer_is_listed_with_an_error_in_time() -> None:
    started = time.monotonic()
    with pytest.raises(linux.StatTimeout, match="no answer"):
        linux.statvfs_within("/", 0.5, statvfs=lambda path: time.sleep(30))
    assert time.monotonic() - started < 5  # the child was killed, not waited for
    assert linux.statvfs_within("/", 5).f_blocks == os.statvfs("/").f_blocks
    with pytest.raises(OSError):
        linux.statvfs_within("/nonexistent-path", 5)


def disk(mount: str, percent: float, fstype: str = "ext4", error: str | None = None) -> Disk:
    return Disk(mount, "/dev/x", fstype, 100, int(percent), 100 - int(percent), percent, error)


@pytest.mark.parametrize("image", ["iso9660", "squashfs", "erofs", "udf"])
def test_read_only_images_are_never_the_fullest_filesystem(image: str) -> None:
    from tests.test_alerts import ok_result

    rule = AlertRule(type="disk", limit=90.0)
    disks = (disk("/", 40.0), disk("/media/cd", 100.0, image), disk("/mnt/nfs", 0.0, "nfs4",
             "no answer from the filesystem within 5s"))  # fmt: skip
    reading = rules.read(rule, ok_result(disks=disks))
    assert reading is not None
    assert (reading.over, reading.value, reading.detail) == (False, 40.0, "disk / 40.0% <= 90%")
    hung = rules.read(AlertRule(type="disk", limit=90.0, mount="/mnt/nfs"), ok_result(disks=disks))
    assert hung is None  # no figure: the rule stays as it is
