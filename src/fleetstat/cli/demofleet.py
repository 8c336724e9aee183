"""The embedded default: a whole run on this machine, with nothing installed and no root.

An SSH server (asyncssh) and an SMTP server (aiosmtpd) run inside this process on
loopback only; a config in the seed format names three clients on 127.0.0.2-127.0.0.4;
one pass runs through ``job.run_pass``, the same code as ``fleetstat run``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import getpass
import hmac
import os
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import asyncssh
from aiosmtpd.controller import Controller

from fleetstat import config
from fleetstat.cli import report
from fleetstat.cli.progress import Progress
from fleetstat.collect import job
from fleetstat.store import Store

CLIENT_IPS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
LOGIN = "demo"
ADMIN = "admin@demo.example"

# One client per line of the seed format; the second has a memory limit of 1 % so that an
# alert certainly fires, the third a CPU limit of 0 %.
CONFIG_TEMPLATE = """\
<clients>
    <settings db="sqlite:///{folder}/fleetstat.db" known-hosts="{folder}/known_hosts"
              cpu-interval="0.5">
        <smtp host="127.0.0.1" port="{smtp_port}" sender="fleetstat@demo.example" />
    </settings>
{clients}
</clients>
"""
CLIENT_TEMPLATE = """\
    <client ip="{ip}" port="{port}" username="{login}" password="{password}"
            mail="{mail}" name="{name}">
{alerts}
    </client>"""
ALERTS = (
    ('<alert type="memory" limit="50%" />', '<alert type="cpu" limit="20%" />'),
    ('<alert type="memory" limit="1%" />', '<alert type="disk" limit="95%" />'),
    ('<alert type="cpu" limit="0%" />', '<alert type="load" limit="4" />'),
)
NAMES = ("demo-web", "demo-db", "demo-build")


@dataclass(frozen=True)
class Servers:
    """What the demo started: SSH ports by client IP, the SMTP port and the mail folder."""

    ssh_ports: dict[str, int]
    smtp_port: int
    mail_dir: Path
    password: str


def main(folder: Path, *, keep: bool = False, serve: str | None = None) -> int:
    """Run the demo in ``folder`` (made if missing); return the pass's exit status.

    ``serve`` (``HOST:PORT``) then serves the web page over the demo's database until
    Ctrl-C, with a fresh password that is printed.
    """
    return asyncio.run(_demo(folder.resolve(), keep, serve))


async def _demo(folder: Path, keep: bool, serve: str | None = None) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    _forget_last_run(folder)
    mail_dir = folder / "mail"
    mail_dir.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(12)
    ssh_servers, ports = await _start_ssh(password)
    smtp = _Smtp(mail_dir)
    try:
        servers = Servers(ports, smtp.port, mail_dir, password)
        config_path = write_config(folder, servers)
        loaded = config.load(config_path, environ={})
        loaded = replace(loaded, settings=replace(loaded.settings, config=config_path))
        print(
            f"fleetstat demo: SSH server on {', '.join(f'{ip}:{p}' for ip, p in ports.items())}, "
            f"SMTP on 127.0.0.1:{smtp.port}, config {config_path}"
        )
        store = Store.open(loaded.settings.db, timeout=loaded.settings.db_timeout)
        try:
            before = set(mail_dir.iterdir())
            with Progress(len(loaded.clients)) as progress:
                result = await job.run_pass(loaded, store, display=progress)
        finally:
            store.close()
        print()
        print(report.pass_table(result))
        _print_mails(sorted(set(mail_dir.iterdir()) - before))
        print(f"\ndatabase: {loaded.settings.db}")
        print(f"see it:   {_this_command()} hosts --db {loaded.settings.db}")
        if serve is not None:
            await _serve(serve, loaded.settings.db, config_path)
        elif keep:
            await _wait_for_ctrl_c(config_path)
        return result.exit_code
    finally:
        smtp.stop()
        for server in ssh_servers:
            server.close()


def _forget_last_run(folder: Path) -> None:
    """Remove a previous demo's database: its servers had other ports, so other hosts."""
    for name in ("fleetstat.db", "fleetstat.db-wal", "fleetstat.db-shm", "known_hosts"):
        (folder / name).unlink(missing_ok=True)


def write_config(folder: Path, servers: Servers) -> Path:
    """Write the demo's ``clients.xml`` (mode 0600: it holds the demo password)."""
    place = escape(str(folder), {'"': "&quot;"})
    clients = "\n".join(
        CLIENT_TEMPLATE.format(
            ip=ip,
            port=servers.ssh_ports[ip],
            login=LOGIN,
            password=servers.password,
            mail=ADMIN,
            name=name,
            alerts="\n".join(f"        {rule}" for rule in rules),
        )
        for ip, name, rules in zip(CLIENT_IPS, NAMES, ALERTS, strict=True)
    )
    text = CONFIG_TEMPLATE.format(folder=place, smtp_port=servers.smtp_port, clients=clients)
    path = folder / "clients.xml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------- the SSH server


class _Login(asyncssh.SSHServer):
    """Accepts the demo login with the demo password, nothing else."""

    def __init__(self, password: str) -> None:
        self._password = password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == LOGIN and hmac.compare_digest(password, self._password)


async def _run_command(process: asyncssh.SSHServerProcess[bytes]) -> None:
    """Run the client's command as the current user; its output goes back when it ends.

    The output is read whole before the exit status is sent, so nothing of it can be
    lost behind the channel's close (the agent prints one line).
    """
    command = process.command or os.environ.get("SHELL", "/bin/sh")
    local = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        await process.redirect(stdin=local.stdin)
        assert local.stdout is not None and local.stderr is not None
        out, err = await asyncio.gather(local.stdout.read(), local.stderr.read())
        process.stdout.write(out)
        process.stderr.write(err)
        process.exit(await local.wait())
        await process.wait_closed()
    finally:
        if local.returncode is None:
            local.kill()
            await local.wait()


async def _start_ssh(password: str) -> tuple[list[asyncssh.SSHAcceptor], dict[str, int]]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    servers: list[asyncssh.SSHAcceptor] = []
    ports: dict[str, int] = {}
    for ip in CLIENT_IPS:
        server = await asyncssh.create_server(
            lambda: _Login(password),
            ip,
            0,
            server_host_keys=[key],
            process_factory=_run_command,
            sftp_factory=True,
            encoding=None,
        )
        servers.append(server)
        ports[ip] = server.sockets[0].getsockname()[1]
    return servers, ports


# ---------------------------------------------------------------- the SMTP server


class _SaveMail:
    """aiosmtpd handler: every message becomes a numbered ``.eml`` file in one folder."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{len(list(self._folder.glob('*.eml'))) + 1:04d}.eml"
        content = envelope.original_content or envelope.content
        (self._folder / name).write_bytes(
            content if isinstance(content, bytes) else content.encode()
        )
        return "250 Message accepted for delivery"


class _Smtp:
    """An aiosmtpd server on 127.0.0.1 that saves every mail into ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self._controller = Controller(_SaveMail(folder), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- output


def _this_command() -> str:
    """How the user can run fleetstat again: ``fleetstat`` on the PATH, else its path."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "fleetstat" or shutil.which("fleetstat") == str(argv0):
        return "fleetstat"
    relative = os.path.relpath(argv0)
    return relative if not relative.startswith("..") else str(argv0)


def _print_mails(paths: list[Path]) -> None:
    print(f"\nmails sent ({len(paths)}), saved as files:")
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        print(f"  {path}  to {message['To']}: {str(message['Subject']).strip()}")


async def _serve(listen: str, db: str, config_path: Path) -> None:
    """Serve the web page on ``listen`` until Ctrl-C, with a password made for this run."""
    import uvicorn

    from fleetstat import web

    host, port = web.parse_listen(listen)
    password = secrets.token_urlsafe(12)
    settings = web.WebSettings(db=db, password=password, config=config_path, host=host, port=port)
    server = uvicorn.Server(uvicorn.Config(web.create_app(settings), host=host, port=port,
                                           log_level="warning", access_log=False))  # fmt: skip
    print(
        f"\nweb page: http://{host}:{port}/  log in as admin with password {password}\n"
        "(`fleetstat serve` takes its password from FLEETSTAT_WEB_PASSWORD); Ctrl-C stops.",
        flush=True,
    )
    await server.serve()


async def _wait_for_ctrl_c(config_path: Path) -> None:
    print(
        f"\nservers kept up (--keep) as {getpass.getuser()} would reach them: "
        f"`fleetstat run --config {config_path}` runs again; Ctrl-C stops.",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("\nstopped", file=sys.stderr)
