"""The client-side agent: standard library only, Python 3.6 and newer.

``__main__`` reads one request on stdin (see ``docs/agent-protocol.md``), picks the
platform module once from ``sys.platform`` (``linux`` -> ``linux``, ``darwin`` ->
``darwin``, ``win32`` -> ``windows``), collects every section in its own guard,
encrypts the answer with ``fernet`` and prints one line.

Every platform module exposes the same functions, with the same meaning:

``host_info() -> dict``
    ``{"hostname": str, "os": "linux" | "darwin" | "windows", "os_name": str,
    "os_version": str, "kernel": str, "arch": str, "python": str}``; every value is a
    string (empty when unknown). ``os_name``/``os_version`` are the distribution or
    product ("Debian GNU/Linux", "12"; "macOS", "14.4"; "Windows Server 2022
    Standard", "10.0.20348"); ``kernel`` the kernel release; ``python`` is
    ``platform.python_version()``.

``cpu_times() -> (busy_seconds, total_seconds)``
    Two floats: CPU seconds since boot summed over all CPUs, ``total`` counting every
    state and ``busy`` everything but idle and iowait. The shared code samples twice,
    ``cpu_interval`` seconds apart, and computes the percent (clamped to 0-100) only
    when it must (the request's ``cpu_sleep``, or counters below ``cpu_since``);
    otherwise the server computes it from the counters of its last sample.

``cpu_count() -> int``
    Logical CPUs (at least 1).

``memory() -> dict``
    ``{"total": int, "available": int, "used": int, "percent": float}``: bytes;
    ``used`` is ``total - available`` and ``percent`` is ``used / total * 100``.

``swap() -> dict``
    ``{"total": int, "used": int, "free": int, "percent": float}``: bytes; all zero
    (percent 0.0) when there is no swap.

``uptime() -> (seconds, boot_time_epoch)``
    Two floats: seconds since boot, and the boot time as Unix epoch seconds (UTC).

``load() -> [l1, l5, l15] or None``
    The 1, 5 and 15 minute load averages as floats; ``None`` where the OS has none.

``disks() -> list of dict``
    One dict per real (non-pseudo) mounted filesystem as ``df`` lists them (a
    filesystem mounted twice once, no single-file mounts; on Windows every fixed
    volume at each drive letter and folder it is mounted at): ``{"mount": str,
    "device": str, "fstype": str, "total": int, "used": int, "free": int, "percent":
    float}``; bytes, ``free`` is what an unprivileged user may still write, and
    ``percent`` is ``used / (used + free) * 100`` as ``df`` shows it. A network
    filesystem that does not answer in time has zero figures and ``"error": str``.

``security_events(since, options) -> dict``
    ``since`` is the request's ``events.since`` (a dict of cursors per source, ``{}``
    on a first run); ``options`` an ``events_common.Options`` (cap, first-run window,
    time budget). Returns the protocol's ``events`` object: ``{"records": [record,
    ...], "cursor": {source: {...}}, "resets": [source, ...], "gaps": [gap, ...],
    "truncated": bool}``; each record is ``{"source", "record_id", "event_id", "time"
    (ISO 8601 UTC with "Z"), "level", "user", "actor", "target", "source_ip",
    "message", "fields", "own_session"}``. Raise on failure (with a message a person
    can act on): the caller records it in ``errors`` and leaves the section out.

Any of these may raise; the caller turns the exception into an ``errors`` entry
``{"part": <section>, "error": <message>}`` and sends ``null`` for that section.
"""
