"""The fault table: one pass through the real collector per fault, against real sshd hosts.

Every row makes one client fail in one way beside a healthy one, runs ``job.run_pass``
into a real SQLite database and checks three things: the faulty host ends in its
outcome, every host has exactly one attempt (and the healthy one exactly one sample),
and no temp dir or process of fleetstat is left on any client. Adding a fault is adding
one ``Fault`` to ``FAULTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from sqlalchemy import create_engine, text

from fleetstat import hostkeys, job, model
from fleetstat.store import Store
from tests.support.hostile import hostile_python, printing_python, sleeping_python
from tests.support.sshd import (
    SshdFactory,
    SshdServer,
    SshUser,
    client_for,
    free_port,
    leftover_temp_dirs,
    user_processes,
)

pytestmark = pytest.mark.slow

HEALTHY, FAULTY = "127.0.0.91", "127.0.0.92"
HANG_TIMEOUT = 2.0  # seconds for a host whose agent never answers
OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
#: What a client of this suite may leave running; none of it may outlive a pass.
LEFTOVERS = ("agent.pyz", "sleep 600", "hostile-", "garbage-", "hang-")


@dataclass
class Lab:
    """What a fault is made with: the user, the server, the test's folder and file of pins."""

    user: SshUser
    server: SshdServer
    folder: Path
    stack: contextlib.ExitStack

    @property
    def known_hosts(self) -> Path:
        """fleetstat's own known_hosts file of the pass."""
        return self.folder / "known_hosts"

    def client(self, **changes: Any) -> model.Client:
        """The faulty client (password login, mailed) with ``changes``."""
        defaults: dict[str, Any] = {"name": "faulty", "mail": ("ops@example.org",)}
        return client_for(self.user, self.server, FAULTY, **{**defaults, **changes})

    def pin(self, line: str, *, hashed: bool = False) -> None:
        """Write ``line`` to the known_hosts file, its name hashed by ``ssh-keygen -H``."""
        self.known_hosts.write_text(line + "\n")
        if hashed:
            command = ["ssh-keygen", "-q", "-H", "-f", str(self.known_hosts)]
            subprocess.run(command, check=True, capture_output=True)
            Path(f"{self.known_hosts}.old").unlink()

    @property
    def name(self) -> str:
        """The faulty host's name in known_hosts."""
        return f"[{FAULTY}]:{self.server.port}"


def black_hole(lab: Lab) -> model.Client:
    """A client whose port accepts connections and never says a word."""
    hole = lab.stack.enter_context(socket.socket())
    hole.bind((FAULTY, 0))
    hole.listen(8)
    return lab.client(port=hole.getsockname()[1])


def hung_agent(lab: Lab) -> model.Client:
    """A client whose interpreter ignores its input and sleeps."""
    python = lab.stack.enter_context(sleeping_python())
    return lab.client(python=python, timeout=HANG_TIMEOUT)


@dataclass(frozen=True)
class Fault:
    """One row: how ``make`` breaks the client, the outcome it must get, what else to check.

    ``settings`` change the pass's settings; ``before`` runs on the lab before the pass
    (stop a server); ``check`` looks at the pass's report afterwards; ``patch`` plants a
    bug in fleetstat itself (the one thing no real server can do).
    """

    name: str
    outcome: model.Outcome
    make: Callable[[Lab], model.Client]
    settings: Mapping[str, Any] = field(default_factory=dict)
    smtp_down: bool = False
    check: Callable[[job.PassReport], None] | None = None
    patch: Callable[[pytest.MonkeyPatch], None] | None = None


def mail_kept(report: job.PassReport) -> None:
    """With SMTP down the pass still ends, says so, and keeps the mail for a later try."""
    assert report.mail is not None
    assert report.mail.sent == 0
    assert report.mail.retried > 0
    assert any("connection refused" in error for error in report.mail.errors)


def bug_for_the_faulty_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make fleetstat's own host-key bookkeeping fail for the faulty host alone."""
    original = hostkeys.recorded_keys

    def recorded_keys(client: model.Client, settings: model.Settings) -> frozenset[str]:
        if client.ip == FAULTY:
            raise ZeroDivisionError("a bug in fleetstat")
        return original(client, settings)

    monkeypatch.setattr(hostkeys, "recorded_keys", recorded_keys)


def internal_error_told(report: job.PassReport) -> None:
    """fleetstat's own error is told as such, not blamed on the client."""
    (faulty,) = [r for r in report.results if r.client.name == "faulty"]
    assert faulty.error == (
        "fleetstat's own error (see its log): ZeroDivisionError: a bug in fleetstat"
    )


FAULTS = [
    Fault("wrong-password", model.Outcome.AUTH_FAILED, lambda lab: lab.client(password="x")),
    Fault(
        "closed-port",
        model.Outcome.UNREACHABLE,
        lambda lab: lab.client(port=free_port([FAULTY])),
    ),
    Fault("black-hole", model.Outcome.UNREACHABLE, black_hole),
    Fault("hung-agent", model.Outcome.TIMEOUT, hung_agent),
    Fault("no-python", model.Outcome.NO_PYTHON, lambda lab: lab.client(python="/nonexistent/py")),
    Fault(
        "changed-host-key",
        model.Outcome.HOST_KEY_MISMATCH,
        lambda lab: (lab.pin(f"{lab.name} {OTHER_KEY}"), lab.client())[1],
    ),
    Fault(
        "hashed-pin-of-another-key",
        model.Outcome.HOST_KEY_MISMATCH,
        lambda lab: (lab.pin(f"{lab.name} {OTHER_KEY}", hashed=True), lab.client())[1],
    ),
    Fault(
        "revoked-host-key",
        model.Outcome.HOST_KEY_MISMATCH,
        lambda lab: (lab.pin(f"@revoked {lab.name} {lab.server.host_public_key}"), lab.client())[1],
    ),
    Fault(
        "garbage-answer",
        model.Outcome.BAD_PAYLOAD,
        lambda lab: lab.client(python=lab.stack.enter_context(printing_python("hello there"))),
    ),
    Fault(
        "hostile-valid-answer",
        model.Outcome.BAD_PAYLOAD,
        lambda lab: lab.client(
            python=lab.stack.enter_context(hostile_python("answer['cpu']['percent'] = -50.0"))
        ),
    ),
    Fault("smtp-down", model.Outcome.OK, lambda lab: lab.client(), smtp_down=True, check=mail_kept),
    Fault(
        "fleetstat-bug",
        model.Outcome.INTERNAL_ERROR,
        lambda lab: lab.client(),
        patch=bug_for_the_faulty_host,
        check=internal_error_told,
    ),
]


@pytest.fixture
def lab(ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path) -> Iterator[Lab]:
    """A server on the healthy and the faulty address, and a folder for the pass."""
    server = sshd_factory([HEALTHY, FAULTY])
    with contextlib.ExitStack() as stack:
        yield Lab(ssh_user, server, tmp_path, stack)


def run_pass(lab: Lab, clients: list[model.Client], fault: Fault, smtp: Any) -> job.PassReport:
    """One pass over ``clients`` into the lab's SQLite database."""
    if fault.smtp_down:
        smtp.stop()
    settings = model.Settings(
        db=f"sqlite:///{lab.folder}/fleetstat.db",
        known_hosts=lab.known_hosts,
        connect_timeout=2.0,
        timeout=10.0,
        cpu_interval=0.05,
        smtp=smtp.settings(),
    )
    settings = dataclasses.replace(settings, **fault.settings)
    config = model.Config(lab.folder / "clients.xml", settings, tuple(clients))
    store = Store.open(settings.db)
    try:
        return asyncio.run(job.run_pass(config, store))
    finally:
        store.close()


def stored(db: str) -> tuple[dict[str, int], dict[str, int]]:
    """Attempts and samples per host address in the database at ``db``."""
    engine = create_engine(db)
    count = "SELECT h.address, count(*) FROM hosts h JOIN {} t ON t.host_id = h.id GROUP BY 1"
    with engine.connect() as conn:
        attempts = dict(conn.execute(text(count.format("collection_attempts"))).all())
        samples = dict(conn.execute(text(count.format("samples"))).all())
    engine.dispose()
    return {k: int(v) for k, v in attempts.items()}, {k: int(v) for k, v in samples.items()}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_fault_ends_in_its_outcome_and_harms_no_other_host(
    lab: Lab, fault: Fault, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fault.patch is not None:
        fault.patch(monkeypatch)
    healthy = client_for(lab.user, lab.server, HEALTHY, name="healthy", mail=("ops@example.org",))
    faulty = fault.make(lab)
    report = run_pass(lab, [healthy, faulty], fault, smtp_server)

    outcomes = {r.client.name: r.outcome for r in report.results}
    assert outcomes == {"healthy": model.Outcome.OK, "faulty": fault.outcome}
    assert report.unstored == {}
    attempts, samples = stored(f"sqlite:///{lab.folder}/fleetstat.db")
    assert attempts == {healthy.address: 1, faulty.address: 1}
    expected_samples = {healthy.address: 1}
    if fault.outcome is model.Outcome.OK:
        expected_samples[faulty.address] = 1
    assert samples == expected_samples
    assert leftover_temp_dirs(lab.user) == []
    assert [p for needle in LEFTOVERS for p in user_processes(lab.user, needle)] == []
    if fault.check is not None:
        fault.check(report)
