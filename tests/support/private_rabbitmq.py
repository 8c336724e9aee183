"""A RabbitMQ node of one test alone, that the test may stop and start again.

The machine's RabbitMQ (``rabbit@localhost`` on 5672) is shared and is never restarted.
This starts a second node from the same installation (``/usr/lib/rabbitmq/bin``, not the
``/usr/sbin`` wrapper, which switches to the ``rabbitmq`` user and the machine's node)
with everything of its own in a temp dir: node name, AMQP port, Erlang distribution
port, its own ``epmd`` on a port of its own (killed at the end), its own Erlang cookie
(``HOME``), config and env files (so ``/etc/rabbitmq``'s node name and listener on 5672
are not read), no plugins, and its mnesia and log dirs — where the durable queues and
persistent messages survive a restart, as on a real broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.brokers import free_port, reachable

BIN = Path(os.environ.get("FLEETSTAT_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
START_TIMEOUT = 120.0  # seconds for a node to boot on a busy machine
STOP_TIMEOUT = 60.0


@dataclass
class PrivateRabbitMQ:
    """One private node; ``stop`` then ``start`` restarts it on the same ports and data."""

    folder: Path
    name: str = field(default_factory=lambda: f"fleetstat-{uuid.uuid4().hex[:10]}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its AMQP URL (guest/guest on loopback, the default vhost)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        """The environment that makes the node (and ``rabbitmqctl``) this one."""
        files = self.folder
        return {
            **os.environ,
            "HOME": str(files),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(files / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(files / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(files / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(files / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(files / "mnesia"),
            "RABBITMQ_LOG_BASE": str(files / "log"),
            "RABBITMQ_PID_FILE": str(files / "node.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def prepare(self) -> None:
        """The node's files: its config (a listener on its port alone), no plugins."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq-env.conf").write_text("")
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.folder / "advanced.config").write_text("[].\n")
        (self.folder / "enabled_plugins").write_text("[].\n")

    def start(self) -> None:
        """Boot the node and wait until it accepts AMQP connections."""
        if not (self.folder / "rabbitmq.conf").exists():
            self.prepare()
        log = (self.folder / "server.out").open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "rabbitmq-server")],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not reachable(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = (self.folder / "server.out").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"the private RabbitMQ node did not start:\n{output[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node as a broker is stopped (SIGTERM: it closes its queues and
        connections); SIGKILL if it lingers. Its mnesia dir keeps what is durable."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop the node and its own epmd."""
        self.stop()
        epmd = shutil.which("epmd")
        if epmd is not None:
            subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"], env=self.env(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=10,
            )  # fmt: skip


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[PrivateRabbitMQ]:
    """A private RabbitMQ node of this test alone, that it may restart."""
    if not (BIN / "rabbitmq-server").exists():
        pytest.skip(f"RabbitMQ is not installed ({BIN / 'rabbitmq-server'} is missing)")
    node = PrivateRabbitMQ(tmp_path / "rabbitmq")
    node.start()
    try:
        yield node
    finally:
        node.close()
