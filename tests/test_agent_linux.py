"""The agent on this Linux machine, with psutil as the oracle, and its /proc parsers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from fleetstat.agent import __main__ as agent_main
from fleetstat.agent import linux
from fleetstat.collect import envelope, payload
from fleetstat.core.model import Answer
from fleetstat.ssh.framing import unframe

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SRC = Path(__file__).resolve().parents[1] / "src"

RunAgent = Callable[..., Answer]

# ---------------------------------------------------------------- running the agent for real


def agent_command(how: str, tmp_path: Path) -> list[str]:
    """How to start the agent: from the source tree, or as the built agent.pyz."""
    if how == "source":
        return [sys.executable, "-m", "fleetstat.agent"]
    pyz = payload.write_agent(tmp_path / "agent.pyz")
    return [sys.executable, "-I", "-S", str(pyz)]


def run_raw(command: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the agent with ``stdin``; the source tree is importable for ``-m``."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run(
        command, input=stdin, capture_output=True, env=env, timeout=60, check=False
    )


@pytest.fixture(params=["source", "pyz"])
def run_agent(request: pytest.FixtureRequest, tmp_path: Path) -> RunAgent:
    """Runs the agent once (from source or as agent.pyz) and opens its answer."""
    command = agent_command(request.param, tmp_path)

    def run(cpu_interval: float = 0.0) -> Answer:
        key = envelope.new_key()
        body = envelope.request_bytes(key, cpu_interval=cpu_interval, since={}, max_events=50)
        done = run_raw(command, body)
        assert done.returncode == 0, done.stderr.decode()
        output = unframe(done.stdout)
        assert output.noise is None  # the frame and nothing else
        return envelope.open_answer(output.answer, key)

    return run


def test_memory_total_matches_psutil_exactly(run_agent: RunAgent) -> None:
    answer = run_agent()
    assert answer.memory is not None
    assert answer.memory.total == psutil.virtual_memory().total


def test_available_memory_is_within_two_percent_of_psutil(run_agent: RunAgent) -> None:
    answer = run_agent()
    expected = psutil.virtual_memory().available
    assert answer.memory is not None
    assert answer.memory.available == pytest.approx(expected, rel=0.02)
    assert answer.memory.used == answer.memory.total - answer.memory.available


def test_swap_matches_psutil(run_agent: RunAgent) -> None:
    answer = run_agent()
    assert answer.swap is not None
    assert answer.swap.total == psutil.swap_memory().total


def test_boot_time_is_within_two_seconds_of_psutil(run_agent: RunAgent) -> None:
    answer = run_agent()
    assert answer.boot_time is not None
    assert abs(answer.boot_time.timestamp() - psutil.boot_time()) <= 2.0


def test_disks_are_psutils_real_partitions_with_each_filesystem_once(run_agent: RunAgent) -> None:
    # psutil lists every mount of a kernel filesystem that is not "nodev", bind mounts
    # of one disk included; the agent lists each filesystem once, as df does.
    seen: dict[str, str] = {}
    for part in sorted(psutil.disk_partitions(all=False), key=lambda p: len(p.mountpoint)):
        if part.fstype not in linux.PSEUDO_FSTYPES or part.mountpoint == "/":
            seen.setdefault(str(os.stat(part.mountpoint).st_dev), part.mountpoint)
    answer = run_agent()
    assert sorted(disk.mount for disk in answer.disks) == sorted(seen.values())


def test_disk_usage_matches_psutil(run_agent: RunAgent) -> None:
    root = next(disk for disk in run_agent().disks if disk.mount == "/")
    usage = psutil.disk_usage("/")
    assert root.total == usage.total
    assert root.used == pytest.approx(usage.used, rel=0.01)
    assert root.percent == pytest.approx(usage.percent, abs=0.5)


def test_host_names_this_machine(run_agent: RunAgent) -> None:
    host = run_agent().host
    assert host.os == "linux"
    assert host.hostname == os.uname().nodename
    assert host.kernel == os.uname().release
    assert host.os_name == linux.os_release().get("NAME", "Linux")


def test_load_and_cpu_count_match_the_system(run_agent: RunAgent) -> None:
    answer = run_agent()
    assert answer.load is not None
    assert len(answer.load) == 3
    assert answer.cpu is not None
    assert answer.cpu.count == psutil.cpu_count()


@pytest.fixture
def busy_core() -> Iterator[subprocess.Popen[bytes]]:
    """A process keeping one core busy until the test stops it."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield loop
    loop.kill()
    loop.wait()


def cpu_with_oracle(run: Callable[[float], Answer]) -> tuple[float, float]:
    """(agent's percent, psutil's percent over a window around the agent's run)."""
    psutil.cpu_percent(interval=None)
    cpu = run(1.0).cpu
    assert cpu is not None
    return cpu.percent, psutil.cpu_percent(interval=None)


def test_cpu_percent_rises_with_a_busy_core_and_falls_after(
    busy_core: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    run = run_agent_from_pyz(tmp_path)
    time.sleep(0.2)  # let the busy loop get scheduled before sampling
    during, oracle_during = cpu_with_oracle(run)
    busy_core.kill()
    busy_core.wait()
    after, oracle_after = cpu_with_oracle(run)
    assert during > 40.0
    # psutil's window also holds the agent's start-up, so the two differ a little.
    assert during == pytest.approx(oracle_during, abs=25)
    assert after == pytest.approx(oracle_after, abs=25)
    if oracle_after >= 90.0:
        pytest.skip("other work keeps every core busy, so the fall cannot show")
    assert after < during


def run_agent_from_pyz(tmp_path: Path) -> Callable[[float], Answer]:
    """Like the ``run_agent`` fixture, for the pyz only."""
    command = agent_command("pyz", tmp_path)

    def run(cpu_interval: float) -> Answer:
        key = envelope.new_key()
        body = envelope.request_bytes(key, cpu_interval=cpu_interval, since={}, max_events=0)
        return envelope.open_answer(unframe(run_raw(command, body).stdout).answer, key)

    return run


@pytest.mark.parametrize(
    ("request_text", "complaint"),
    [
        (b"not json", "not JSON"),
        (b'["v", 1]', "JSON object"),
        (b'{"v": 2, "key": "x"}', "version"),
        (b'{"v": 1}', "key"),
        (b'{"v": 1, "key": "c2hvcnQ="}', "32 bytes"),
        (b'{"v": 1, "key": "%s", "cpu_interval": "1"}', "cpu_interval"),
        (b'{"v": 1, "key": "%s", "cpu_interval": -1}', "cpu_interval"),
        (b'{"v": 1, "key": "%s", "events": {"since": []}}', "events.since"),
        (b'{"v": 1, "key": "%s", "events": {"max": true}}', "events.max"),
    ],
)
def test_malformed_request_exits_2_with_one_line_on_stderr(
    request_text: bytes, complaint: str, tmp_path: Path
) -> None:
    if b"%s" in request_text:
        request_text = request_text % envelope.new_key()
    done = run_raw(agent_command("source", tmp_path), request_text)
    assert done.returncode == 2
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1
    assert complaint in lines[0]


def test_failing_part_is_null_and_named_in_errors() -> None:
    def broken() -> Any:
        raise PermissionError("/proc/meminfo: permission denied")

    system = SimpleNamespace(**{name: getattr(linux, name) for name in SYSTEM_FUNCTIONS})
    system.memory = broken
    request = agent_main.parse_request(
        envelope.request_bytes(
            envelope.new_key(), cpu_interval=0.0, since={}, max_events=0
        ).decode()
    )
    answer = agent_main.collect(system, request)
    assert answer["memory"] is None
    assert answer["swap"] is not None
    assert answer["disks"] is not None
    memory_errors = [e for e in answer["errors"] if e["part"] == "memory"]
    assert memory_errors == [
        {"part": "memory", "error": "PermissionError: /proc/meminfo: permission denied"}
    ]


SYSTEM_FUNCTIONS = (
    "host_info",
    "cpu_times",
    "cpu_count",
    "memory",
    "swap",
    "uptime",
    "load",
    "disks",
    "security_events",
)


def test_every_platform_module_exposes_the_same_functions() -> None:
    import importlib

    for name in ("linux", "darwin", "windows"):
        try:
            module = importlib.import_module(f"fleetstat.agent.{name}")
        except ModuleNotFoundError:
            continue
        missing = [f for f in SYSTEM_FUNCTIONS if not callable(getattr(module, f, None))]
        assert missing == [], f"agent/{name}.py lacks {missing}"


# ---------------------------------------------------------------- parsers over captured text

PROC_STAT = """\
cpu  6702 0 3199 62997 319 0 66 13 0 0
cpu0 2375 0 1242 33089 26 0 9 3 0 0
cpu1 4326 0 1957 29908 293 0 57 9 0 0
intr 1162094 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 2127434
btime 1795782684
processes 10935
procs_running 1
procs_blocked 0
softirq 700469 0 92830 2 26318 0 0 1174 366734 4 213407
"""

# /proc/meminfo of a 3.13 kernel (CentOS 7.0-era), before MemAvailable existed.
MEMINFO_WITHOUT_AVAILABLE = """\
MemTotal:        3882456 kB
MemFree:          214536 kB
Buffers:          162828 kB
Cached:          2489612 kB
SwapCached:        10432 kB
Active:          1997112 kB
Inactive:        1214880 kB
Shmem:             98764 kB
Slab:             406216 kB
SReclaimable:     355044 kB
SUnreclaim:        51172 kB
SwapTotal:       2097148 kB
SwapFree:        1983412 kB
Dirty:               184 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""

MEMINFO = """\
MemTotal:       24684096 kB
MemFree:        24047868 kB
MemAvailable:   24079392 kB
Buffers:            7124 kB
Cached:           245120 kB
SwapCached:            0 kB
Shmem:             69552 kB
SReclaimable:     116092 kB
SwapTotal:             0 kB
SwapFree:              0 kB
HugePages_Total:       0
"""

OS_RELEASE_UBUNTU = """\
PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
# a comment
HOME_URL='https://www.ubuntu.com/'
"""

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334524k,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 254:16 / /srv/backup\\040disk rw,relatime - xfs /dev/vdb1 rw
29 23 0:25 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 27 7:3 / /snap/core22/1380 ro,nodev,relatime - squashfs /dev/loop3 ro,errors=continue
31 27 0:40 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/x
32 27 0:41 / /var/lib/lxcfs rw,nosuid,nodev,relatime - fuse.lxcfs lxcfs rw
33 27 0:42 / /home rw,relatime - autofs systemd-1 rw,fd=45,pgrp=1,timeout=0
34 33 254:32 / /home rw,relatime - ext4 /dev/mapper/vg-home rw
35 27 0:43 / /mnt/nfs rw,relatime - nfs4 server:/export rw,vers=4.2
36 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard
"""


def test_proc_stat_gives_aggregate_ticks_and_boot_time() -> None:
    stat = linux.parse_proc_stat(PROC_STAT)
    assert stat["btime"] == 1795782684
    assert stat["cpu"]["user"] == 6702
    assert stat["cpu"]["steal"] == 13
    busy, total = linux.cpu_seconds(stat["cpu"], 100)
    assert total == pytest.approx((6702 + 3199 + 62997 + 319 + 66 + 13) / 100)
    assert busy == pytest.approx((6702 + 3199 + 66 + 13) / 100)


def test_proc_stat_without_cpu_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="cpu"):
        linux.parse_proc_stat("intr 1 2 3\nbtime 5\n")


def test_meminfo_uses_mem_available() -> None:
    memory = linux.memory_figures(linux.parse_meminfo(MEMINFO))
    assert memory["total"] == 24684096 * 1024
    assert memory["available"] == 24079392 * 1024
    assert memory["used"] == (24684096 - 24079392) * 1024
    assert memory["percent"] == 2.4


def test_meminfo_without_mem_available_estimates_it_as_psutil_does() -> None:
    memory = linux.memory_figures(linux.parse_meminfo(MEMINFO_WITHOUT_AVAILABLE))
    expected = (214536 + 162828 + 2489612 + 355044 - 98764) * 1024
    assert memory["available"] == expected
    assert memory["used"] == 3882456 * 1024 - expected


def test_swap_comes_from_meminfo() -> None:
    swap = linux.swap_figures(linux.parse_meminfo(MEMINFO_WITHOUT_AVAILABLE))
    assert swap == {
        "total": 2097148 * 1024,
        "used": (2097148 - 1983412) * 1024,
        "free": 1983412 * 1024,
        "percent": 5.4,
    }


def test_no_swap_is_all_zero() -> None:
    swap = linux.swap_figures(linux.parse_meminfo(MEMINFO))
    assert swap == {"total": 0, "used": 0, "free": 0, "percent": 0.0}


def test_os_release_values_lose_their_quotes() -> None:
    release = linux.parse_os_release(OS_RELEASE_UBUNTU)
    assert release["NAME"] == "Ubuntu"
    assert release["VERSION_ID"] == "22.04"
    assert release["VERSION_CODENAME"] == "jammy"
    assert release["HOME_URL"] == "https://www.ubuntu.com/"
    assert "# a comment" not in release


def test_mounts_keep_real_filesystems_only() -> None:
    mounts = linux.df_mounts(linux.parse_mountinfo(MOUNTINFO), is_dir=lambda path: True)
    assert [(m["mount"], m["fstype"]) for m in mounts] == [
        ("/", "ext4"),  # and not again at /run/netns, a bind mount of the same disk
        ("/srv/backup disk", "xfs"),
        ("/snap/core22/1380", "squashfs"),  # listed, but never "the fullest"
        ("/home", "ext4"),
        ("/mnt/nfs", "nfs4"),
    ]


def test_disk_percent_is_used_over_used_plus_available_as_df_shows() -> None:
    stat = SimpleNamespace(f_blocks=1000, f_bfree=300, f_bavail=250, f_frsize=4096)
    usage = linux.disk_usage(stat)
    assert usage == {
        "total": 1000 * 4096,
        "used": 700 * 4096,
        "free": 250 * 4096,
        "percent": round(700 / 950 * 100, 1),
    }
