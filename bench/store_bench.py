"""Collector CPU the database write path costs per host, on SQLite, PostgreSQL and MariaDB.

Writes N realistic host results (figures, four filesystems, ten new security events
each; one host in ten failed; two alert rules and a recipient each) of one run exactly
as a pass does: each through the pass's own write (``Store.record`` with its alert
states and mail items, one transaction per host), then the run's end, its mail
composed into the outbox and the database tidied (rollups, pruning). It reports the
CPU time of this process (user + system, ``time.process_time``) per host, and the
wall time: the minimum and median of several
runs, as the machine's other load makes single runs noisy. The databases are fresh ones made on
the servers of ``tests/support/databases.py``. Target: the store's share of the 15 ms
a host may cost the whole collector stays small (a few ms).

    .venv/bin/python bench/store_bench.py [--hosts 200] [--rounds 5] [--backends sqlite,...]

To measure another version of the store, put its ``src`` first:
``PYTHONPATH=/path/to/other/src .venv/bin/python bench/store_bench.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import answers
from tests.support.databases import fresh_database

from fleetstat.collect import job, writer
from fleetstat.core import model
from fleetstat.store import Store
from fleetstat.store.retention import Retention

EVENTS_PER_HOST = 10
#: Each host's alert rules: one that fires on the answers' figures, one that does not.
RULES = (model.AlertRule("memory", 10.0), model.AlertRule("cpu", 95.0))


def disks() -> tuple[model.Disk, ...]:
    """Four filesystems, as a typical server reports them."""
    return tuple(
        model.Disk(mount, f"/dev/vd{n}", "ext4", 10**11, 4 * 10**10, 6 * 10**10, 40.0)
        for n, mount in zip("abcd", ("/", "/var", "/home", "/srv"), strict=True)
    )


def results(count: int, start: datetime, run: int) -> list[model.HostResult]:
    """``count`` host results of run number ``run``: nine in ten answered, one failed."""
    made = []
    for n in range(count):
        who = replace(
            answers.client(ip=f"10.1.{n // 250}.{n % 250 + 1}", name=f"web{n:04d}"),
            mail=(f"ops{n % 3}@example.org",),
            alerts=RULES,
        )
        if n % 10 == 9:
            made.append(answers.failed_result(start, who=who))
            continue
        first = (run * EVENTS_PER_HOST) + n * 1000
        evts = answers.events(range(first, first + EVENTS_PER_HOST), start)
        ans = answers.answer(start, evts=evts, disks=disks())
        made.append(answers.ok_result(start, ans, who=who))
    return made


def write_run(store: Store, batch: list[model.HostResult], now: datetime) -> None:
    """The database work of one pass over ``batch``, as ``job.run_pass`` does it."""
    settings = model.Settings(db=store.url)
    config = model.Config(Path("bench.xml"), settings, tuple(r.client for r in batch))
    write = writer.host_write(config, store, lambda: now)
    run_id = store.start_run(now, "bench")
    for result in batch:
        write(run_id, result)
    store.finish_run(run_id, now, len(batch), len(batch))
    job._compose(store, config, run_id, now)
    store.roll_up(now)
    store.prune(Retention.of(settings), now, max_batches=job.TIDY_BATCHES)


def measure(url: str, hosts: int, rounds: int, profile: bool) -> tuple[list[float], list[float]]:
    """ms CPU and ms wall per host of each run after the first (hosts already known)."""
    store = Store.open(url)
    now = datetime.now(UTC)
    cpus, walls = [], []
    profiler = cProfile.Profile() if profile else None
    try:
        write_run(store, results(hosts, now, 0), now)  # first sight of every host
        for run in range(1, rounds + 1):
            at = now + timedelta(minutes=5 * run)
            batch = results(hosts, at, run)
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            write_run(store, batch, at)
            if profiler:
                profiler.disable()
            cpus.append((time.process_time() - cpu) * 1000 / hosts)
            walls.append((time.perf_counter() - wall) * 1000 / hosts)
    finally:
        store.close()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return cpus, walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="runs measured per database")
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    print(f"{args.hosts} host results per run, {EVENTS_PER_HOST} new events and 4 disks each")
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            with fresh_database(backend, Path(folder)) as url:
                cpus, walls = measure(url, args.hosts, args.rounds, args.profile)
            print(
                f"{backend:>10}: CPU per host min {min(cpus):5.2f} ms, median"
                f" {statistics.median(cpus):5.2f} ms; wall per host median"
                f" {statistics.median(walls):6.2f} ms ({args.rounds} runs)"
            )


if __name__ == "__main__":
    main()
