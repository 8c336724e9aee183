"""Linux figures from ``/proc``, ``/etc/os-release`` and ``os.statvfs``.

The parsers are pure functions over the files' text; the functions named in
``agent/__init__.py`` are thin readers around them.
"""

import os
import platform
import select
import struct
import time

# Filesystem types that hold no user data of their own; anything else is real.
PSEUDO_FSTYPES = frozenset(
    (
        # kernel interfaces
        "proc", "sysfs", "devtmpfs", "devpts", "devfs", "usbfs", "securityfs", "selinuxfs",
        "debugfs", "tracefs", "configfs", "pstore", "efivarfs", "bpf", "binfmt_misc",
        "mqueue", "hugetlbfs", "fusectl", "nsfs", "rpc_pipefs", "nfsd",
        "cgroup", "cgroup2",
        # memory-backed
        "tmpfs", "ramfs", "rootfs",
        # layered filesystems (an overlay is kept only as a container's root, "/")
        "overlay", "aufs",
        # read-only images mounted by helpers (snaps, AppImages)
        "fuse.squashfuse", "fuse.squashfuse_ll", "fuse.snapfuse", "fuse.appimagefuse",
        # automounter placeholders and desktop or container helpers
        "autofs", "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "fuse.xdg-document-portal",
    )
)  # fmt: skip

# Filesystems over the network, statted in a child process with a time limit: a
# server that does not answer must not hang the agent.
NETWORK_FSTYPES = frozenset(
    (
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "ceph", "glusterfs",
        "lustre", "gpfs", "ocfs2", "gfs2", "davfs", "fuse.sshfs", "fuse.glusterfs",
        "fuse.ceph", "fuse.s3fs", "fuse.rclone", "fuse.davfs2",
    )
)  # fmt: skip
STAT_TIMEOUT = 5.0  # seconds a network filesystem has to answer statvfs

# /proc/stat "cpu" line columns, in order (man 5 proc). guest and guest_nice are
# already counted in user and nice, so they are left out of the total.
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
IDLE_FIELDS = ("idle", "iowait")


def read_text(path):
    """The whole text of ``path`` (a small file under /proc or /etc)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# ---------------------------------------------------------------- parsers (pure)


def parse_proc_stat(text):
    """``/proc/stat`` -> ``{"cpu": {field: ticks}, "btime": epoch seconds or None}``.

    ``cpu`` is the aggregate line over all CPUs, in clock ticks; fields a kernel does
    not report (steal before 2.6.11) are 0.
    """
    cpu = {}
    btime = None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            values = [int(v) for v in parts[1:]]
            cpu = {name: (values[i] if i < len(values) else 0) for i, name in enumerate(CPU_FIELDS)}
        elif parts[0] == "btime" and len(parts) > 1:
            btime = int(parts[1])
    if not cpu:
        raise ValueError("/proc/stat has no aggregate cpu line")
    return {"cpu": cpu, "btime": btime}


def cpu_seconds(cpu, ticks_per_second):
    """(busy, total) seconds from a parsed ``cpu`` dict of clock ticks."""
    total = sum(cpu.values())
    idle = sum(cpu[name] for name in IDLE_FIELDS)
    return (total - idle) / ticks_per_second, total / ticks_per_second


def parse_meminfo(text):
    """``/proc/meminfo`` -> ``{name: bytes}`` (the kB figures times 1024)."""
    values = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields:
            continue
        scale = 1024 if len(fields) > 1 and fields[1] == "kB" else 1
        values[name.strip()] = int(fields[0]) * scale
    return values


def available_memory(info):
    """Bytes available to new programs without swapping.

    ``MemAvailable`` where the kernel has it (3.14+); before that the same estimate
    psutil makes: MemFree + Buffers + Cached + SReclaimable - Shmem.
    """
    if "MemAvailable" in info:
        return info["MemAvailable"]
    keys = ("MemFree", "Buffers", "Cached", "SReclaimable")
    estimate = sum(info.get(key, 0) for key in keys) - info.get("Shmem", 0)
    return max(0, min(estimate, info["MemTotal"]))


def memory_figures(info):
    """The protocol's ``memory`` dict (bytes, percent) from parsed meminfo."""
    total = info["MemTotal"]
    available = available_memory(info)
    used = total - available
    return {"total": total, "available": available, "used": used, "percent": percent(used, total)}


def swap_figures(info):
    """The protocol's ``swap`` dict (bytes, percent) from parsed meminfo."""
    total = info.get("SwapTotal", 0)
    free = info.get("SwapFree", 0)
    used = total - free
    return {"total": total, "used": used, "free": free, "percent": percent(used, total)}


def percent(part, whole):
    """``part / whole * 100`` rounded to 0.1; 0.0 when ``whole`` is 0."""
    return round(part * 100.0 / whole, 1) if whole > 0 else 0.0


def unquote(value):
    """One os-release value without its shell quoting (single, double or none)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
        if value and value[0] != "'":
            for escaped in ("\\\\", '\\"', "\\$", "\\`"):
                value = value.replace(escaped, escaped[1])
    return value


def parse_os_release(text):
    """``/etc/os-release`` -> ``{KEY: value}`` (comments and blank lines skipped)."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = unquote(value)
    return values


def unescape_mount_field(field):
    r"""A /proc/mounts field with its octal escapes (``\040`` for a space) decoded."""
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def is_real_filesystem(device, fstype, mount="/"):
    """Whether a mount holds a real filesystem: not in ``PSEUDO_FSTYPES`` (an overlay
    only as the root, a container's ``/``) and with a device."""
    if fstype in ("overlay", "aufs") and mount == "/":
        return True
    return fstype not in PSEUDO_FSTYPES and device not in ("", "none")


def parse_mountinfo(text):
    """``/proc/self/mountinfo`` -> ``[{"dev", "root", "mount", "fstype", "device"}]``.

    ``dev`` is the filesystem's ``major:minor``, ``root`` the folder of it that is
    mounted (``/`` unless it is a bind mount of a subfolder). Every mount, in order.
    """
    entries = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        parts, rest = head.split(), tail.split()
        if not sep or len(parts) < 5 or len(rest) < 2:
            continue
        entries.append({
            "dev": parts[2],
            "root": unescape_mount_field(parts[3]),
            "mount": unescape_mount_field(parts[4]),
            "fstype": unescape_mount_field(rest[0]),
            "device": unescape_mount_field(rest[1]),
        })  # fmt: skip
    return entries


def df_mounts(entries, is_dir=os.path.isdir):
    """The mounts ``df`` shows, from ``parse_mountinfo``: ``[{"device", "mount", "fstype"}]``.

    Real filesystems only (``is_real_filesystem``); a mount point mounted over keeps
    its visible entry; a mount of a single file (``/etc/hosts`` in a container) is left
    out; a filesystem mounted more than once (bind mounts) is listed once, at the
    mount of its whole root, else at its shortest mount point.
    """
    visible = {}
    for entry in entries:
        visible.pop(entry["mount"], None)
        if is_real_filesystem(entry["device"], entry["fstype"], entry["mount"]):
            visible[entry["mount"]] = entry
    chosen = {}
    for entry in visible.values():
        if not is_dir(entry["mount"]):
            continue
        best = chosen.get(entry["dev"])
        if best is None or _preferred(entry, best):
            chosen[entry["dev"]] = entry
    keep = set(id(entry) for entry in chosen.values())
    return [
        {"device": e["device"], "mount": e["mount"], "fstype": e["fstype"]}
        for e in visible.values()
        if id(e) in keep
    ]


def _preferred(entry, best):
    """Whether ``entry`` names its filesystem better than ``best``: its whole root, then
    the shorter mount point."""
    key = (entry["root"] != "/", len(entry["mount"]))
    return key < (best["root"] != "/", len(best["mount"]))


def disk_usage(stat):
    """``{"total", "used", "free", "percent"}`` (bytes) from an ``os.statvfs`` result.

    ``free`` is what an unprivileged user may still write; ``percent`` is
    used / (used + free) as ``df`` shows it (the root reserve counts as neither).
    """
    total = stat.f_blocks * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    return {"total": total, "used": used, "free": free, "percent": percent(used, used + free)}


# ---------------------------------------------------------------- readers


def os_release():
    """Parsed ``/etc/os-release`` (or ``/usr/lib/os-release``); ``{}`` when neither exists."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            return parse_os_release(read_text(path))
        except OSError:
            continue
    return {}


def host_info():
    """Who this host is; see ``agent/__init__.py``."""
    release = os_release()
    return {
        "hostname": os.uname().nodename,
        "os": "linux",
        "os_name": release.get("NAME", "Linux"),
        "os_version": release.get("VERSION_ID", ""),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }


def cpu_times():
    """(busy, total) CPU seconds since boot over all CPUs, from ``/proc/stat``."""
    stat = parse_proc_stat(read_text("/proc/stat"))
    return cpu_seconds(stat["cpu"], os.sysconf("SC_CLK_TCK"))


def cpu_count():
    """Logical CPUs online (at least 1)."""
    return os.cpu_count() or 1


def memory():
    """The ``memory`` dict (bytes, percent) from ``/proc/meminfo``."""
    return memory_figures(parse_meminfo(read_text("/proc/meminfo")))


def swap():
    """The ``swap`` dict (bytes, percent) from ``/proc/meminfo``."""
    return swap_figures(parse_meminfo(read_text("/proc/meminfo")))


def uptime():
    """(seconds since boot, boot time as epoch seconds).

    The boot time is ``btime`` of ``/proc/stat`` (what ``psutil.boot_time`` reports),
    else now minus the uptime.
    """
    seconds = float(read_text("/proc/uptime").split()[0])
    btime = parse_proc_stat(read_text("/proc/stat"))["btime"]
    return seconds, float(btime) if btime is not None else time.time() - seconds


def load():
    """The 1, 5 and 15 minute load averages."""
    return list(os.getloadavg())


def disks():
    """One dict per filesystem as ``df`` shows it (see ``agent/__init__.py``), bytes.

    A network filesystem is statted in a child process for at most ``STAT_TIMEOUT``
    seconds; one that does not answer is listed with ``error`` and zero figures.
    """
    result = []
    for mount in df_mounts(parse_mountinfo(read_text("/proc/self/mountinfo"))):
        network = mount["fstype"] in NETWORK_FSTYPES or mount["fstype"].startswith("fuse.")
        try:
            stat = statvfs_within(mount["mount"], STAT_TIMEOUT) if network else None
            usage = disk_usage(stat or os.statvfs(mount["mount"]))
        except StatTimeout as err:
            usage = {"total": 0, "used": 0, "free": 0, "percent": 0.0, "error": str(err)}
        except OSError:
            continue
        mount.update(usage)
        result.append(mount)
    return result


class StatTimeout(Exception):
    """A filesystem did not answer ``statvfs`` in time."""


_STATVFS = "6Q"  # f_blocks, f_bfree, f_bavail, f_frsize and two spare


def statvfs_within(path, timeout, statvfs=os.statvfs):
    """``statvfs(path)`` done by a child process that is killed after ``timeout`` seconds.

    Returns an object with ``f_blocks``, ``f_bfree``, ``f_bavail`` and ``f_frsize``;
    raises ``StatTimeout`` when the child does not answer in time and ``OSError`` when
    the call failed.
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, its answer on the pipe, then out whatever happens
        try:
            os.close(reader)
            s = statvfs(path)
            os.write(writer, struct.pack(_STATVFS, s.f_blocks, s.f_bfree, s.f_bavail,
                                         s.f_frsize, 0, 0))  # fmt: skip
        finally:
            os._exit(0)
    os.close(writer)
    data = None
    try:
        ready, _, _ = select.select([reader], [], [], timeout)
        data = os.read(reader, 64) if ready else None
    finally:
        os.close(reader)
        if data is None:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
    if data is None:
        raise StatTimeout("no answer from the filesystem within %gs" % timeout)
    if len(data) != struct.calcsize(_STATVFS):
        raise OSError("statvfs %s failed" % path)
    values = struct.unpack(_STATVFS, data)
    return _Stat(values[0], values[1], values[2], values[3])


class _Stat(object):
    """The four ``statvfs`` figures ``disk_usage`` reads."""

    def __init__(self, blocks, bfree, bavail, frsize):
        self.f_blocks, self.f_bfree, self.f_bavail, self.f_frsize = blocks, bfree, bavail, frsize


def security_events(since, options):
    """The ``events`` object of authentication events (journald or auth.log).

    ``since`` is the request's ``events.since`` (cursors per source), handed on as is.
    """
    from . import events

    return events.linux_auth(since, options)
