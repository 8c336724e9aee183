"""``fleetstat run`` and ``fleetstat watch``: the commands that collect."""

from __future__ import annotations

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target


@common.command(
    cli,
    "run",
    "collect once from every client of the config",
    "Connects to every client over SSH (--concurrency at a time), uploads the agent into a "
    "private temp directory, runs it, stores its answer with the client IP, evaluates the "
    "alert rules and sends the mail (alerts, and the security events of every client).",
    ["fleetstat run --config clients.xml", "fleetstat run --config clients.xml --json | jq ."],
    tail=common.EXIT_CODES,
)
@common.target_options(config_required=True)
@common.concurrency_option()
@common.engine_option()
@common.json_option("print the result as JSON, no progress bar")
def run(target: Target, concurrency: int | None, engine: str | None, as_json: bool) -> int:
    from fleetstat.cli import report
    from fleetstat.cli.progress import Progress
    from fleetstat.collect import interrupt, job
    from fleetstat.store import Store

    loaded = common.with_engine(target.config(), engine)
    store = Store.open(loaded.settings.db, timeout=loaded.settings.db_timeout)
    try:
        with Progress(len(loaded.clients), live=False if as_json else None) as progress:
            result = interrupt.run(
                job.run_pass(loaded, store, display=progress, concurrency=concurrency)
            )
    finally:
        store.close()
    if as_json:
        report.dump_json(report.pass_json(result))
    else:
        print(report.pass_table(result))
    return result.exit_code


@common.command(
    cli,
    "watch",
    "collect on a schedule, one pass every period",
    "Runs a pass every --every; never two at once, also across processes (a lock file beside "
    "the database). A pass longer than the period delays the next one. SIGTERM or Ctrl-C "
    "finishes the pass in flight, sends the outbox and exits 0; a second one stops the pass "
    "(its hosts are cleaned up and recorded as interrupted) and exits 130 or 143. "
    "One log line per pass.",
    [
        "fleetstat watch --config /etc/fleetstat/clients.xml --every 5m",
        "fleetstat watch --config clients.xml --serve   # and the web page on :8470",
    ],
)
@common.target_options(config_required=True)
@click.option("--every", default="5m", metavar="PERIOD", help="period: 90s, 5m, 1h (default 5m)")
@common.concurrency_option()
@common.engine_option()
@common.json_option("log one JSON object per pass")
@click.option(
    "--serve",
    "listen",
    is_flag=False,
    flag_value="127.0.0.1:8470",
    default=None,
    metavar="HOST:PORT",
    help="also serve the web page, as `fleetstat serve` does (default 127.0.0.1:8470)",
)
def watch(  # noqa: PLR0917 (click passes the options by name)
    target: Target,
    every: str,
    concurrency: int | None,
    engine: str | None,
    as_json: bool,
    listen: str | None,
) -> int:
    from fleetstat import config
    from fleetstat.cli import watch as watching

    loaded = common.with_engine(target.config(), engine)
    period = watching.check_period(config.parse_duration(every, what="--every"))
    if listen is None:
        return watching.watch(loaded, period=period, as_json=as_json, concurrency=concurrency)
    from fleetstat import web
    from fleetstat.cli.serve import url_of, web_settings

    settings = web_settings(listen, loaded.settings, target.config_path)
    with web.serving(settings):
        click.echo(f"web page on {url_of(settings)}", err=True)
        return watching.watch(loaded, period=period, as_json=as_json, concurrency=concurrency)
