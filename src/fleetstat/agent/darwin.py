"""macOS figures from ``sysctl``, ``vm_stat``, ``mount``, ``os.statvfs`` and the Mach host.

The parsers are pure functions over the tools' text; the functions named in
``agent/__init__.py`` are thin readers around them. ``run(args) -> text`` runs a
command; every reader takes it as a parameter.

Standard library only; runs on Python 3.6+.
"""

import ctypes
import os
import platform
import re
import subprocess
import time

from .events_common import EventsError

HOST_CPU_LOAD_INFO = 3  # host_statistics flavor: cpu_ticks[CPU_STATE_MAX]
CPU_STATE_MAX = 4  # user, system, idle, nice (mach/machine.h)
CPU_STATE_IDLE = 2

# Filesystem types that hold no data of their own.
PSEUDO_FSTYPES = frozenset(["devfs", "autofs", "fdesc", "nullfs", "lifs"])
# The one ``nobrowse`` volume worth reporting: the data half of the system volume group.
DATA_VOLUME = "/System/Volumes/Data"

_SIZE_UNITS = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def run_command(args):
    """What ``args`` prints on stdout, as text; ``OSError`` when it fails."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip() or "exit %d" % proc.returncode
        raise OSError("%s failed: %s" % (" ".join(args), message))
    return out.decode("utf-8", "replace")


# ---------------------------------------------------------------- parsers (pure)


def parse_vm_stat(text):
    """``vm_stat`` -> ``{"page_size": bytes, "pages": {name: count}}``.

    The header says the page size (``(page size of 16384 bytes)``); each line after
    it is ``Pages free:  12345.`` (names as printed, without quotes).
    """
    match = re.search(r"page size of (\d+) bytes", text)
    if not match:
        raise ValueError("vm_stat output has no page size header")
    pages = {}
    for line in text.splitlines()[1:]:
        name, sep, value = line.rpartition(":")
        number = value.strip().rstrip(".")
        if sep and number.isdigit():
            pages[name.strip().strip('"')] = int(number)
    return {"page_size": int(match.group(1)), "pages": pages}


def memory_figures(total, vm):
    """The protocol's ``memory`` dict from ``hw.memsize`` bytes and parsed ``vm_stat``.

    available = free + inactive + speculative pages. vm_stat's "Pages free" leaves
    speculative (read-ahead) pages out although the kernel can hand them out at once,
    so they are added back; psutil counts free + inactive and so reads a little lower.
    """
    pages = vm["pages"]
    names = ("Pages free", "Pages inactive", "Pages speculative")
    available = min(total, sum(pages.get(name, 0) for name in names) * vm["page_size"])
    used = total - available
    return {"total": total, "available": available, "used": used, "percent": percent(used, total)}


def parse_swapusage(text):
    """``sysctl vm.swapusage`` -> the protocol's ``swap`` dict (bytes).

    The line reads ``vm.swapusage: total = 2048.00M  used = 1024.50M  free = 1023.50M
    (encrypted)``; sizes carry a K, M or G suffix (powers of 1024).
    """
    sizes = {}
    for name, number, unit in re.findall(r"(total|used|free) = ([\d.]+)([BKMGT]?)", text):
        sizes[name] = int(round(float(number) * _SIZE_UNITS[unit or "B"]))
    if "total" not in sizes:
        raise ValueError("vm.swapusage output has no total: %r" % (text.strip(),))
    total, used = sizes["total"], sizes.get("used", 0)
    free = sizes.get("free", total - used)
    return {"total": total, "used": used, "free": free, "percent": percent(used, total)}


def parse_boottime(text):
    """``sysctl -n kern.boottime`` (``{ sec = 1764159600, usec = 250000 } Thu ...``)
    -> the boot time as epoch seconds."""
    match = re.search(r"sec = (\d+), usec = (\d+)", text)
    if not match:
        raise ValueError("kern.boottime output has no sec/usec: %r" % (text.strip(),))
    return int(match.group(1)) + int(match.group(2)) / 1e6


def parse_mount(text):
    """``mount`` -> ``[{"device", "mount", "fstype", "options": [..]}]`` in listed order.

    Each line reads ``/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled,
    nobrowse)``; the first word in the parentheses is the filesystem type.
    """
    mounts = []
    for line in text.splitlines():
        match = re.match(r"^(.+?) on (.+) \(([^()]*)\)\s*$", line)
        if match:
            words = [word.strip() for word in match.group(3).split(",")]
            mounts.append(
                {
                    "device": match.group(1),
                    "mount": match.group(2),
                    "fstype": words[0],
                    "options": words[1:],
                }
            )
    return mounts


def is_real_mount(entry):
    """True for a mount that holds data: not devfs/autofs/``map ...``, and not one of
    the system's hidden (``nobrowse``) volumes except ``/System/Volumes/Data``."""
    if entry["fstype"] in PSEUDO_FSTYPES or entry["device"].startswith("map "):
        return False
    return "nobrowse" not in entry["options"] or entry["mount"] == DATA_VOLUME


def disk_usage(stat):
    """``{"total", "used", "free", "percent"}`` in bytes from an ``os.statvfs`` result.

    ``free`` is what an unprivileged user may write (``f_bavail``); ``percent`` is
    ``used / (used + free) * 100`` as ``df`` shows it.
    """
    total = stat.f_blocks * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    return {"total": total, "used": used, "free": free, "percent": percent(used, used + free)}


def percent(part, whole):
    """``part / whole * 100`` rounded to 0.1; 0.0 when ``whole`` is 0."""
    return round(part * 100.0 / whole, 1) if whole > 0 else 0.0


# ---------------------------------------------------------------- readers


def host_info():
    """The host's identity: ``macOS``, the product version, the Darwin release."""
    return {
        "hostname": platform.node(),
        "os": "darwin",
        "os_name": "macOS",
        "os_version": platform.mac_ver()[0],
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def cpu_count():
    """Logical CPUs (at least 1)."""
    return os.cpu_count() or 1


def cpu_times(lib=None, ticks_per_second=None):
    """``(busy, total)`` CPU seconds since boot over all CPUs.

    From the Mach call ``host_statistics(HOST_CPU_LOAD_INFO)``: ticks in the user,
    system, idle and nice states summed over all CPUs (what ``top`` and psutil read;
    no ``sysctl`` gives these counters, and ``iostat``/``top -l 1`` print only
    percentages). Ticks are ``SC_CLK_TCK`` per second. The counters are 32-bit and
    wrap after 2**32 ticks (about 500 CPU-days at 100 Hz); the server sees a wrap as
    a counter reset.
    """
    lib = lib or ctypes.CDLL("/usr/lib/libSystem.B.dylib")
    ticks = (ctypes.c_uint32 * CPU_STATE_MAX)()
    count = ctypes.c_uint32(CPU_STATE_MAX)
    host = lib.mach_host_self()
    status = lib.host_statistics(host, HOST_CPU_LOAD_INFO, ticks, ctypes.byref(count))
    if status != 0:
        raise OSError("host_statistics(HOST_CPU_LOAD_INFO) failed with kern_return %d" % status)
    hz = float(ticks_per_second or os.sysconf("SC_CLK_TCK"))
    total = sum(ticks) / hz
    return total - ticks[CPU_STATE_IDLE] / hz, total


def memory(run=None):
    """The protocol's ``memory`` dict from ``sysctl -n hw.memsize`` and ``vm_stat``."""
    run = run or run_command
    total = int(run(["sysctl", "-n", "hw.memsize"]).strip())
    return memory_figures(total, parse_vm_stat(run(["vm_stat"])))


def swap(run=None):
    """The protocol's ``swap`` dict from ``sysctl vm.swapusage`` (bytes)."""
    return parse_swapusage((run or run_command)(["sysctl", "vm.swapusage"]))


def uptime(run=None, clock=time.time):
    """``(seconds since boot, boot time)`` from ``sysctl -n kern.boottime``."""
    boot_time = parse_boottime((run or run_command)(["sysctl", "-n", "kern.boottime"]))
    return clock() - boot_time, boot_time


def load():
    """The 1, 5 and 15 minute load averages."""
    return [float(value) for value in os.getloadavg()]


def disks(run=None, statvfs=os.statvfs):
    """One dict per real mount that ``mount`` lists, with ``os.statvfs`` figures."""
    result = []
    for entry in parse_mount((run or run_command)(["mount"])):
        if not is_real_mount(entry):
            continue
        try:
            figures = disk_usage(statvfs(entry["mount"]))
        except OSError:
            continue  # unmounted since, or not readable by this user
        fields = {"mount": entry["mount"], "device": entry["device"], "fstype": entry["fstype"]}
        result.append(dict(figures, **fields))
    return result


def security_events(since, options):
    """Not collected on macOS yet: raises ``EventsError`` saying so."""
    raise EventsError("macOS security events are not collected yet")
