"""The ``fleetstat`` command. Thin: it parses arguments, calls the library, prints.

``main`` is the one place that turns a ``FleetstatError`` into a message and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from fleetstat import __version__, config, job, mail, payload, report, retirement, silences
from fleetstat.errors import FleetstatError
from fleetstat.model import Config, Settings
from fleetstat.store import Store

EXIT_CODES = """\
exit status:
  0  every host answered and was stored
  1  some host did not answer (its outcome says why)
  2  the config or the command line is wrong
  3  the database could not be written or read"""

Command = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except FleetstatError as err:
        print(f"fleetstat: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("fleetstat: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------- settings for commands


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from ``--config`` (or the environment alone), with ``--db`` on top."""
    if getattr(args, "config", None):
        return _load(args).settings
    settings = config.settings_from_env(os.environ)
    return replace(settings, db=args.db) if getattr(args, "db", None) else settings


def _load(args: argparse.Namespace) -> Config:
    """The config of ``--config``, its warnings printed, with ``--db`` on top when given."""
    loaded = config.load(Path(args.config))
    for warning in loaded.warnings:
        print(f"fleetstat: warning: {warning}", file=sys.stderr)
    if getattr(args, "db", None):
        loaded = replace(loaded, settings=replace(loaded.settings, db=args.db))
    return loaded


# ---------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    loaded = _load(args)
    store = Store.open(loaded.settings.db)
    try:
        progress = None if args.json else report.ProgressBar()
        result = asyncio.run(
            job.run_pass(loaded, store, progress=progress, concurrency=args.concurrency)
        )
    finally:
        store.close()
    if args.json:
        report.dump_json(report.pass_json(result))
    else:
        print(report.pass_table(result))
    return result.exit_code


def cmd_watch(args: argparse.Namespace) -> int:
    from fleetstat import watch

    loaded = _load(args)
    period = watch.check_period(config.parse_duration(args.every, what="--every"))
    return watch.watch(loaded, period=period, as_json=args.json, concurrency=args.concurrency)


def cmd_check_config(args: argparse.Namespace) -> int:
    loaded = _load(argparse.Namespace(config=args.file))
    print(config.describe(loaded))
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        rows = store.latest_hosts()
    finally:
        store.close()
    if args.json:
        report.dump_json([row.__dict__ for row in rows])
        return 0
    if not rows:
        print("no hosts yet: run `fleetstat run --config FILE` first")
        return 0
    print(report.hosts_table(rows))
    return 0


def cmd_hosts_forget(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        removed = retirement.forget(store, args.host)
    finally:
        store.close()
    print(f"forgot {args.host}: {removed} rows deleted")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        rows = silences.current(store, job.utcnow())
    finally:
        store.close()
    if args.json:
        report.dump_json([row.as_json() for row in rows])
    elif rows:
        print(report.alerts_table(rows))
    else:
        print("nothing is firing or pending")
    return 0


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        silences.acknowledge(store, args.host, args.rule, args.reason, job.utcnow())
    finally:
        store.close()
    print(f"acknowledged {args.rule} on {args.host}: no reminders until it resolves")
    return 0


def cmd_silence_add(args: argparse.Namespace) -> int:
    now = job.utcnow()
    for_seconds = config.parse_duration(args.for_, what="--for") if args.for_ else None
    ends = silences.end_time(now, for_seconds=for_seconds, until=args.until)
    store = Store.open(_settings(args).db)
    try:
        row = silences.add(store, args.host, args.rule, ends, args.reason, now)
    finally:
        store.close()
    what = row.rule or "all rules"
    print(f"silence {row.id}: {row.host_pattern} {what} until {report.when(ends)}")
    return 0


def cmd_silence_list(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        rows = silences.listed(store, job.utcnow())
    finally:
        store.close()
    if args.json:
        report.dump_json([row.__dict__ for row in rows])
    elif rows:
        print(report.silences_table(rows))
    else:
        print("no silence in force")
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        silences.expire(store, args.id, job.utcnow())
    finally:
        store.close()
    print(f"silence {args.id} ended: its alerts mail again from the next pass")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    store = Store.open(_settings(args).db)
    try:
        if args.events:
            events = store.events_of_host(args.host, limit=args.limit)
            return _show(args, "security events", events, lambda: report.events_table(events))
        attempts = store.history(args.host, limit=args.limit)
        return _show(args, "runs", attempts, lambda: report.history_table(attempts))
    finally:
        store.close()


def _show(
    args: argparse.Namespace, what: str, rows: Sequence[object], text: Callable[[], str]
) -> int:
    """Print ``rows`` as JSON or as ``text()``; 1 when there are none."""
    if args.json:
        report.dump_json([row.__dict__ for row in rows])
        return 0
    if not rows:
        print(f"no {what} recorded for {args.host!r} (give its name, IP or ip:port)")
        return 1
    print(text())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = Store.open(settings.db, create=False)
    try:
        store.upgrade()
    finally:
        store.close()
    print(f"database {report.safe_url(settings.db)} is at the newest schema")
    return 0


def cmd_agent_build(args: argparse.Namespace) -> int:
    out = Path(args.output)
    payload.write_agent(out)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {payload.agent_digest()})")
    return 0


def cmd_mail_test(args: argparse.Namespace) -> int:
    smtp = _settings(args).smtp
    mail.send_test(smtp, args.address)
    print(f"sent a test mail to {args.address} through {smtp.host}:{smtp.port} ({smtp.tls})")
    return 0


def cmd_mail_flush(args: argparse.Namespace) -> int:
    settings = _settings(args)
    store = Store.open(settings.db)
    try:
        flushed = mail.flush(store, settings.smtp, job.utcnow())
    finally:
        store.close()
    print(report.flush_line(flushed))
    return 0 if flushed.retried == 0 and flushed.failed == 0 else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from fleetstat import demo

    return demo.main(Path(args.dir), keep=args.keep)


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, every command with its help."""
    parser = argparse.ArgumentParser(
        prog="fleetstat",
        description=(
            "Agentless machine statistics over SSH. fleetstat uploads a small agent into a temp "
            "directory on each client of the config, runs it with the client's stock Python, reads "
            "back its encrypted answer (memory, CPU, uptime, disks, security events), stores it in "
            "a SQL database with the client's IP and mails the admins when a limit is passed."
        ),
        epilog="start with `fleetstat demo`, then `fleetstat check-config clients.xml` and "
        "`fleetstat run --config clients.xml`.\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fleetstat {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_run(commands)
    _add_watch(commands)
    _add_check_config(commands)
    _add_hosts(commands)
    _add_alerts(commands)
    _add_silence(commands)
    _add_history(commands)
    _add_db(commands)
    _add_agent(commands)
    _add_mail(commands)
    _add_demo(commands)
    return parser


def _command(
    commands: Subparsers, name: str, func: Command, summary: str, details: str
) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{details}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(func=func)
    return sub


def _db_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--config", metavar="FILE", help="take the database URL (and SMTP) from this config"
    )
    sub.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy database URL; wins over the config and FLEETSTAT_DB "
        "(default: sqlite:///fleetstat.db)",
    )


def _add_run(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "run",
        cmd_run,
        "collect once from every client of the config",
        "Connects to every client over SSH (--concurrency at a time), uploads the agent into a "
        "private temp directory, runs it, stores its answer with the client IP, evaluates the "
        "alert rules and sends the mail (alerts, and the security events of every client).\n\n"
        "example:\n  fleetstat run --config clients.xml\n"
        "  fleetstat run --config clients.xml --json | jq .\n\n" + EXIT_CODES,
    )
    sub.add_argument("--config", required=True, metavar="FILE", help="the clients XML")
    sub.add_argument(
        "--db", metavar="URL", help="database URL; wins over the config and FLEETSTAT_DB"
    )
    sub.add_argument(
        "--concurrency", type=_positive_int, metavar="N", help="hosts at a time (default 50)"
    )
    sub.add_argument(
        "--json", action="store_true", help="print the result as JSON, no progress bar"
    )


def _add_watch(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "watch",
        cmd_watch,
        "collect on a schedule, one pass every period",
        "Runs a pass every --every; never two at once, also across processes (a lock file beside "
        "the database). A pass longer than the period delays the next one. SIGTERM or Ctrl-C "
        "finishes the pass in flight, sends the outbox and exits 0. One log line per pass.\n\n"
        "example:\n  fleetstat watch --config /etc/fleetstat/clients.xml --every 5m",
    )
    sub.add_argument("--config", required=True, metavar="FILE", help="the clients XML")
    sub.add_argument(
        "--every", default="5m", metavar="PERIOD", help="period: 90s, 5m, 1h (default 5m)"
    )
    sub.add_argument(
        "--db", metavar="URL", help="database URL; wins over the config and FLEETSTAT_DB"
    )
    sub.add_argument(
        "--concurrency", type=_positive_int, metavar="N", help="hosts at a time (default 50)"
    )
    sub.add_argument("--json", action="store_true", help="log one JSON object per pass")


def _add_check_config(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "check-config",
        cmd_check_config,
        "validate a config without connecting to anything",
        "Reads the XML with a hardened parser and checks every element and attribute. An error "
        "names the file, the line and the fix.\n\n"
        "example:\n  fleetstat check-config clients.xml\n\n"
        "exit status: 0 valid, 2 not valid",
    )
    sub.add_argument("file", metavar="FILE", help="the clients XML")


def _add_hosts(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "hosts",
        cmd_hosts,
        "show the latest state of every host in the database",
        "One row per host: its last outcome, CPU %, memory %, uptime and when it last answered.\n\n"
        "example:\n  fleetstat hosts --db sqlite:///fleetstat.db",
    )
    _db_options(sub)
    sub.add_argument("--json", action="store_true", help="print JSON")
    inner = sub.add_subparsers(title="commands", metavar="COMMAND")
    forget = _command(
        inner,
        "forget",
        cmd_hosts_forget,
        "delete the whole history of a retired host",
        "A client removed from the config is retired by the next pass; this deletes its "
        "samples, events, attempts and alert states. A host still in the config is refused.\n\n"
        "example:\n  fleetstat hosts forget old-web03 --config clients.xml",
    )
    forget.add_argument("host", metavar="HOST", help="the host's name, IP or ip:port")
    _db_options(forget)


def _add_alerts(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "alerts",
        cmd_alerts,
        "show what is firing and pending now",
        "One row per alert that is not ok: host, rule, state, since when, value, limit, and "
        "whether a silence covers it or someone acknowledged it.\n\n"
        "example:\n  fleetstat alerts --config clients.xml\n  fleetstat alerts --json | jq .",
    )
    _db_options(sub)
    sub.add_argument("--json", action="store_true", help="print JSON")
    inner = sub.add_subparsers(title="commands", metavar="COMMAND")
    ack = _command(
        inner,
        "ack",
        cmd_alerts_ack,
        "acknowledge a firing alert: no more reminders until it resolves",
        "The alert keeps firing and shows as acknowledged in `fleetstat alerts`; its RESOLVED "
        "mail still goes out, and a new firing after that mails again.\n\n"
        "example:\n  fleetstat alerts ack db01 disk:/var --reason 'new disk on order'",
    )
    ack.add_argument("host", metavar="HOST", help="the host's name, IP or ip:port")
    ack.add_argument("rule", metavar="RULE", help="the rule: cpu, disk:/var, unreachable …")
    ack.add_argument("--reason", metavar="TEXT", help="why, for the next admin")
    _db_options(ack)


def _add_silence(commands: Subparsers) -> None:
    inner = _group(
        commands,
        "silence",
        "silence alerts of some hosts for a while (maintenance)",
        "A silenced alert still changes state and is recorded, but mails nothing; the digest "
        "counts it. When the silence ends and the alert still fires, it is mailed then.\n\n"
        "example:\n  fleetstat silence add --host 'db*' --for 2h --reason 'kernel update'",
    )
    add = _command(
        inner,
        "add",
        cmd_silence_add,
        "silence the alerts of matching hosts from now on",
        "--host is a shell pattern matched against the name, IP and ip:port; without --rule "
        "every rule of those hosts is silenced, unreachable included.\n\n"
        "example:\n  fleetstat silence add --host web01 --rule cpu --for 2h --reason batch\n"
        "  fleetstat silence add --host '10.0.1.*' --until '2026-12-24 08:00' --reason move",
    )
    add.add_argument("--host", required=True, metavar="PATTERN", help="hosts: web01, 'db*'")
    add.add_argument("--rule", metavar="TYPE", help="one rule type (disk) or rule (disk:/var)")
    add.add_argument("--for", dest="for_", metavar="DURATION", help="how long: 90m, 2h, 1d")
    add.add_argument("--until", metavar="TIME", help="until when: 2026-12-24 08:00 (UTC)")
    add.add_argument("--reason", required=True, metavar="TEXT", help="why, for the next admin")
    _db_options(add)
    listing = _command(
        inner,
        "list",
        cmd_silence_list,
        "show the silences in force and to come",
        "Each with its id, host pattern, rule, start, end and reason.\n\n"
        "example:\n  fleetstat silence list --config clients.xml",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    _db_options(listing)
    expire = _command(
        inner,
        "expire",
        cmd_silence_expire,
        "end a silence now",
        "Its alerts mail again from the next pass; one that still fires is mailed then.\n\n"
        "example:\n  fleetstat silence expire 3 --config clients.xml",
    )
    expire.add_argument("id", type=_positive_int, metavar="ID", help="from `silence list`")
    _db_options(expire)


def _add_history(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "history",
        cmd_history,
        "show the recent runs of one host",
        "Each attempt with its outcome, error, CPU % and memory %, newest first; with "
        "--events, the host's stored security events instead.\n\n"
        "example:\n  fleetstat history web01\n  fleetstat history 10.0.0.5 --limit 100\n"
        "  fleetstat history web01 --events",
    )
    sub.add_argument("host", metavar="HOST", help="the host's name, IP or ip:port")
    _db_options(sub)
    sub.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="how many rows (default 20)"
    )
    sub.add_argument("--events", action="store_true", help="the security events, newest first")
    sub.add_argument("--json", action="store_true", help="print JSON")


def _add_db(commands: Subparsers) -> None:
    inner = _group(
        commands,
        "db",
        "manage the database schema",
        "example:\n  fleetstat db upgrade --db postgresql+psycopg://fleetstat@dbhost/fleetstat",
    )
    up = _command(
        inner,
        "upgrade",
        cmd_db_upgrade,
        "bring the database schema to this version's (Alembic migrations)",
        "A first `fleetstat run` does this too; run it by hand after upgrading fleetstat when "
        "another application reads the database, to choose the moment.\n\n"
        "example:\n  fleetstat db upgrade --config /etc/fleetstat/clients.xml",
    )
    _db_options(up)


def _add_agent(commands: Subparsers) -> None:
    inner = _group(
        commands,
        "agent",
        "the client script that fleetstat uploads",
        "example:\n  fleetstat agent build --output agent.pyz && python3 agent.pyz < request.json",
    )
    build = _command(
        inner,
        "build",
        cmd_agent_build,
        "write the exact agent.pyz that is uploaded to clients",
        "Two builds of the same version are byte-identical, so the file can be reviewed and its "
        "sha256 compared.\n\n"
        "example:\n  fleetstat agent build --output agent.pyz && sha256sum agent.pyz",
    )
    build.add_argument("--output", required=True, metavar="PATH", help="where to write agent.pyz")


def _add_mail(commands: Subparsers) -> None:
    inner = _group(
        commands,
        "mail",
        "check and drive mail delivery",
        "SMTP comes from <settings><smtp .../></settings> or the FLEETSTAT_SMTP_* variables.\n\n"
        "example:\n  FLEETSTAT_SMTP_HOST=mail.example.org fleetstat mail test admin@example.org",
    )
    test = _command(
        inner,
        "test",
        cmd_mail_test,
        "send one test mail and say exactly what failed if it fails",
        "Checks the connection, TLS, login and the recipient in one go.\n\n"
        "example:\n  fleetstat mail test admin@example.org --config clients.xml",
    )
    test.add_argument("address", metavar="ADDRESS", help="where to send the test mail")
    test.add_argument("--config", metavar="FILE", help="take SMTP settings from this config")
    flush = _command(
        inner,
        "flush",
        cmd_mail_flush,
        "send what the outbox still holds",
        "Mail that could not go out (server down, timeout, 4xx) waits in the outbox; every run "
        "retries it, and so does this command.\n\n"
        "example:\n  fleetstat mail flush --config clients.xml\n\n"
        "exit status: 0 outbox empty, 1 mail still waiting or rejected",
    )
    _db_options(flush)


def _add_demo(commands: Subparsers) -> None:
    sub = _command(
        commands,
        "demo",
        cmd_demo,
        "a whole run on this machine: local SSH and SMTP servers, three clients",
        "Starts an SSH server and an SMTP server inside this process, on loopback only, writes a "
        "config in the seed format with three clients on 127.0.0.2-127.0.0.4, and runs one real "
        "pass through the same code as `fleetstat run`: upload, agent, encryption, SQLite, "
        "alerts, outbox, SMTP. Needs no sshd and no root.\n\n"
        "example:\n  fleetstat demo\n  fleetstat demo --keep   # leave the servers up",
    )
    sub.add_argument(
        "--dir",
        default="fleetstat-demo",
        metavar="DIR",
        help="where to put the config, database and mails",
    )
    sub.add_argument("--keep", action="store_true", help="keep the servers running until Ctrl-C")


def _group(commands: Subparsers, name: str, summary: str, details: str) -> Subparsers:
    """A command that only holds others (``db``, ``agent``, ``mail``); alone, it shows its help."""
    sub = _command(commands, name, _usage_of(name), summary, details)
    return sub.add_subparsers(title="commands", metavar="COMMAND")


def _usage_of(name: str) -> Command:
    def usage(args: argparse.Namespace) -> int:
        build_parser().parse_args([name, "--help"])
        return 2

    return usage


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 or more")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
