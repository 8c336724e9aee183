"""fleetstat against the floor (plain OpenSSH) on real loopback hosts: time, CPU, memory.

    .venv/bin/python bench/run_bench.py [--hosts 200] [--rounds 3] [--memory-hosts 1000]
        [--rtt-hosts 4] [--profile FOLDER] [--skip memory,rtt,endless,hostile] [--versus SRC]
        [--versus-hostile SRC]

Root only (it makes a test user, ``sshd`` servers and network namespaces). In one run,
with the rounds interleaved and medians over ``--rounds``:

- **cold**: one whole ``fleetstat run`` (import, collect, store, alerts, mail queue; a
  database already migrated) over ``--hosts`` hosts, key and password logins, against
  **the floor**: one plain ``ssh`` per host, 50 at a time, curve25519, that makes a
  ``mktemp -d`` dir, stores the agent from stdin, runs it with a request made before
  the clock starts, and removes the dir. Wall time, and CPU per host (getrusage of the
  ``fleetstat`` process; of all ``ssh`` clients together for the floor);
- **warm**: the second of two passes on kept connections (what ``watch`` does);
- **ssh**: the SSH and decryption part alone (``collector.collect``), cold and warm,
  also with chacha20-poly1305 first (asyncssh's default) instead of AES-GCM;
- **memory**: peak RSS of ``fleetstat run`` over ``--memory-hosts`` hosts at
  concurrency 200;
- **endless**: peak RSS of a 50-host run with and without one client that prints an
  endless line (issue: within 1.5x);
- **hostile**: peak RSS of 200 hosts at concurrency 50, clean and with 50 of them
  printing endless junk (target: within 1.5x, every hostile host ``bad_payload``);
  ``--versus-hostile SRC`` measures another fleetstat's ``src`` beside it;
- **rtt**: ``--rtt-hosts`` hosts in network namespaces behind veth pairs with
  ``tc netem delay 10ms`` on each side (20 ms round trip), cold and warm vs the floor.

The sources are byte-compiled first, as an installed fleetstat's are.

``--profile FOLDER`` runs one cold 200-host ``fleetstat run`` under py-spy instead and
writes the top entries (``pip install py-spy``). ``--versus SRC`` runs, instead, cold
``--hosts`` passes of the fleetstat in the source folder SRC (another checkout's ``src``)
and of this one, interleaved on one fleet: wall, CPU per host and peak RSS of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.support.sshd import SshdFactory, SshdServer, SshUser, own_user  # noqa: E402

from bench import delayed  # noqa: E402

CPU_INTERVAL = "0.01"  # seconds the agent samples CPU, the same on both sides
FLOOR_CONCURRENCY = 50
#: asyncssh's own default order, chacha20-poly1305 first: the cipher compared with AES-GCM.
CHACHA_FIRST = "^chacha20-poly1305@openssh.com"


def addresses(count: int, first: int = 1) -> list[str]:
    """``count`` loopback addresses from 127.<first>.0.1 on (skipping .0 and .255)."""
    return [f"127.{first + n // 64516}.{1 + n // 254 % 254}.{1 + n % 254}" for n in range(count)]


# ---------------------------------------------------------------- configs


def write_config(
    folder: Path, name: str, user: SshUser, hosts: list[tuple[str, int]], login: str, **extra: str
) -> Path:
    """A config over ``hosts`` (ip, port) with ``login`` "key" or "password"."""
    auth = f'keyfile="{user.key_path}"' if login == "key" else f'password="{user.password}"'
    python = f' python="{extra.pop("python")}"' if "python" in extra else ""
    clients = [
        f'  <client ip="{ip}" port="{port}" username="{user.name}" {auth}{python} />'
        for ip, port in hosts
    ]
    endless = extra.pop("endless_python", "")
    for hostile in extra.pop("endless", "").split():
        ip, port = hostile.split(":")
        clients.append(
            f'  <client ip="{ip}" port="{port}" username="{user.name}" {auth} python="{endless}" />'
        )
    settings = " ".join(f'{key}="{value}"' for key, value in extra.items())
    path = folder / f"{name}.xml"
    path.write_text(
        "<clients>\n"
        f'  <settings db="sqlite:///{folder}/{name}.db" known-hosts="{folder}/known_hosts" '
        f'cpu-interval="{CPU_INTERVAL}" connect-timeout="60" timeout="300" {settings}>\n'
        '    <smtp host="127.0.0.1" port="9" />\n'
        "  </settings>\n" + "\n".join(clients) + "\n</clients>\n"
    )
    path.chmod(0o600)
    return path


def fleetstat_command(*args: str) -> list[str]:
    """``fleetstat ARGS`` with this interpreter (``PYTHONPATH`` picks the code under test)."""
    return [sys.executable, "-m", "fleetstat.cli", *args]


# ---------------------------------------------------------------- measuring a child process


def measured(command: list[str], stdin: str = "") -> dict[str, float | str]:
    """Run ``command``; its wall seconds, CPU seconds (user + sys), peak RSS (MB), stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{command[:4]} exited {proc.returncode}: {err[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "out": out,
    }


def cold_run(config: Path, concurrency: int = FLOOR_CONCURRENCY) -> dict[str, float | str]:
    """One whole ``fleetstat run`` over ``config``; its figures and outcome counts."""
    done = measured(
        fleetstat_command(
            "run", "--config", str(config), "--json", "--concurrency", str(concurrency)
        )
    )
    report = json.loads(str(done["out"]))
    done["out"] = json.dumps(Counter(host["outcome"] for host in report["hosts"]))
    return done


# ---------------------------------------------------------------- the warm pass and the SSH part


def child(spec: dict[str, str]) -> dict[str, float | str]:
    """In a fresh interpreter: two passes on kept connections; figures of each."""
    from fleetstat import config, ssh
    from fleetstat.collect import collector, job
    from fleetstat.ssh import connect
    from fleetstat.store import Store

    loaded = config.load(Path(spec["config"]))
    if spec.get("cipher"):
        connect.CIPHERS_FIRST = spec["cipher"]  # what asyncssh offers by default, in order

    async def passes() -> list[dict[str, float | str]]:
        figures = []
        async with ssh.Connections(keep=True, max_kept=100_000) as connections:
            for _ in range(2):
                before = resource.getrusage(resource.RUSAGE_SELF)
                started = time.perf_counter()
                if spec["mode"] == "ssh":
                    results = await collector.collect(
                        loaded.clients, loaded.settings, cursors={}, concurrency=50,
                        connections=connections,
                    )  # fmt: skip
                    outcomes = Counter(str(r.outcome) for r in results)
                    durations = [r.duration for r in results]
                else:
                    report = await job.run_pass(
                        loaded, store, concurrency=50, connections=connections
                    )
                    outcomes = Counter(str(r.outcome) for r in report.results)
                    durations = [r.duration for r in report.results]
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                wall = time.perf_counter() - started
                figures.append({
                    "wall": wall, "cpu": cpu, "out": json.dumps(outcomes),
                    "per_host": statistics.median(durations),
                })  # fmt: skip
        return figures

    store = Store.open(loaded.settings.db)
    try:
        cold, warm = asyncio.run(passes())
    finally:
        store.close()
    return {
        "cold_wall": cold["wall"],
        "cold_cpu": cold["cpu"],
        "cold_per_host": cold["per_host"],
        "per_host": warm["per_host"],
        "wall": warm["wall"],
        "cpu": warm["cpu"],
        "out": warm["out"],
    }


def run_child(mode: str, config: Path, cipher: str = "") -> dict[str, float | str]:
    """``child`` in its own interpreter; ``cipher`` replaces the ciphers offered first."""
    spec = {"mode": mode, "config": str(config), "cipher": cipher}
    done = measured([sys.executable, __file__, "--child"], json.dumps(spec))
    figures: dict[str, float | str] = json.loads(str(done["out"]))
    return figures


# ---------------------------------------------------------------- the floor: plain ssh


def floor_command(size: int) -> str:
    """The remote command: store ``size`` bytes of stdin as agent.pyz, run it, clean up."""
    return (
        "d=$(mktemp -d /tmp/floor.XXXXXXXX) && "
        f'dd of="$d/agent.pyz" bs={size} count=1 iflag=fullblock status=none && '
        'python3 "$d/agent.pyz"; s=$?; rm -rf "$d"; exit $s'
    )


def ssh_options(user: SshUser, login: str, askpass: Path) -> tuple[list[str], dict[str, str]]:
    """Options and environment of a plain ``ssh`` with ``login`` "key" or "password"."""
    common = [
        "-q",
        "-o", "KexAlgorithms=curve25519-sha256",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
    ]  # fmt: skip
    if login == "key":
        options = ["-i", str(user.key_path), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
        return common + options, dict(os.environ)
    options = [
        "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password",
        "-o", "NumberOfPasswordPrompts=1",
    ]  # fmt: skip
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    return common + options, env


async def floor(
    hosts: list[tuple[str, int]], user: SshUser, login: str, askpass: Path, concurrency: int
) -> dict[str, float | str]:
    """Plain ssh over every host, ``concurrency`` at a time: wall, CPU of the clients, ok."""
    from fleetstat.collect import envelope, payload

    agent = payload.build_agent()
    request = envelope.request_bytes(
        envelope.new_key(), cpu_interval=float(CPU_INTERVAL), since={}, max_events=500
    )
    command = floor_command(len(agent))
    options, env = ssh_options(user, login, askpass)
    gate = asyncio.Semaphore(concurrency)

    durations: list[float] = []

    async def one(ip: str, port: int) -> bool:
        async with gate:
            began = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                "ssh", *options, "-p", str(port), f"{user.name}@{ip}", command,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, env=env, start_new_session=True,
            )  # fmt: skip
            out, _ = await proc.communicate(agent + request)
            durations.append(time.perf_counter() - began)
            return proc.returncode == 0 and out.startswith(b"gAAAA")

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    ok = sum(await asyncio.gather(*(one(ip, port) for ip, port in hosts)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    per_host = statistics.median(durations)
    return {"wall": wall, "cpu": cpu, "out": f"{ok}/{len(hosts)} ok", "per_host": per_host}


# ---------------------------------------------------------------- printing


def median(rounds: list[dict[str, float | str]], key: str) -> float:
    """The median of ``key`` over ``rounds``."""
    return statistics.median(float(r[key]) for r in rounds)


def show(title: str, rounds: list[dict[str, float | str]], hosts: int) -> None:
    """One line: median wall, CPU per host (ms), the rounds' walls and the last outcomes."""
    walls = " ".join(f"{float(r['wall']):.2f}" for r in rounds)
    cpu_ms = median(rounds, "cpu") / hosts * 1000
    print(
        f"  {title:<28} {median(rounds, 'wall'):7.2f} s  cpu {cpu_ms:5.1f} ms/host  "
        f"(rounds {walls}; {rounds[-1]['out']})",
        flush=True,
    )


def ratio(
    name: str, ours: list[dict[str, float | str]], base: list[dict[str, float | str]], target: float
) -> None:
    """``ours`` / ``base`` in median wall time, with its target."""
    value = median(ours, "wall") / median(base, "wall")
    print(f"  {name:<28} {value:7.2f} x   (target <= {target})", flush=True)


# ---------------------------------------------------------------- the parts


@contextlib.contextmanager
def servers(folder: Path, count: int, first: int = 1) -> Iterator[SshdServer]:
    """``count`` loopback hosts on one port, ``MaxStartups`` raised."""
    factory = SshdFactory(folder / f"sshd-{count}-{first}")
    try:
        yield factory(addresses(count, first), options={"MaxStartups": "4000:30:4000"})
    finally:
        factory.close()


def askpass_for(folder: Path, user: SshUser) -> Path:
    """An ``SSH_ASKPASS`` program that prints the user's password."""
    path = folder / "askpass"
    path.write_text(f"#!/bin/sh\necho '{user.password}'\n")
    path.chmod(0o700)
    return path


def migrate(config: Path) -> None:
    """Create the config's database and learn the host keys with one untimed pass."""
    subprocess.run(fleetstat_command("run", "--config", str(config), "--json"), check=False,
                   capture_output=True)  # fmt: skip


def bench_passes(folder: Path, user: SshUser, count: int, rounds: int) -> None:
    """Cold, warm and the SSH part alone, key and password, against the floor."""
    askpass = askpass_for(folder, user)
    with servers(folder, count) as server:
        hosts = [(ip, server.port) for ip in server.addresses]
        configs = {login: write_config(folder, f"pass-{login}", user, hosts, login)
                   for login in ("key", "password")}  # fmt: skip
        for config in configs.values():
            migrate(config)
        table: dict[str, list[dict[str, float | str]]] = {}
        for number in range(rounds):
            print(f"round {number + 1}/{rounds}", flush=True)
            for login, config in configs.items():
                table.setdefault(f"cold {login}", []).append(cold_run(config))
                table.setdefault(f"floor {login}", []).append(
                    asyncio.run(floor(hosts, user, login, askpass, FLOOR_CONCURRENCY))
                )
                table.setdefault(f"warm {login}", []).append(run_child("pass", config))
                table.setdefault(f"ssh part {login}", []).append(run_child("ssh", config))
            table.setdefault("ssh part key chacha20", []).append(
                run_child("ssh", configs["key"], cipher=CHACHA_FIRST)
            )
        print(f"\n{count} hosts, medians of {rounds} rounds:")
        for title, figures in table.items():
            show(title, figures, count)
            if title.startswith("ssh part"):
                cold = [{"wall": f["cold_wall"], "cpu": f["cold_cpu"], "out": ""} for f in figures]
                show(title + " (cold)", cold, count)
        for login in configs:
            ratio(f"cold {login} / floor", table[f"cold {login}"], table[f"floor {login}"], 1.0)
            ratio(f"warm {login} / floor", table[f"warm {login}"], table[f"floor {login}"], 0.85)


def bench_memory(folder: Path, user: SshUser, count: int) -> None:
    """Peak RSS of one ``fleetstat run`` over ``count`` hosts at concurrency 200."""
    with servers(folder, count, first=20) as server:
        hosts = [(ip, server.port) for ip in server.addresses]
        config = write_config(folder, "memory", user, hosts, "key")
        migrate(config)
        done = cold_run(config, concurrency=200)
    print(
        f"\nmemory: {count} hosts at concurrency 200: {float(done['wall']):.1f} s, "
        f"peak RSS {float(done['rss_mb']):.0f} MB (target <= 100); {done['out']}",
        flush=True,
    )


def endless_python() -> Path:
    """A "python" that answers every request with an endless line, in a folder of its own."""
    tools = Path(tempfile.mkdtemp(prefix="endless-", dir="/tmp"))
    tools.chmod(0o755)
    endless = tools / "python"
    endless.write_text("#!/bin/sh\nexec cat /dev/zero\n")
    endless.chmod(0o755)
    return endless


def bench_endless(folder: Path, user: SshUser) -> None:
    """Peak RSS of a 50-host run with and without a client printing an endless line."""
    endless = endless_python()
    try:
        with servers(folder, 51, first=40) as server:
            hosts = [(ip, server.port) for ip in server.addresses[:50]]
            plain = write_config(folder, "plain", user, hosts, "key")
            hostile = write_config(
                folder, "hostile", user, hosts, "key",
                endless=f"{server.addresses[50]}:{server.port}", endless_python=str(endless),
            )  # fmt: skip
            migrate(plain)
            migrate(hostile)
            without = [cold_run(plain) for _ in range(3)]
            with_it = [cold_run(hostile) for _ in range(3)]
    finally:
        shutil.rmtree(endless.parent, ignore_errors=True)
    a, b = median(without, "rss_mb"), median(with_it, "rss_mb")
    print(
        f"\nendless answer: peak RSS without {a:.0f} MB, with one endless client {b:.0f} MB "
        f"= {b / a:.2f} x (target <= 1.5); {with_it[-1]['out']}",
        flush=True,
    )


def bench_hostile(folder: Path, user: SshUser, other: Path | None, rounds: int) -> None:
    """Peak RSS of 200 hosts at concurrency 50, clean and with 50 of them sending endless
    junk, of this fleetstat (and of ``other``'s), the runs interleaved."""
    trees = {"this": str(ROOT / "src")} | ({"other": str(other)} if other else {})
    endless = endless_python()
    try:
        with servers(folder, 200, first=50) as server:
            hosts = [(ip, server.port) for ip in server.addresses]
            runs: dict[str, list[dict[str, float | str]]] = {}
            configs = {}
            for name, tree in trees.items():
                os.environ["PYTHONPATH"] = tree
                configs[f"{name} clean"] = write_config(folder, f"clean-{name}", user, hosts, "key")
                configs[f"{name} hostile"] = write_config(
                    folder, f"hostile-{name}", user, hosts[50:], "key",
                    endless=" ".join(f"{ip}:{port}" for ip, port in hosts[:50]),
                    endless_python=str(endless),
                )  # fmt: skip
                for kind in ("clean", "hostile"):
                    migrate(configs[f"{name} {kind}"])
            for _ in range(rounds):
                for key, config in configs.items():
                    os.environ["PYTHONPATH"] = trees[key.split()[0]]
                    runs.setdefault(key, []).append(cold_run(config, concurrency=50))
    finally:
        shutil.rmtree(endless.parent, ignore_errors=True)
    print(f"\nhostile answers: 200 hosts at concurrency 50, medians of {rounds} rounds:")
    for name in trees:
        clean, hostile = runs[f"{name} clean"], runs[f"{name} hostile"]
        a, b = median(clean, "rss_mb"), median(hostile, "rss_mb")
        print(
            f"  {name:>5}: peak RSS clean {a:.0f} MB, with 50 endless {b:.0f} MB = {b / a:.2f} x "
            f"(target <= 1.5), {median(hostile, 'wall'):.1f} s; {hostile[-1]['out']}",
            flush=True,
        )


def bench_rtt(folder: Path, user: SshUser, count: int, rounds: int) -> None:
    """Hosts behind 10 ms of delay each way: time per host, cold and warm, vs the floor.

    fleetstat's time per host is ``HostResult.duration`` (connect to cleanup, in a
    collector already started); the floor's is one ``ssh`` process from start to exit.
    """
    askpass = askpass_for(folder, user)
    with delayed.delayed_hosts(folder, count, delay_ms=10) as hosts:
        config = write_config(folder, "rtt", user, hosts, "key")
        migrate(config)
        ours, floors = [], []
        for _ in range(rounds):
            ours.append(run_child("ssh", config))
            floors.append(asyncio.run(floor(hosts, user, "key", askpass, count)))
    cold = median(ours, "cold_per_host") * 1000
    warm = median(ours, "per_host") * 1000
    base = median(floors, "per_host") * 1000
    print(
        f"\nround trips: {count} hosts behind a 20 ms round trip, medians of {rounds} rounds, "
        f"time per host: floor {base:.0f} ms, fleetstat cold {cold:.0f} ms "
        f"({cold - base:+.0f} ms, target <= +20), warm {warm:.0f} ms "
        f"({warm - base:+.0f} ms, target < 0)",
        flush=True,
    )


def profile(folder: Path, user: SshUser, out: Path, count: int = 200) -> None:
    """One cold ``fleetstat run`` over ``count`` hosts under py-spy; top entries to ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    with servers(folder, count, first=60) as server:
        hosts = [(ip, server.port) for ip in server.addresses]
        config = write_config(folder, "profile", user, hosts, "key")
        migrate(config)
        raw = out / "profile.txt"
        subprocess.run(
            [spy, "record", "-r", "500", "-f", "raw", "-o", str(raw), "--",
             *fleetstat_command("run", "--config", str(config), "--json")],
            check=True, capture_output=True,
        )  # fmt: skip
    (out / "top.txt").write_text(top_entries(raw.read_text()))
    print((out / "top.txt").read_text())


#: A leaf frame py-spy counts as running although the thread waits (an idle pool worker).
IDLE = ("_worker (concurrent/futures/thread.py:81)",)


def top_entries(raw: str, count: int = 25) -> str:
    """The functions with the most samples, by own time and in total, of a py-spy raw file.

    Samples of idle thread-pool workers (``IDLE``) are left out.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if frames[-1] in IDLE:
            continue
        hits = int(number)
        samples += hits
        own[frames[-1]] += hits
        for frame in set(frames):
            total[frame] += hits
    lines = [f"{samples} samples (CPU only)", "", "own time:"]
    lines += [f"  {100 * n / samples:5.1f} %  {name}" for name, n in own.most_common(count)]
    lines += ["", "total time (fleetstat's functions):"]
    ours = [(name, n) for name, n in total.most_common() if "fleetstat" in name]
    lines += [f"  {100 * n / samples:5.1f} %  {name}" for name, n in ours[:count]]
    return "\n".join(lines) + "\n"


def bench_versus(folder: Path, user: SshUser, other: Path, count: int, rounds: int) -> None:
    """Cold passes of the fleetstat in ``other`` and of this one, interleaved on one fleet."""
    trees = {"other": str(other), "this": str(ROOT / "src")}
    with servers(folder, count, first=70) as server:
        hosts = [(ip, server.port) for ip in server.addresses]
        configs = {}
        for name, tree in trees.items():
            os.environ["PYTHONPATH"] = tree  # the children run ``python -m fleetstat.cli``
            configs[name] = write_config(folder, f"versus-{name}", user, hosts, "key")
            migrate(configs[name])
        table: dict[str, list[dict[str, float | str]]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                os.environ["PYTHONPATH"] = tree
                table[name].append(cold_run(configs[name]))
    print(f"\n{count} hosts, cold, medians of {rounds} rounds:")
    for name, runs in table.items():
        show(f"{name} ({trees[name]})", runs, count)
        print(f"  {'':<28} peak RSS {median(runs, 'rss_mb'):.0f} MB", flush=True)


def main() -> None:
    """Parse the options and run each part."""
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(child(json.load(sys.stdin))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-hosts", type=int, default=1000)
    parser.add_argument("--rtt-hosts", type=int, default=4)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--versus", type=Path, help="another fleetstat's src folder")
    parser.add_argument("--skip", default="",
                        help="comma-separated: passes,memory,endless,hostile,rtt")  # fmt: skip
    parser.add_argument("--versus-hostile", type=Path,
                        help="the hostile part also on another src folder")  # fmt: skip
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    # byte-compiled as an installed fleetstat is (PYTHONDONTWRITEBYTECODE would leave
    # every start compiling the sources again)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    with tempfile.TemporaryDirectory(prefix="fleetstat-bench-") as tmp:
        folder = Path(tmp)
        with own_user(folder) as user:
            if args.profile:
                profile(folder, user, args.profile)
                return
            if args.versus:
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.versus)],
                               check=True)  # fmt: skip
                bench_versus(folder, user, args.versus.resolve(), args.hosts, args.rounds)
                return
            if "passes" not in skip:
                bench_passes(folder, user, args.hosts, args.rounds)
            if "memory" not in skip:
                bench_memory(folder, user, args.memory_hosts)
            if "endless" not in skip:
                bench_endless(folder, user)
            if "hostile" not in skip:
                bench_hostile(folder, user, args.versus_hostile, args.rounds)
            if "rtt" not in skip:
                bench_rtt(folder, user, args.rtt_hosts, args.rounds)


if __name__ == "__main__":
    main()
