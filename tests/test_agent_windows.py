"""The Windows platform module's kernel32 calls, against the documented Win32 layouts.

kernel32 cannot run here, so a stand-in receives the very ``ctypes`` arguments the
module passes and writes known figures into them at the byte offsets Microsoft
documents (MEMORYSTATUSEX: 64 bytes, ``dwLength`` first, then ``dwMemoryLoad`` and
seven 64-bit counts; FILETIME: two 32-bit halves, low first; ULARGE_INTEGER: 8 bytes).
A structure of the wrong size or field order reads back the wrong figures.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import pytest

from fleetstat.agent import windows

GIB = 1024**3
TOTAL_PHYS, AVAIL_PHYS = 16 * GIB, 4 * GIB
TOTAL_PAGE_FILE, AVAIL_PAGE_FILE = 24 * GIB, 10 * GIB  # commit limit and available commit
IDLE_S, KERNEL_S, USER_S = 1000.0, 1500.0, 500.0  # kernel time includes idle time
TICKS_MS = 90_061_500  # 1 day, 1 h, 1 min, 1.5 s
DRIVE_TYPES = {"A:\\": 2, "C:\\": 3, "D:\\": 5, "E:\\": 3}  # removable, fixed, CD, fixed
FOLDER = "C:\\mnt\\data\\"  # a second fixed volume mounted into a folder of C:
C_TOTAL, C_TOTAL_FREE, C_CALLER_FREE = 500 * 10**9, 200 * 10**9, 190 * 10**9
DATA_TOTAL, DATA_TOTAL_FREE, DATA_CALLER_FREE = 100 * 10**9, 50 * 10**9, 50 * 10**9
VOLUMES = {  # volume name: where it is mounted
    "\\\\?\\Volume{c}\\": ["C:\\"],
    "\\\\?\\Volume{data}\\": [FOLDER],
    "\\\\?\\Volume{cd}\\": ["D:\\"],
    "\\\\?\\Volume{e}\\": ["E:\\"],
    "\\\\?\\Volume{recovery}\\": [],
}
PAGE = 4096
COMMIT_TOTAL, COMMIT_LIMIT = 20 * GIB // PAGE, 24 * GIB // PAGE  # pages; the charge is not swap
PAGE_FILE_USAGE = 25.0  # percent, the performance counter


def _write(target: Any, offset: int, fmt: str, value: int) -> None:
    """Write ``value`` packed little-endian as ``fmt`` at ``offset`` bytes into ``target``."""
    data = struct.pack("<" + fmt, value)
    ctypes.memmove(ctypes.addressof(target) + offset, data, len(data))


def _pointee(ref: Any) -> Any:
    """The object behind a ``ctypes.byref`` argument."""
    return ref._obj


def _write_filetime(ref: Any, seconds: float) -> None:
    target = _pointee(ref)
    assert ctypes.sizeof(target) == 8
    units = int(seconds * 10**7)
    _write(target, 0, "I", units & 0xFFFFFFFF)
    _write(target, 4, "I", units >> 32)


class FakeKernel32:
    """kernel32's functions as the module calls them, answering with the figures above."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def GlobalMemoryStatusEx(self, ref: Any) -> int:
        status = _pointee(ref)
        assert ctypes.sizeof(status) == 64
        assert struct.unpack_from("<I", bytes(status), 0)[0] == 64  # dwLength, set first
        _write(status, 4, "I", 75)  # dwMemoryLoad
        for offset, value in enumerate(
            (TOTAL_PHYS, AVAIL_PHYS, TOTAL_PAGE_FILE, AVAIL_PAGE_FILE, 128 * GIB, 127 * GIB, 0)
        ):
            _write(status, 8 + 8 * offset, "Q", value)
        return 1

    def GetSystemTimes(self, idle: Any, kernel: Any, user: Any) -> int:
        _write_filetime(idle, IDLE_S)
        _write_filetime(kernel, KERNEL_S)
        _write_filetime(user, USER_S)
        return 1

    def GetTickCount64(self) -> int:
        return TICKS_MS

    def GetLogicalDriveStringsW(self, size: int, buffer: Any) -> int:
        text = "".join(root + "\0" for root in DRIVE_TYPES)
        if buffer is None or size <= len(text):
            return len(text) + 1
        buffer[: len(text) + 1] = text + "\0"
        return len(text)

    def GetDriveTypeW(self, root: str) -> int:
        self.calls.append("type " + root)
        return 3 if root == FOLDER else DRIVE_TYPES[root]

    def GetDiskFreeSpaceExW(self, root: str, caller: Any, total: Any, total_free: Any) -> int:
        self.calls.append("space " + root)
        figures = {
            "C:\\": (C_CALLER_FREE, C_TOTAL, C_TOTAL_FREE),
            FOLDER: (DATA_CALLER_FREE, DATA_TOTAL, DATA_TOTAL_FREE),
        }
        if root not in figures:
            return 0  # not ready
        for ref, value in zip((caller, total, total_free), figures[root], strict=True):
            assert ctypes.sizeof(_pointee(ref)) == 8
            _write(_pointee(ref), 0, "Q", value)
        return 1

    def GetVolumeInformationW(self, root: str, *args: Any) -> int:
        name_buffer, size = args[5], args[6]
        assert len(args) == 7 and size == len(name_buffer)
        name_buffer.value = "NTFS"
        return 1

    def K32GetPerformanceInfo(self, ref: Any, size: int) -> int:
        info = _pointee(ref)
        assert ctypes.sizeof(info) == size == 104  # 64-bit layout
        assert struct.unpack_from("<I", bytes(info), 0)[0] == 104  # cb, set first
        for offset, value in ((8, COMMIT_TOTAL), (16, COMMIT_LIMIT), (32, TOTAL_PHYS // PAGE),
                              (40, AVAIL_PHYS // PAGE), (80, PAGE)):  # fmt: skip
            _write(info, offset, "Q", value)
        return 1

    def FindFirstVolumeW(self, buffer: Any, size: int) -> int:
        self._volumes = list(VOLUMES)
        buffer.value = self._volumes.pop(0)
        return 77

    def FindNextVolumeW(self, handle: Any, buffer: Any, size: int) -> int:
        assert handle.value == 77
        if not self._volumes:
            return 0
        buffer.value = self._volumes.pop(0)
        return 1

    def FindVolumeClose(self, handle: Any) -> int:
        self.calls.append("close volumes")
        return 1

    def GetVolumePathNamesForVolumeNameW(
        self, volume: str, buffer: Any, size: int, needed: Any
    ) -> int:
        text = "".join(path + "\0" for path in VOLUMES[volume]) + "\0"
        _write(_pointee(needed), 0, "I", len(text))
        if buffer is None or size < len(text):
            return 0
        buffer[: len(text)] = text
        return 1


class FakePdh:
    """pdh.dll answering the paging file's % Usage counter."""

    def __init__(self) -> None:
        self.counter = ""

    def PdhOpenQueryW(self, source: Any, user: int, query: Any) -> int:
        return 0

    def PdhAddEnglishCounterW(self, query: Any, path: str, user: int, counter: Any) -> int:
        self.counter = path
        return 0

    def PdhCollectQueryData(self, query: Any) -> int:
        return 0

    def PdhGetFormattedCounterValue(self, counter: Any, fmt: int, kind: Any, value: Any) -> int:
        assert fmt == windows.PDH_FMT_DOUBLE
        target = _pointee(value)
        assert ctypes.sizeof(target) == 16
        struct.pack_into("<d", (ctypes.c_char * 16).from_buffer(target), 8, PAGE_FILE_USAGE)
        return 0

    def PdhCloseQuery(self, query: Any) -> int:
        return 0


class FailingKernel32(FakeKernel32):
    def GlobalMemoryStatusEx(self, ref: Any) -> int:
        return 0


def test_structures_have_the_documented_sizes() -> None:
    assert ctypes.sizeof(windows.MEMORYSTATUSEX) == 64
    assert windows.MEMORYSTATUSEX.dwLength.offset == 0
    assert windows.MEMORYSTATUSEX.ullAvailExtendedVirtual.offset == 56
    assert ctypes.sizeof(windows.FILETIME) == 8
    assert ctypes.sizeof(windows.ULARGE_INTEGER) == 8


def test_memory_is_physical_memory_with_used_as_total_minus_available() -> None:
    assert windows.memory(FakeKernel32()) == {
        "total": TOTAL_PHYS,
        "available": AVAIL_PHYS,
        "used": 12 * GIB,
        "percent": 75.0,
    }


def test_swap_is_the_paging_files_use_not_the_commit_charge() -> None:
    counters = FakePdh()
    assert windows.swap(FakeKernel32(), counters) == {
        "total": 8 * GIB,  # commit limit less physical memory
        "used": 2 * GIB,  # 25 % of it, from the paging file counter
        "free": 6 * GIB,
        "percent": 25.0,
    }
    assert counters.counter == "\\Paging File(_Total)\\% Usage"


def test_no_paging_file_is_zero_swap() -> None:
    class NoPageFile(FakeKernel32):
        def K32GetPerformanceInfo(self, ref: Any, size: int) -> int:
            super().K32GetPerformanceInfo(ref, size)
            _write(_pointee(ref), 16, "Q", TOTAL_PHYS // PAGE)
            return 1

    assert windows.swap(NoPageFile(), FakePdh()) == {
        "total": 0, "used": 0, "free": 0, "percent": 0.0,
    }  # fmt: skip


def test_cpu_times_count_kernel_time_without_its_idle_part_as_busy() -> None:
    busy, total = windows.cpu_times(FakeKernel32())
    assert total == KERNEL_S + USER_S
    assert busy == KERNEL_S + USER_S - IDLE_S


def test_uptime_comes_from_milliseconds_since_boot() -> None:
    seconds, boot_time = windows.uptime(FakeKernel32(), clock=lambda: 1_764_246_000.0)
    assert seconds == 90_061.5
    assert boot_time == 1_764_246_000.0 - 90_061.5


def test_disks_are_the_fixed_volumes_that_answer_at_drive_letters_and_folders() -> None:
    fake = FakeKernel32()
    assert windows.disks(fake) == [
        {
            "mount": "C:\\",
            "device": "\\\\?\\Volume{c}\\",
            "fstype": "NTFS",
            "total": C_TOTAL,
            "used": 300 * 10**9,
            "free": C_CALLER_FREE,
            "percent": 61.2,
        },
        {
            "mount": FOLDER,
            "device": "\\\\?\\Volume{data}\\",
            "fstype": "NTFS",
            "total": DATA_TOTAL,
            "used": 50 * 10**9,
            "free": DATA_CALLER_FREE,
            "percent": 50.0,
        },
    ]
    assert "space D:\\" not in fake.calls
    assert "space E:\\" in fake.calls
    assert "close volumes" in fake.calls


def test_without_the_volume_list_the_drive_letters_are_read() -> None:
    class NoVolumes(FakeKernel32):
        def FindFirstVolumeW(self, buffer: Any, size: int) -> int:
            return ctypes.c_void_p(-1).value or -1

    fake = NoVolumes()
    assert [d["mount"] for d in windows.disks(fake)] == ["C:\\"]
    assert "space A:\\" not in fake.calls


def test_windows_has_no_load_average() -> None:
    assert windows.load() is None


def test_a_failed_call_raises_os_error() -> None:
    with pytest.raises(OSError, match="Windows call failed"):
        windows.memory(FailingKernel32())


def test_declare_makes_tick_count_64_bit() -> None:
    class Function:
        restype: Any = ctypes.c_int

    class Library:
        GetTickCount64 = Function()
        GetLogicalDriveStringsW = Function()
        GetDriveTypeW = Function()
        FindFirstVolumeW = Function()

    lib = windows.declare(Library())
    assert lib.GetTickCount64.restype is ctypes.c_uint64


def test_host_info_names_windows_and_every_value_is_text() -> None:
    info = windows.host_info()
    assert info["os"] == "windows"
    assert info["os_name"].startswith("Windows")
    assert set(info) == {"hostname", "os", "os_name", "os_version", "kernel", "arch", "python"}
    assert all(isinstance(value, str) for value in info.values())
