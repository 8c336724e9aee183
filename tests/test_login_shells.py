"""Every login shell a fleet has, quiet and noisy, and logins that run nothing, on OpenSSH.

One real pass over one account per (shell, noise): each must be collected with the
figures of this machine, or fail with the outcome that names the true reason, and leave
no temp dir and no process of the account behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psutil
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from fleetstat import web
from fleetstat.cli import main
from fleetstat.collect import job
from fleetstat.core import model
from fleetstat.store import Store
from tests.support.shells import NOISE_TEXT, SHELLS, Account, accounts, missing
from tests.support.sshd import SshdFactory, client_for, leftover_temp_dirs, processes_of
from tests.support.web import PASSWORD
from tests.test_ssh import outcome_of, settings_in
from tests.test_ssh_faults import HANG_WITH_CHILD

KINDS = [(shell, noisy) for shell in SHELLS for noisy in (False, True)]
KINDS += [("nologin", False), ("false", False), ("sftp-only", False), ("rbash", False)]


@pytest.fixture(scope="module")
def shell_pass(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, model.HostResult], list[Account], str]]:
    """One pass over every kind of account; (results by client name, accounts, db URL)."""
    absent = missing([kind for kind, _ in KINDS])
    if absent:
        pytest.fail(f"login shells not installed: {absent} (.ci/run installs them)")
    folder = tmp_path_factory.mktemp("shells")
    factory = SshdFactory(folder / "sshd")
    wanted = [(("bash" if kind == "sftp-only" else kind), noisy) for kind, noisy in KINDS]
    try:
        with accounts(folder, wanted) as users:
            made = [
                Account(acc.user, kind, noisy)
                for acc, (kind, noisy) in zip(users, KINDS, strict=True)
            ]
            sftp_only = next(acc.user.name for acc in made if acc.kind == "sftp-only")
            server = factory(
                [f"127.0.9.{n}" for n in range(1, len(made) + 1)],
                options={"Match": f"User {sftp_only}\n  ForceCommand internal-sftp"},
            )
            clients = tuple(
                client_for(acc.user, server, address, auth="key", name=name_of(acc))
                for acc, address in zip(made, server.addresses, strict=True)
            )
            db = f"sqlite:///{folder / 'fleet.db'}"
            settings = model.Settings(
                db=db, known_hosts=folder / "known_hosts", connect_timeout=10.0,
                timeout=40.0, cpu_interval=0.1,
            )  # fmt: skip
            config = model.Config(path=folder / "clients.xml", settings=settings, clients=clients)
            store = Store.open(db)
            try:
                done = asyncio.run(job.run_pass(config, store))
            finally:
                store.close()
            results = {result.client.name: result for result in done.results}
            yield results, made, db
    finally:
        factory.close()


def name_of(account: Account) -> str:
    return f"{account.kind}{'-noisy' if account.noisy else ''}"


@pytest.mark.parametrize(("shell", "noisy"), [kind for kind in KINDS if kind[0] in SHELLS])
def test_every_login_shell_is_collected_quiet_or_noisy(shell_pass, shell: str, noisy: bool):
    results, made, db = shell_pass
    account = next(a for a in made if (a.kind, a.noisy) == (shell, noisy))
    result = results[name_of(account)]
    assert result.outcome == model.Outcome.OK, result.error
    assert result.answer is not None and result.answer.memory is not None
    assert result.answer.memory.total == psutil.virtual_memory().total
    with create_engine(db).connect() as conn:
        stored = conn.execute(
            text(
                "SELECT a.outcome, a.login_noise, s.mem_total FROM collection_attempts a "
                "JOIN hosts h ON h.id = a.host_id JOIN samples s ON s.host_id = h.id "
                "WHERE h.name = :name"
            ),
            {"name": name_of(account)},
        ).one()
    assert stored.outcome == "ok"
    assert stored.mem_total == psutil.virtual_memory().total
    if noisy:
        assert NOISE_TEXT in stored.login_noise
        assert len(stored.login_noise) <= 400
    else:
        assert stored.login_noise is None
    assert leftover_temp_dirs(account.user) == []
    assert processes_of(account.user) == []


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("nologin", "This account is currently not available"),
        ("false", "exited with 1"),
        ("sftp-only", "This service allows sftp connections only"),
        ("rbash", "its login shell ran, but could not start /bin/sh"),
    ],
)
def test_a_login_that_runs_nothing_is_no_shell_with_the_fix(shell_pass, kind: str, says: str):
    results, made, _db = shell_pass
    account = next(a for a in made if a.kind == kind)
    result = results[name_of(account)]
    assert result.outcome == model.Outcome.NO_SHELL, result.error
    assert result.error is not None
    assert "runs no command" in result.error
    assert says in result.error
    assert leftover_temp_dirs(account.user) == []
    assert processes_of(account.user) == []


def test_the_pass_took_every_account_once(shell_pass):
    results, made, _db = shell_pass
    assert sorted(results) == sorted(name_of(a) for a in made)


@pytest.mark.parametrize("shell", ["fish", "tcsh"])
def test_a_hung_agent_under_any_shell_is_killed_and_its_dir_removed(
    shell: str, sshd_factory: SshdFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The job's cleanup is /bin/sh's and the supervisor's, never the login shell's."""
    folder = tmp_path_factory.mktemp(f"hung-{shell}")
    with accounts(folder, [(shell, True)]) as (account,):
        server = sshd_factory(["127.0.9.60" if shell == "fish" else "127.0.9.61"])
        client = client_for(account.user, server, auth="key")
        settings = settings_in(folder, timeout=3.0)
        error = outcome_of(client, settings, HANG_WITH_CHILD)
        assert error.outcome == model.Outcome.TIMEOUT
        assert leftover_temp_dirs(account.user) == []
        assert processes_of(account.user) == []


def test_what_a_noisy_login_printed_is_shown_with_its_attempts(shell_pass, capsys):
    _results, _made, db = shell_pass
    assert main(["history", "zsh-noisy", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "DETAIL" in out and f"login printed: {NOISE_TEXT}" in out
    app = web.create_app(web.WebSettings(db=db, password=PASSWORD, config=None))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/login").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"password": PASSWORD, "csrf": csrf})
        noisy_page = client.get("/hosts/zsh-noisy").text
        quiet_page = client.get("/hosts/zsh").text
    assert "The login prints more than the answer" in noisy_page
    assert NOISE_TEXT in noisy_page
    assert "The login prints more than the answer" not in quiet_page
