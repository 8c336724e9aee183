"""Run the agent: read one request on stdin, print one encrypted answer on stdout, framed.

Exit 0 when an answer was printed (even when parts of it failed), 2 with one line
on stderr when the request is malformed, 1 with one line on stderr when the agent
itself cannot run. See ``docs/agent-protocol.md``.
"""

import importlib
import json
import sys
import time
import zlib

from . import fernet
from .events_common import Options

VERSION = 1
PLATFORMS = {"linux": "linux", "darwin": "darwin", "win32": "windows"}
DEFAULT_CPU_INTERVAL = 1.0
MAX_CPU_INTERVAL = 60.0
DEFAULT_MAX_EVENTS = 500
DEFAULT_EVENTS_WINDOW = 86400.0  # seconds of log a first run reads
DEFAULT_EVENTS_BUDGET = 20.0  # seconds of reading logs at most


class BadRequest(Exception):
    """The request on stdin is not a valid version-1 request; says what is wrong."""


def platform_name(platform):
    """The platform module's name for a ``sys.platform`` value, or None."""
    if platform.startswith("linux"):
        return "linux"
    return PLATFORMS.get(platform)


def load_platform(platform):
    """Import and return the platform module for ``platform`` (a ``sys.platform``)."""
    name = platform_name(platform)
    if name is None:
        raise RuntimeError("unsupported platform: {}".format(platform))
    return importlib.import_module("." + name, __package__)


# ---------------------------------------------------------------- the request


def is_number(value):
    """Whether ``value`` is a JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_cpu_interval(value):
    """A valid ``cpu_interval`` in seconds, 0 to ``MAX_CPU_INTERVAL``."""
    if not is_number(value) or not 0 <= value <= MAX_CPU_INTERVAL:
        raise BadRequest("cpu_interval must be a number of seconds from 0 to 60")
    return float(value)


def check_events(value):
    """``(since, Options)`` from the request's ``events`` object."""
    if not isinstance(value, dict):
        raise BadRequest("events must be an object")
    since = value.get("since", {})
    if not isinstance(since, dict):
        raise BadRequest("events.since must be an object")
    limit = value.get("max", DEFAULT_MAX_EVENTS)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise BadRequest("events.max must be a whole number, 0 or more")
    window = check_seconds(value, "window", DEFAULT_EVENTS_WINDOW)
    budget = check_seconds(value, "budget", DEFAULT_EVENTS_BUDGET)
    become = value.get("become")
    if become not in (None, "sudo", "doas"):
        raise BadRequest("events.become must be sudo, doas or absent")
    return since, Options(limit, window, budget, become=become)


def check_seconds(value, name, default):
    """``events.<name>``: seconds (more than 0) or null (no bound); ``default`` if absent."""
    seconds = value.get(name, default)
    if seconds is not None and (not is_number(seconds) or seconds <= 0):
        raise BadRequest("events.%s must be a number of seconds above 0, or null" % name)
    return None if seconds is None else float(seconds)


def parse_request(text):
    """The validated request: ``{"key", "cpu_interval", "cpu_sleep", "since", "events"}``.

    Raises ``BadRequest`` naming the first thing that is wrong.
    """
    try:
        request = json.loads(text)
    except ValueError as err:
        raise BadRequest("not JSON: {}".format(err)) from err
    if not isinstance(request, dict):
        raise BadRequest("the request must be a JSON object")
    if request.get("v") != VERSION:
        raise BadRequest("unsupported version {!r}, expected 1".format(request.get("v")))
    key = request.get("key")
    if not isinstance(key, str):
        raise BadRequest("key is missing or not a string")
    try:
        fernet.decode_key(key)
    except fernet.BadKey as err:
        raise BadRequest(str(err)) from err
    since, options = check_events(request.get("events", {}))
    sleep = request.get("cpu_sleep", True)
    if not isinstance(sleep, bool):
        raise BadRequest("cpu_sleep must be true or false")
    return {
        "key": key,
        "cpu_interval": check_cpu_interval(request.get("cpu_interval", DEFAULT_CPU_INTERVAL)),
        "cpu_sleep": sleep,
        "cpu_since": check_cpu_since(request.get("cpu_since")),
        "since": since,
        "events": options,
    }


def check_cpu_since(value):
    """``(busy, total)`` of the request's ``cpu_since`` (the server's last counters), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(is_number(value.get(k)) for k in ("busy", "total")):
        raise BadRequest("cpu_since must be an object with the numbers busy and total")
    return float(value["busy"]), float(value["total"])


# ---------------------------------------------------------------- collecting


def describe(err):
    """One line saying what went wrong: the exception's type and message."""
    text = " ".join(str(err).split())
    name = type(err).__name__
    return "{}: {}".format(name, text) if text else name


def guarded(answer, part, func, *args):
    """``answer[part] = func(*args)``; on failure ``None`` and an entry in ``errors``."""
    try:
        answer[part] = func(*args)
    except Exception as err:  # noqa: BLE001 - each part fails alone, by contract
        answer[part] = None
        answer["errors"].append({"part": part, "error": describe(err)})


def cpu_percent(before, after):
    """Percent busy (0-100, one decimal) between two ``(busy, total)`` samples, or
    ``None`` when no CPU time passed between them (nothing was measured)."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    return round(min(100.0, max(0.0, (after[0] - before[0]) * 100.0 / total)), 1)


def cpu_section(
    system, interval, measure=True, since=None, *, sleep=time.sleep, clock=time.monotonic
):
    """The ``cpu`` section: the counters, and the percent over ``interval`` seconds.

    With ``measure`` false the server computes the percent from the counters of its
    last sample (``since``, ``(busy, total)``), so the agent does not sleep, unless its
    counters are below ``since`` (the host rebooted). Nothing is measured with an
    interval of 0 either. Unmeasured, ``percent`` is ``None`` and ``interval`` 0.
    """
    before = system.cpu_times()
    went_back = since is not None and (before[0] < since[0] or before[1] < since[1])
    if (not measure and not went_back) or interval <= 0:
        return {"percent": None, "count": system.cpu_count(), "interval": 0.0,
                "busy": before[0], "total": before[1]}  # fmt: skip
    started = clock()
    sleep(interval)
    after = system.cpu_times()
    return {
        "percent": cpu_percent(before, after),
        "count": system.cpu_count(),
        "interval": round(clock() - started, 3),
        "busy": after[0],
        "total": after[1],
    }


def uptime_section(system):
    """The ``uptime`` section from ``(seconds, boot_time)``."""
    seconds, boot_time = system.uptime()
    return {"seconds": seconds, "boot_time": boot_time}


def fallback_host(platform):
    """A host section for when ``host_info`` failed: the hostname and OS only."""
    import socket

    return {
        "hostname": socket.gethostname(),
        "os": platform_name(platform) or platform,
        "os_name": "",
        "os_version": "",
        "kernel": "",
        "arch": "",
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
    }


def collect(system, request, platform=sys.platform, clock=time.time):
    """The whole answer (a JSON-ready dict) from the platform module ``system``."""
    answer = {"v": VERSION, "errors": []}
    guarded(answer, "host", system.host_info)
    if answer["host"] is None:
        answer["host"] = fallback_host(platform)
    cpu_args = request["cpu_interval"], request["cpu_sleep"], request["cpu_since"]
    guarded(answer, "cpu", cpu_section, system, *cpu_args)
    guarded(answer, "memory", system.memory)
    guarded(answer, "swap", system.swap)
    guarded(answer, "uptime", uptime_section, system)
    guarded(answer, "load", system.load)
    guarded(answer, "disks", system.disks)
    guarded(answer, "events", system.security_events, request["since"], request["events"])
    answer["clock"] = clock()
    return answer


def seal(answer, key):
    """The Fernet token (bytes) of the zlib-compressed JSON ``answer``."""
    data = json.dumps(answer, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return fernet.encrypt(key, zlib.compress(data, 6))


# ---------------------------------------------------------------- entry point


def fail(code, message):
    """Write ``message`` as one line on stderr and return ``code``."""
    sys.stderr.write("fleetstat-agent: {}\n".format(" ".join(message.split())))
    sys.stderr.flush()
    return code


def main(stdin=None, stdout=None, platform=None):
    """Run once; returns the exit status (0 answered, 2 bad request, 1 cannot run)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        request = parse_request(stdin.read())
    except BadRequest as err:
        return fail(2, "bad request: {}".format(err))
    try:
        system = load_platform(platform or sys.platform)
        token = seal(collect(system, request, platform or sys.platform), request["key"])
    except Exception as err:  # noqa: BLE001 - the agent's one place that reports errors
        return fail(1, describe(err))
    stdout.write(frame(token.decode("ascii")))
    stdout.flush()
    return 0


#: The line before the answer: the server finds the answer by it, whatever a noisy
#: login prints around it (``ssh.framing`` reads it).
ANSWER_MARK = "fleetstat-answer: "


def frame(token):
    """The answer as printed: on a line of its own after the mark and its length."""
    return "\n{}{}\n{}\n".format(ANSWER_MARK, len(token), token)


if __name__ == "__main__":
    sys.exit(main())
