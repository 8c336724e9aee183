"""``fleetstat doctor``: what fleetstat can and cannot do on each client, and the fix.

One quick connection per client (through its bastion, like a pass) runs one probe in
``/bin/sh`` — no agent, nothing written — and each finding becomes a ``Check``: the
login (and its certificate's end), the path, the login shell, Python and its version,
whether the temp folder is writable, and how the security log can be read: the
journal directly, through ``become``, or an auth file.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from fleetstat import ssh
from fleetstat.agent import become
from fleetstat.agent.linux_auth import JOURNAL_GROUPS
from fleetstat.alerting.rules import REACHABILITY
from fleetstat.core import model
from fleetstat.core.errors import HostError
from fleetstat.ssh import certificates, probe, session
from fleetstat.ssh.posix import MIN_PYTHON
from fleetstat.ssh.probe import Shell

_VERSION = re.compile(r"Python (\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, whether it is fine, what was found, the fix."""

    name: str
    ok: bool
    found: str
    fix: str = ""


@dataclass
class Diagnosis:
    """Every check of one client."""

    client: str
    address: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, object]:
        return {"client": self.client, "address": self.address, "ok": self.ok,
                "checks": [asdict(check) for check in self.checks]}  # fmt: skip


def probe_script(python: str | None = None) -> str:
    """The one line ``/bin/sh`` runs: ``name=value`` lines of what it finds (``python``:
    the client's interpreter, else ``python3``, then ``python``)."""
    rule = become.command("sudo", "/usr/bin/journalctl")
    groups = " ".join(f"-e {name}" for name in sorted(JOURNAL_GROUPS))
    return "; ".join([
        'u=$(id -un); echo "user=$u"; echo "uid=$(id -u)"',
        'echo "login_shell=$(getent passwd "$u" | cut -d: -f7)"',
        f'p=$(command -v "{python}")' if python else "p=$(command -v python3 || command -v python)",
        'echo "python=$p"; test -n "$p" && echo "python_version=$("$p" -V 2>&1)"',
        't=${TMPDIR:-/tmp}; echo "tmpdir=$t"; test -d "$t" && test -w "$t" && echo tmp_ok=yes',
        "j=$(command -v journalctl); echo \"journalctl=$j\"",
        f"id -Gn | tr \" \" \"\\n\" | grep -qx {groups} && echo journal_group=yes",
        "for f in /var/log/auth.log /var/log/secure; do test -r $f && echo \"authfile=$f\"; done",
        f"sudo -n -l {' '.join(rule[2:])} >/dev/null 2>&1 && echo become_sudo=yes",
        "true",
    ])  # fmt: skip


def fields(text: str) -> dict[str, str]:
    """The ``name=value`` lines of the probe's output."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.replace("_", "").isalnum():
            found.setdefault(name, value.strip())
    return found


async def diagnose(
    clients: list[model.Client], settings: model.Settings, concurrency: int = 20
) -> list[Diagnosis]:
    """One ``Diagnosis`` per client, in their order."""
    gate = asyncio.Semaphore(concurrency)
    async with ssh.Connections.from_settings(settings) as connections:

        async def one(client: model.Client) -> Diagnosis:
            async with gate:
                return await _diagnose(client, settings, connections)

        return list(await asyncio.gather(*(one(client) for client in clients)))


async def _diagnose(
    client: model.Client, settings: model.Settings, connections: ssh.Connections
) -> Diagnosis:
    found = Diagnosis(client.label, client.address, [_login(client), _path(client)])
    if client.secret_error:
        found.checks[0] = Check("login", False, "its secret cannot be read", client.secret_error)
        return found
    limit = client.timeout or settings.timeout
    deadline = asyncio.get_running_loop().time() + limit
    try:
        conn = await connections.open(client, settings, deadline)
    except HostError as err:
        words = REACHABILITY.get(model.Outcome(err.outcome))
        found.checks.append(Check("connect", False, f"{err.outcome}: {err}",
                                  words.hint if words else ""))  # fmt: skip
        return found
    try:
        async with asyncio.timeout_at(deadline):
            command = probe.lines(probe_script(client.python))
            done = await session.run(conn, command, 64 * 1024)
    except (TimeoutError, OSError) as err:
        found.checks.append(Check("connect", False, f"no answer to the probe: {err}"))
        return found
    finally:
        conn.close()
    output = done.out.decode("utf-8", "replace")
    found.checks += _findings(client, probe.detect_shell(output), fields(output), done)
    return found


def _login(client: model.Client) -> Check:
    if client.password is not None or client.password_env:
        return Check("login", True, "password")
    if client.keyfile is None:
        return Check("login", True, "ssh-agent or the default keys")
    path = certificates.certificate_path(client)
    if path is None:
        return Check("login", True, f"key file {client.keyfile}")
    try:
        cert = certificates.load(path)
    except (OSError, ValueError) as err:
        return Check("login", False, f"certificate {path} cannot be read: {err}")
    end = certificates.validity(cert)[1]
    why = certificates.problem(path, cert, datetime.now(UTC))
    text = f"key file {client.keyfile} with certificate {path}, valid until {end:%Y-%m-%d}"
    soon = bool(certificates.expiring([client]))
    return Check("login", why is None and not soon, text, why or ("renew it" if soon else ""))


def _path(client: model.Client) -> Check:
    return Check("path", True, f"through bastion {client.jump}" if client.jump else "direct")


def _findings(
    client: model.Client, shell: Shell | None, found: dict[str, str], done: session.Capture
) -> list[Check]:
    if shell in (Shell.CMD, Shell.POWERSHELL, Shell.PWSH):
        return [Check("shell", True, f"Windows ({shell}): the other checks run with a pass")]
    if "user" not in found:
        said = (done.out.decode("utf-8", "replace") + done.stderr_text).strip()
        return [Check("shell", False, f"the login runs no command ({said[:120] or 'nothing'})",
                      f"give {client.username} a shell that runs commands "
                      f"(usermod -s /bin/sh {client.username})")]  # fmt: skip
    return [
        Check("shell", True, found.get("login_shell") or "unknown"),
        _python(client, found),
        _tmpdir(found),
        _events(client, found),
    ]


def _python(client: model.Client, found: dict[str, str]) -> Check:
    wanted = client.python or "python3, then python"
    version = _VERSION.search(found.get("python_version", ""))
    if not found.get("python") or version is None:
        return Check("python", False, f"none found ({wanted})",
                     "install Python 3.6 or newer, or set python= to its path")  # fmt: skip
    text = f"{version[0]} at {found['python']}"
    if (int(version[1]), int(version[2])) < MIN_PYTHON:
        return Check("python", False, text, "the agent needs Python 3.6 or newer")
    return Check("python", True, text)


def _tmpdir(found: dict[str, str]) -> Check:
    folder = found.get("tmpdir", "/tmp")
    if found.get("tmp_ok"):
        return Check("tmpdir", True, f"{folder} is writable")
    return Check("tmpdir", False, f"{folder} is not writable",
                 "make it writable for the account, or set TMPDIR in its environment")  # fmt: skip


def _events(client: model.Client, found: dict[str, str]) -> Check:
    user = found.get("user", "USER")
    if found.get("journalctl") and (found.get("uid") == "0" or found.get("journal_group")):
        return Check("events", True, "the journal, directly")
    if found.get("journalctl") and found.get("become_sudo"):
        if client.become == "sudo":
            return Check("events", True, 'the journal through sudo (become="sudo")')
        return Check("events", False, "the journal, only through sudo (its rule is there)",
                     f'set become="sudo" on {client.label}')  # fmt: skip
    if found.get("authfile"):
        return Check("events", True, f"{found['authfile']}, directly")
    rule = become.rule("sudo", user, become.command("sudo", "/usr/bin/journalctl"))
    return Check(
        "events",
        False,
        "neither the journal nor an auth log is readable",
        f'usermod -aG systemd-journal {user}; or set become="sudo" and add to sudoers: {rule}',
    )
