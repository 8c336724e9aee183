"""Windows figures through ``ctypes`` calls into kernel32, and the Security log.

Every call goes through the object ``kernel32()`` returns (``ctypes.WinDLL`` on
Windows); each function takes it as a parameter so the module imports anywhere and
tests can hand in their own. Structures follow the documented Win32 layouts.

Standard library only; runs on Python 3.6+.
"""

import ctypes
import os
import platform
import time

from . import events

DRIVE_FIXED = 3  # GetDriveTypeW: a hard disk or flash drive
_FILETIME_UNITS = 1e7  # FILETIME counts 100-nanosecond intervals


class MEMORYSTATUSEX(ctypes.Structure):
    """GlobalMemoryStatusEx's result: 64 bytes, ``dwLength`` set to that before the call."""

    _fields_ = [
        ("dwLength", ctypes.c_uint32),
        ("dwMemoryLoad", ctypes.c_uint32),
        ("ullTotalPhys", ctypes.c_uint64),
        ("ullAvailPhys", ctypes.c_uint64),
        ("ullTotalPageFile", ctypes.c_uint64),
        ("ullAvailPageFile", ctypes.c_uint64),
        ("ullTotalVirtual", ctypes.c_uint64),
        ("ullAvailVirtual", ctypes.c_uint64),
        ("ullAvailExtendedVirtual", ctypes.c_uint64),
    ]


class PERFORMANCE_INFORMATION(ctypes.Structure):
    """GetPerformanceInfo's result: counts of pages (``PageSize`` bytes each), ``cb`` set
    to its size before the call (104 bytes on 64-bit Windows, 56 on 32-bit)."""

    _fields_ = [
        ("cb", ctypes.c_uint32),
        ("CommitTotal", ctypes.c_size_t),
        ("CommitLimit", ctypes.c_size_t),
        ("CommitPeak", ctypes.c_size_t),
        ("PhysicalTotal", ctypes.c_size_t),
        ("PhysicalAvailable", ctypes.c_size_t),
        ("SystemCache", ctypes.c_size_t),
        ("KernelTotal", ctypes.c_size_t),
        ("KernelPaged", ctypes.c_size_t),
        ("KernelNonpaged", ctypes.c_size_t),
        ("PageSize", ctypes.c_size_t),
        ("HandleCount", ctypes.c_uint32),
        ("ProcessCount", ctypes.c_uint32),
        ("ThreadCount", ctypes.c_uint32),
    ]


class PDH_FMT_COUNTERVALUE(ctypes.Structure):
    """A formatted PDH counter value: a status, then (8-byte aligned) the double."""

    _fields_ = [("CStatus", ctypes.c_uint32), ("doubleValue", ctypes.c_double)]


PDH_FMT_DOUBLE = 0x00000200
PAGE_FILE_USAGE = "\\Paging File(_Total)\\% Usage"


class FILETIME(ctypes.Structure):
    """A 64-bit count of 100 ns intervals in two 32-bit halves, low half first."""

    _fields_ = [("dwLowDateTime", ctypes.c_uint32), ("dwHighDateTime", ctypes.c_uint32)]


ULARGE_INTEGER = ctypes.c_uint64


def kernel32():
    """kernel32.dll with the return types this module relies on declared."""
    return declare(ctypes.WinDLL("kernel32", use_last_error=True))


def pdh():
    """pdh.dll, the performance counters (``None`` where it cannot be loaded)."""
    try:
        return ctypes.WinDLL("pdh")
    except OSError:
        return None


def declare(lib):
    """Set the result types ctypes cannot guess (``GetTickCount64`` is 64-bit)."""
    lib.GetTickCount64.restype = ctypes.c_uint64
    lib.GetLogicalDriveStringsW.restype = ctypes.c_uint32
    lib.GetDriveTypeW.restype = ctypes.c_uint32
    lib.FindFirstVolumeW.restype = ctypes.c_void_p
    return lib


def host_info():
    """The host's identity from ``platform`` and the registry's product name."""
    return {
        "hostname": platform.node(),
        "os": "windows",
        "os_name": product_name(),
        "os_version": platform.version(),
        "kernel": platform.version(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def product_name():
    """``ProductName`` of ``HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion``
    ("Windows Server 2022 Standard"), else ``Windows <release>``.

    Windows 11 still writes "Windows 10 ..." there; ``os_version``'s build number
    (22000 and up) tells them apart.
    """
    try:
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
        )
        with key:
            return str(winreg.QueryValueEx(key, "ProductName")[0])
    except (ImportError, OSError):
        return "Windows " + platform.release()


def cpu_count():
    """Logical CPUs (at least 1)."""
    return os.cpu_count() or 1


def cpu_times(lib=None):
    """``(busy, total)`` CPU seconds since boot over all CPUs, from ``GetSystemTimes``.

    GetSystemTimes gives idle, kernel and user time summed over all processors;
    kernel time includes idle time, so total = kernel + user and busy = total - idle.
    """
    lib = lib or kernel32()
    idle, kernel, user = FILETIME(), FILETIME(), FILETIME()
    _check(lib.GetSystemTimes(ctypes.byref(idle), ctypes.byref(kernel), ctypes.byref(user)))
    total = filetime_seconds(kernel) + filetime_seconds(user)
    return total - filetime_seconds(idle), total


def filetime_seconds(value):
    """Seconds in a FILETIME used as a duration."""
    return ((value.dwHighDateTime << 32) | value.dwLowDateTime) / _FILETIME_UNITS


def memory(lib=None):
    """Physical memory in bytes: total, available (``ullAvailPhys``), used, percent."""
    status = memory_status(lib or kernel32())
    total, available = status.ullTotalPhys, status.ullAvailPhys
    used = total - available
    return {"total": total, "available": available, "used": used, "percent": percent(used, total)}


def swap(lib=None, counters=None):
    """The paging files' size and use in bytes, as psutil (5.9.4 and later) reports them.

    The size is the commit limit less physical memory (``GetPerformanceInfo``, in
    pages); the use is that size times the ``\\Paging File(_Total)\\% Usage``
    performance counter (``counters`` is pdh.dll). The commit charge is not swap: it
    counts memory that was promised, most of which never reaches a paging file. All
    zero when there is no paging file; the use is 0 when the counter cannot be read.
    """
    lib = lib or kernel32()
    info = performance_info(lib)
    total = max(0, (info.CommitLimit - info.PhysicalTotal) * info.PageSize)
    share = page_file_percent(counters if counters is not None else pdh()) if total else 0.0
    used = min(total, int(total * share / 100.0))
    return {"total": total, "used": used, "free": total - used, "percent": percent(used, total)}


def performance_info(lib):
    """A filled ``PERFORMANCE_INFORMATION`` from ``K32GetPerformanceInfo``."""
    info = PERFORMANCE_INFORMATION()
    info.cb = ctypes.sizeof(PERFORMANCE_INFORMATION)
    _check(lib.K32GetPerformanceInfo(ctypes.byref(info), info.cb))
    return info


def page_file_percent(counters):
    """``\\Paging File(_Total)\\% Usage`` (0-100) read once through pdh.dll; 0.0 when
    the counter cannot be read (no pdh, or no paging file)."""
    if counters is None:
        return 0.0
    query, counter = ctypes.c_void_p(), ctypes.c_void_p()
    if counters.PdhOpenQueryW(None, 0, ctypes.byref(query)) != 0:
        return 0.0
    try:
        value = PDH_FMT_COUNTERVALUE()
        steps = (
            lambda: counters.PdhAddEnglishCounterW(
                query, PAGE_FILE_USAGE, 0, ctypes.byref(counter)
            ),
            lambda: counters.PdhCollectQueryData(query),
            lambda: counters.PdhGetFormattedCounterValue(
                counter, PDH_FMT_DOUBLE, None, ctypes.byref(value)
            ),
        )
        if any(step() != 0 for step in steps):
            return 0.0
        return max(0.0, min(100.0, value.doubleValue))
    finally:
        counters.PdhCloseQuery(query)


def memory_status(lib):
    """A filled ``MEMORYSTATUSEX`` from ``GlobalMemoryStatusEx``."""
    status = MEMORYSTATUSEX()
    status.dwLength = ctypes.sizeof(MEMORYSTATUSEX)
    _check(lib.GlobalMemoryStatusEx(ctypes.byref(status)))
    return status


def uptime(lib=None, clock=time.time):
    """``(seconds since boot, boot time as epoch seconds)`` from ``GetTickCount64`` (ms)."""
    seconds = (lib or kernel32()).GetTickCount64() / 1000.0
    return seconds, clock() - seconds


def load():
    """Windows keeps no load average: ``None``."""
    return None


def disks(lib=None):
    """One dict per fixed volume at each place it is mounted: drive letters (``C:\\``)
    and folders (``C:\\mnt\\data\\``); bytes as ``GetDiskFreeSpaceExW`` reports.

    ``free`` is what the calling user may still write (quotas included), ``used`` is
    total minus the free bytes of the whole volume. Volumes not ready (no medium) are
    left out. ``device`` is the volume's name (``\\\\?\\Volume{...}\\``), or the
    drive when the volumes cannot be listed.
    """
    lib = lib or kernel32()
    result = []
    for root, device in mount_points(lib):
        if lib.GetDriveTypeW(root) != DRIVE_FIXED:
            continue
        figures = drive_space(lib, root)
        if figures is not None:
            fstype = filesystem_name(lib, root)
            result.append(dict(figures, mount=root, device=device, fstype=fstype))
    return result


def mount_points(lib):
    """``[(mount path, device)]`` of every volume (``FindFirstVolumeW`` and
    ``GetVolumePathNamesForVolumeNameW``), or of the drive letters when that fails."""
    name = ctypes.create_unicode_buffer(1024)
    handle = lib.FindFirstVolumeW(name, len(name))
    if handle in (None, 0, -1, ctypes.c_void_p(-1).value):
        return [(root, root) for root in logical_drives(lib)]
    found = []
    try:
        while True:
            found += [(path, name.value) for path in volume_paths(lib, name.value)]
            if not lib.FindNextVolumeW(ctypes.c_void_p(handle), name, len(name)):
                break
    finally:
        lib.FindVolumeClose(ctypes.c_void_p(handle))
    return found


def volume_paths(lib, volume):
    """The drive letters and folders a volume is mounted at (may be none)."""
    size = ctypes.c_uint32(0)
    lib.GetVolumePathNamesForVolumeNameW(volume, None, 0, ctypes.byref(size))
    buffer = ctypes.create_unicode_buffer(max(size.value, 1) + 1)
    if not lib.GetVolumePathNamesForVolumeNameW(volume, buffer, len(buffer), ctypes.byref(size)):
        return []
    return [path for path in buffer[: size.value].split("\0") if path]


def logical_drives(lib):
    """Root paths of every drive letter (``["C:\\", "D:\\"]``)."""
    size = lib.GetLogicalDriveStringsW(0, None)
    buffer = ctypes.create_unicode_buffer(size + 1)
    written = lib.GetLogicalDriveStringsW(size + 1, buffer)
    _check(written)
    return [root for root in buffer[:written].split("\0") if root]


def drive_space(lib, root):
    """``{"total", "used", "free", "percent"}`` of the volume at ``root``, or ``None``."""
    caller_free, total, total_free = ULARGE_INTEGER(), ULARGE_INTEGER(), ULARGE_INTEGER()
    refs = ctypes.byref(caller_free), ctypes.byref(total), ctypes.byref(total_free)
    if not lib.GetDiskFreeSpaceExW(root, *refs):
        return None
    used = total.value - total_free.value
    free = caller_free.value
    return {"total": total.value, "used": used, "free": free, "percent": percent(used, used + free)}


def filesystem_name(lib, root):
    """The file system of the volume at ``root`` ("NTFS", "ReFS"), or "" when unknown."""
    name = ctypes.create_unicode_buffer(261)
    ok = lib.GetVolumeInformationW(root, None, 0, None, None, None, name, len(name))
    return name.value if ok else ""


def security_events(since, options):
    """The Security log's records after the cursor; see ``events.windows_security``."""
    return events.windows_security(since, options)


def percent(part, whole):
    """``part / whole * 100`` rounded to 0.1; 0.0 when ``whole`` is 0."""
    return round(part * 100.0 / whole, 1) if whole > 0 else 0.0


def _check(ok):
    """Raise ``OSError`` with Windows' last error when a BOOL call returned 0."""
    if not ok:
        code = getattr(ctypes, "get_last_error", lambda: 0)()
        raise OSError(code, "Windows call failed (error %d)" % code)
