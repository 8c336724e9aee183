"""The fault tables: each row one fault, through the real collector against real sshd hosts.

``FAULTS``: one client fails in one way beside a healthy one; one pass of ``job.run_pass``
into a real SQLite database must end the faulty host in its outcome, give every host
exactly one attempt (and the healthy one exactly one sample), and leave no temp dir or
process of fleetstat on any client.

``TROUBLES``: every client is healthy and the trouble is the collector's own — its
database stopped, frozen or on a full disk, two collectors on a fresh database, a
SIGINT, a SIGKILL. The troubled passes must exit as the row says; after one more pass
every host has exactly one attempt per run (its result stored once, none lost) and
nothing is left on any client.

Adding a fault is adding one row.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from sqlalchemy import create_engine, text

from fleetstat.collect import job
from fleetstat.core import model
from fleetstat.ssh import hostkeys
from fleetstat.store import Store
from tests.support.databases import fresh_database
from tests.support.hostile import hostile_python, printing_python, sleeping_python
from tests.support.private_postgres import PrivatePostgres, private_postgres_server
from tests.support.runs import start_run, wait_for_dirs, write_config
from tests.support.sshd import (
    SshdFactory,
    SshdServer,
    SshUser,
    client_for,
    free_port,
    leftover_temp_dirs,
    processes_of,
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


def hung_agent_with_child(lab: Lab) -> model.Client:
    """A client whose agent starts a child that sleeps, then hangs itself."""
    change = "import subprocess, time\nsubprocess.Popen(['sleep', '600'])\ntime.sleep(600)"
    python = lab.stack.enter_context(hostile_python(change))
    return lab.client(python=python, timeout=HANG_TIMEOUT)


def endless_answer(lab: Lab) -> model.Client:
    """A client whose agent writes one line that never ends."""
    change = "while True:\n    sys.stdout.write('a' * 65536)"
    return lab.client(python=lab.stack.enter_context(hostile_python(change)))


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


def answer_capped(report: job.PassReport) -> None:
    """An endless answer is cut at ``max-answer``, and the error says so."""
    (faulty,) = [r for r in report.results if r.client.name == "faulty"]
    assert faulty.error == "answer larger than 16 MiB"


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
    Fault("hung-agent-with-a-child", model.Outcome.TIMEOUT, hung_agent_with_child),
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
    Fault("endless-answer", model.Outcome.BAD_PAYLOAD, endless_answer, check=answer_capped),
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


# ---------------------------------------------------------------- the collector's surroundings

#: The hosts of a trouble row; all healthy, the trouble is the collector's own.
HOSTS = [f"127.0.0.{n}" for n in range(93, 99)]


@dataclass
class Scene:
    """What a trouble is made in: healthy hosts, a database, a folder and an SMTP server."""

    user: SshUser
    server: SshdServer
    folder: Path
    smtp: Any
    db: str
    postgres: PrivatePostgres | None = None

    def config(self) -> model.Config:
        """The pass's config: every host, two at a time, into ``db``."""
        settings = model.Settings(
            db=self.db,
            known_hosts=self.folder / "state" / "known_hosts",
            connect_timeout=5.0,
            timeout=30.0,
            cpu_interval=0.05,
            db_timeout=2.0,
            concurrency=2,
            smtp=self.smtp.settings(),
        )
        clients = [
            client_for(self.user, self.server, ip, name=f"h{n}", mail=("ops@example.org",))
            for n, ip in enumerate(HOSTS)
        ]
        return model.Config(self.folder / "clients.xml", settings, tuple(clients))

    def run_pass(self, after_two: Callable[[], None] | None = None) -> int:
        """One pass in this process; ``after_two`` runs once two hosts are done. Its exit."""
        config = self.config()
        Store.open(config.settings.db).close()  # made and migrated before any trouble

        def progress(done: int, _total: int) -> None:
            if done == 2 and after_two is not None:
                after_two()

        store = Store.open(config.settings.db, timeout=config.settings.db_timeout)
        try:
            return asyncio.run(job.run_pass(config, store, progress=progress)).exit_code
        finally:
            store.close()

    def postgres_stopped(self) -> list[int]:
        """PostgreSQL stopped in the middle of the pass, started again after it."""
        assert self.postgres is not None
        status = self.run_pass(after_two=self.postgres.stop)
        self.postgres.start()
        return [status]

    def postgres_frozen(self) -> list[int]:
        """PostgreSQL frozen (SIGSTOP) in the middle of the pass, thawed after it."""
        assert self.postgres is not None
        try:
            return [self.run_pass(after_two=self.postgres.freeze)]
        finally:
            self.postgres.thaw()

    def disk_full(self) -> list[int]:
        """The SQLite file's filesystem filled up in the middle of the pass, then freed."""
        filler = Path(self.db.removeprefix("sqlite:///")).parent / "filler"

        def fill() -> None:
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()

        try:
            return [self.run_pass(after_two=fill)]
        finally:
            filler.unlink(missing_ok=True)

    def two_collectors(self) -> list[int]:
        """Two ``fleetstat run`` at once on a database nobody made yet."""
        configs = [self.cli_config(f"c{n}.xml", "0.05") for n in (1, 2)]
        runs = [start_run(config) for config in configs]
        return [run.wait(timeout=120) for run in runs]

    def interrupted(self) -> list[int]:
        """``fleetstat run`` stopped by SIGINT while every host's agent runs."""
        run = start_run(self.cli_config("slow.xml", "30s"))
        wait_for_dirs(self.user, len(HOSTS), run)
        run.send_signal(signal.SIGINT)
        return [run.wait(timeout=30)]

    def killed(self) -> list[int]:
        """``fleetstat run`` killed (SIGKILL) while every host's agent runs."""
        run = start_run(self.cli_config("slow.xml", "30s"))
        wait_for_dirs(self.user, len(HOSTS), run)
        run.kill()
        return [run.wait(timeout=30)]

    def cli_config(self, name: str, cpu_interval: str) -> Path:
        return write_config(
            self.folder, self.user, self.server, cpu_interval, db=self.db, name=name
        )


@dataclass(frozen=True)
class Trouble:
    """One row: what goes wrong around the collector, what its passes exit with, and what
    their hosts end as in the database once the next pass is over (None: not recorded).

    ``database`` is where the scene's database lives: ``sqlite``, ``private-postgres``
    (a server of the test's own, to stop or freeze), ``fresh-postgres`` (a new database
    on the machine's server) or ``tmpfs`` (SQLite on a small filesystem of its own).
    """

    name: str
    cause: Callable[[Scene], list[int]]
    exits: list[int]
    outcome: model.Outcome | None
    database: str = "sqlite"


TROUBLES = [
    Trouble("database-stopped", Scene.postgres_stopped, [3], model.Outcome.OK, "private-postgres"),
    Trouble("database-frozen", Scene.postgres_frozen, [3], model.Outcome.OK, "private-postgres"),
    Trouble("disk-full", Scene.disk_full, [3], model.Outcome.OK, "tmpfs"),
    Trouble(
        "two-collectors-on-a-fresh-postgresql",
        Scene.two_collectors,
        [0, 0],
        model.Outcome.OK,
        "fresh-postgres",
    ),
    Trouble("sigint", Scene.interrupted, [130], model.Outcome.INTERRUPTED),
    Trouble("sigkill", Scene.killed, [-signal.SIGKILL], model.Outcome.INTERRUPTED),
]


@contextlib.contextmanager
def database_for(trouble: Trouble, folder: Path) -> Iterator[tuple[str, PrivatePostgres | None]]:
    """The URL of the row's database (and its private server, when it has one)."""
    if trouble.database == "private-postgres":
        with private_postgres_server() as server:
            yield server.url, server
    elif trouble.database == "fresh-postgres":
        with fresh_database("postgresql", folder) as url:
            yield url, None
    elif trouble.database == "tmpfs":
        small = folder / "small"
        small.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], check=True)
        try:
            yield f"sqlite:///{small}/fleetstat.db", None
        finally:
            subprocess.run(["umount", "-l", str(small)], check=True)
    else:
        yield f"sqlite:///{folder}/fleetstat.db", None


def attempts_by_run(db: str) -> dict[int, dict[str, tuple[str, int]]]:
    """Run id → host address → (outcome, how many samples), for every attempt stored.

    Raises when a host has two attempts in one run: that would be a result stored twice.
    """
    engine = create_engine(db)
    query = text(
        "SELECT a.run_id, h.address, a.outcome,"
        " (SELECT count(*) FROM samples s WHERE s.run_id = a.run_id AND s.host_id = h.id)"
        " FROM collection_attempts a JOIN hosts h ON h.id = a.host_id ORDER BY a.run_id"
    )
    found: dict[int, dict[str, tuple[str, int]]] = {}
    with engine.connect() as conn:
        for run_id, address, outcome, samples in conn.execute(query):
            hosts = found.setdefault(int(run_id), {})
            assert address not in hosts, f"{address} has two attempts in run {run_id}"
            hosts[address] = (outcome, int(samples))
    engine.dispose()
    return found


@pytest.mark.parametrize("trouble", TROUBLES, ids=[t.name for t in TROUBLES])
def test_a_trouble_of_the_collector_loses_doubles_and_leaves_nothing(
    trouble: Trouble, ssh_user: SshUser, sshd_factory: SshdFactory, tmp_path: Path, smtp_server: Any
) -> None:
    server = sshd_factory(HOSTS)
    with database_for(trouble, tmp_path) as (db, postgres):
        scene = Scene(ssh_user, server, tmp_path, smtp_server, db, postgres)
        exits = trouble.cause(scene)
        assert exits == trouble.exits
        killed = trouble.exits == [-signal.SIGKILL]  # nothing ran to clean up: the next pass does
        assert leftover_temp_dirs(ssh_user) == [] or killed
        assert scene.run_pass() == 0  # the next pass: back to normal, the spool written back
        runs = attempts_by_run(db)
        closed = runs_closed(db)

    addresses = {client.address for client in scene.config().clients}
    *troubled, last = sorted(runs)
    assert runs[last] == dict.fromkeys(addresses, ("ok", 1))
    expected = {} if trouble.outcome is None else dict.fromkeys(addresses, trouble.outcome.value)
    samples = 1 if trouble.outcome is model.Outcome.OK else 0
    for run_id in troubled:
        assert {a: outcome for a, (outcome, _) in runs[run_id].items()} == expected
        assert {n for _, n in runs[run_id].values()} <= {samples}
    assert len(troubled) == (len(trouble.exits) if trouble.outcome else 0)
    assert leftover_temp_dirs(ssh_user) == []
    assert processes_of(ssh_user) == []
    assert closed == {
        run_id: (len(hosts), sum(outcome == "ok" for outcome, _ in hosts.values()))
        for run_id, hosts in runs.items()
    }


def runs_closed(db: str) -> dict[int, tuple[int, int]]:
    """Run id → (hosts_total, hosts_ok) of every run; raises for a run left open."""
    engine = create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, finished_at, hosts_total, hosts_ok FROM runs"))
        found = {}
        for run_id, finished_at, total, ok in rows:
            assert finished_at is not None, f"run {run_id} was never closed"
            found[int(run_id)] = (int(total), int(ok))
    engine.dispose()
    return found
