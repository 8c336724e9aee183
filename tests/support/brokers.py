"""Real Celery brokers for the tests, and ``fleetstat worker`` processes on them.

The machine's RabbitMQ (127.0.0.1:5672, guest/guest) and Redis (127.0.0.1:6379) are
shared: every test uses a queue of its own, so runs side by side never take each
other's tasks. A test that restarts its broker starts a private ``redis-server`` on a
free port instead (``private_redis``), or a private RabbitMQ node (``private_rabbitmq``,
in ``private_rabbitmq.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

RABBITMQ = os.environ.get("FLEETSTAT_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("FLEETSTAT_TEST_REDIS", "redis://127.0.0.1:6379/0")
FLEETSTAT = str(Path(sys.executable).with_name("fleetstat"))
READY_TIMEOUT = 30.0  # seconds for a worker to say it is ready


def reachable(url: str) -> bool:
    """Whether something accepts TCP connections at the host and port of ``url``."""
    hostport = url.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.partition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=2):
        return True
    return False


def require(url: str) -> str:
    """``url`` when its broker answers; else skip (under CI: fail) the test."""
    if reachable(url):
        return url
    message = f"the broker at {url.rsplit('@', 1)[-1]} is not reachable"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI runs every broker)")
    pytest.skip(message)


def queue_name() -> str:
    """A queue of this test alone."""
    return f"fleetstat-test-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    """One ``fleetstat worker`` process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    def log_text(self) -> str:
        """What the worker has printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Wait until Celery says the worker is ready; fail with its output otherwise."""
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready." not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.log_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as when a machine dies."""
        self.process.kill()
        self.process.wait()
        self.stopped = True

    def stop(self) -> None:
        """SIGTERM and wait (Celery's warm shutdown), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stopped = True


@contextlib.contextmanager
def workers(config: Path, count: int, folder: Path, concurrency: int = 2) -> Iterator[list[Worker]]:
    """``count`` workers for ``config``, ready; all stopped on exit."""
    started: list[Worker] = []
    try:
        for n in range(count):
            log_path = folder / f"worker-{n}.log"
            with log_path.open("wb") as out:
                process = subprocess.Popen(
                    [FLEETSTAT, "worker", "--config", str(config), "--concurrency",
                     str(concurrency)],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            started.append(Worker(process, log_path))
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A ``redis-server`` of this test alone on a free port, durable, that it may restart."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(server, free_port(), tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class PrivateRedis:
    """A private Redis that a test can stop and start again on the same port."""

    binary: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not reachable(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("the private redis-server does not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it; what it holds survives in its append-only file, as a broker's should."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
