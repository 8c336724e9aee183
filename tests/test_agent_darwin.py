"""The macOS platform module's parsers, over the tool outputs in ``tests/data/darwin``.

Those files follow the documented formats of the macOS tools (their README says how
they were made); the readers get them through a runner that answers each command
with its file, since no Mac runs here.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from fleetstat.agent import darwin
from fleetstat.agent.events import EventsError

DATA = Path(__file__).parent / "data" / "darwin"
OUTPUTS = {
    ("sysctl", "-n", "hw.memsize"): "sysctl_hw_memsize.txt",
    ("vm_stat",): "vm_stat.txt",
    ("sysctl", "vm.swapusage"): "sysctl_vm_swapusage.txt",
    ("sysctl", "-n", "kern.boottime"): "sysctl_kern_boottime.txt",
    ("mount",): "mount.txt",
}
GIB, MIB = 1024**3, 1024**2


def replay(args: list[str]) -> str:
    """The saved output of ``args``."""
    return (DATA / OUTPUTS[tuple(args)]).read_text()


class StatVfs(NamedTuple):
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_frsize: int


def test_vm_stat_gives_page_size_and_every_count() -> None:
    vm = darwin.parse_vm_stat(replay(["vm_stat"]))
    assert vm["page_size"] == 16384
    assert vm["pages"]["Pages free"] == 65536
    assert vm["pages"]["Pages speculative"] == 2048
    assert vm["pages"]["Translation faults"] == 987654321
    assert vm["pages"]["Swapouts"] == 23456
    assert len(vm["pages"]) == 22


def test_vm_stat_without_header_is_refused() -> None:
    with pytest.raises(ValueError, match="page size"):
        darwin.parse_vm_stat("Pages free: 1.\n")


def test_available_memory_is_free_inactive_and_speculative_pages() -> None:
    available = (65536 + 196608 + 2048) * 16384
    assert darwin.memory(run=replay) == {
        "total": 16 * GIB,
        "available": available,
        "used": 16 * GIB - available,
        "percent": 74.8,
    }


def test_swap_usage_sizes_are_binary_megabytes() -> None:
    assert darwin.swap(run=replay) == {
        "total": 2 * GIB,
        "used": 512 * MIB,
        "free": 1536 * MIB,
        "percent": 25.0,
    }


def test_no_swap_is_zero() -> None:
    text = "vm.swapusage: total = 0.00M  used = 0.00M  free = 0.00M  (encrypted)"
    assert darwin.parse_swapusage(text) == {"total": 0, "used": 0, "free": 0, "percent": 0.0}


def test_boot_time_has_microseconds_and_uptime_counts_from_it() -> None:
    assert darwin.parse_boottime(replay(["sysctl", "-n", "kern.boottime"])) == 1764159600.25
    seconds, boot_time = darwin.uptime(run=replay, clock=lambda: 1764246000.25)
    assert (seconds, boot_time) == (86400.0, 1764159600.25)


def test_mount_lines_keep_spaces_in_paths_and_split_options() -> None:
    mounts = darwin.parse_mount(replay(["mount"]))
    assert len(mounts) == 11
    assert mounts[-1] == {
        "device": "/dev/disk5s1",
        "mount": "/Volumes/Backup Disk",
        "fstype": "apfs",
        "options": ["local", "nodev", "nosuid", "journaled", "noowners"],
    }
    assert mounts[9]["device"] == "map auto_home"


def test_disks_are_the_system_and_data_volumes_and_user_volumes() -> None:
    sizes = {
        "/": StatVfs(f_blocks=1000, f_bfree=900, f_bavail=850, f_frsize=4096),
        "/System/Volumes/Data": StatVfs(f_blocks=1000, f_bfree=400, f_bavail=350, f_frsize=4096),
        "/Volumes/Backup Disk": StatVfs(f_blocks=10, f_bfree=10, f_bavail=10, f_frsize=4096),
    }
    found = darwin.disks(run=replay, statvfs=lambda path: sizes[path])
    assert [disk["mount"] for disk in found] == list(sizes)
    data = found[1]
    assert data == {
        "mount": "/System/Volumes/Data",
        "device": "/dev/disk3s5",
        "fstype": "apfs",
        "total": 1000 * 4096,
        "used": 600 * 4096,
        "free": 350 * 4096,
        "percent": 63.2,
    }


def test_a_mount_that_went_away_is_left_out() -> None:
    def statvfs(path: str) -> StatVfs:
        if path == "/Volumes/Backup Disk":
            raise FileNotFoundError(path)
        return StatVfs(f_blocks=1, f_bfree=1, f_bavail=1, f_frsize=512)

    found = darwin.disks(run=replay, statvfs=statvfs)
    assert [disk["mount"] for disk in found] == ["/", "/System/Volumes/Data"]


def test_disk_usage_of_a_real_filesystem_matches_statvfs() -> None:
    stat = os.statvfs("/")
    usage = darwin.disk_usage(stat)
    assert usage["total"] == stat.f_blocks * stat.f_frsize
    assert usage["free"] == stat.f_bavail * stat.f_frsize


class FakeLibSystem:
    """``mach_host_self`` and ``host_statistics`` as libSystem answers them."""

    TICKS = (1000, 500, 8000, 500)  # user, system, idle, nice

    def mach_host_self(self) -> int:
        return 0x1003

    def host_statistics(self, host: int, flavor: int, info: Any, count: Any) -> int:
        assert host == 0x1003
        assert flavor == darwin.HOST_CPU_LOAD_INFO
        assert ctypes.sizeof(info) == 16  # natural_t cpu_ticks[4]
        assert count._obj.value == 4
        for index, value in enumerate(self.TICKS):
            info[index] = value
        return 0


def test_cpu_times_come_from_the_host_tick_counters() -> None:
    busy, total = darwin.cpu_times(FakeLibSystem(), ticks_per_second=100)
    assert total == 100.0
    assert busy == 20.0


def test_a_failed_host_statistics_call_raises() -> None:
    class Failing(FakeLibSystem):
        def host_statistics(self, host: int, flavor: int, info: Any, count: Any) -> int:
            return 5  # KERN_FAILURE

    with pytest.raises(OSError, match="kern_return 5"):
        darwin.cpu_times(Failing(), ticks_per_second=100)


def test_security_events_say_they_are_not_collected_yet() -> None:
    with pytest.raises(EventsError, match="macOS security events are not collected yet"):
        darwin.security_events({}, 500)


def test_load_is_three_floats() -> None:
    load = darwin.load()
    assert len(load) == 3
    assert all(isinstance(value, float) for value in load)


def test_host_info_names_macos_and_every_value_is_text() -> None:
    info = darwin.host_info()
    assert (info["os"], info["os_name"]) == ("darwin", "macOS")
    assert all(isinstance(value, str) for value in info.values())
