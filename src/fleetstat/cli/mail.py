"""``fleetstat mail …``: check and drive mail delivery."""

from __future__ import annotations

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target
from fleetstat.core.clock import utcnow

mail = common.group(
    cli,
    "mail",
    "check and drive mail delivery",
    "SMTP comes from <settings><smtp .../></settings> or the FLEETSTAT_SMTP_* variables.",
    ["FLEETSTAT_SMTP_HOST=mail.example.org fleetstat mail test admin@example.org"],
)


@common.command(
    mail,
    "test",
    "send one test mail and say exactly what failed if it fails",
    "Checks the connection, TLS, login and the recipient in one go.",
    ["fleetstat mail test admin@example.org --config clients.xml"],
)
@click.argument("address", metavar="ADDRESS")
@common.target_options()
def test(target: Target, address: str) -> int:
    from fleetstat.alerting import mail as mailing

    smtp = target.settings(uses_db=False).smtp
    mailing.send_test(smtp, address)
    print(f"sent a test mail to {address} through {smtp.host}:{smtp.port} ({smtp.tls})")
    return 0


@common.command(
    mail,
    "flush",
    "send what the outbox still holds",
    "Mail that could not go out (server down, timeout, 4xx) waits in the outbox; every run "
    "retries it, and so does this command.",
    ["fleetstat mail flush --config clients.xml"],
    tail="\b\nexit status: 0 outbox empty, 1 mail still waiting or rejected",
)
@common.target_options()
def flush(target: Target) -> int:
    from fleetstat.alerting import mail as mailing
    from fleetstat.cli import report
    from fleetstat.store import Store

    settings = target.settings()
    store = Store.open(settings.db, timeout=settings.db_timeout)
    try:
        flushed = mailing.flush(store, settings.smtp, utcnow(), expire_after=settings.mail_expire)
    finally:
        store.close()
    print(report.flush_line(flushed))
    return 0 if flushed.retried == 0 and flushed.failed == 0 else 1
