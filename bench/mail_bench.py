"""Mails per second from the outbox to a local SMTP server, one connection per flush.

Queues N mails in a fresh SQLite outbox, starts aiosmtpd on 127.0.0.1, and times one
``mail.flush``. Target: at least 200 mails per second.

    .venv/bin/python bench/mail_bench.py [--mails 2000] [--db sqlite:///...] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from fleetstat.alerting import mail
from fleetstat.core.model import SmtpSettings
from fleetstat.store import Store, outbox

TARGET = 200.0


class Counter:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(store: Store, count: int, now: datetime) -> None:
    body = "cpu 87.2% > 20%\n" * 20
    with store.session() as session:
        for n in range(count):
            draft = outbox.Draft("alert", f"[fleetstat] FIRING cpu on web{n:04d}", body)
            outbox.enqueue(session, draft, [f"ops{n % 50}@example.org"], now=now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = Store.open(url)
        now = datetime.now(UTC)
        fill(store, args.mails, now)
        counter = Counter()
        controller = Controller(counter, hostname="127.0.0.1", port=free_port())
        controller.start()
        smtp = SmtpSettings(host="127.0.0.1", port=controller.port, sender="bench@localhost")
        profiler = cProfile.Profile() if args.profile else None
        try:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            report = mail.flush(store, smtp, now)
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
        finally:
            controller.stop()
            store.close()
    rate = report.sent / elapsed
    verdict = "ok" if rate >= TARGET else f"below the target of {TARGET:g}/s"
    print(
        f"{report.sent} mails in {elapsed:.2f} s over one connection: "
        f"{rate:.0f} mails/s ({verdict})"
    )
    print(f"server received {counter.count}; retried {report.retried}, failed {report.failed}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
