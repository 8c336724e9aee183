"""``fleetstat worker``: collect the shards of passes dispatched with ``--engine celery``."""

from __future__ import annotations

import click

from fleetstat.cli import cli, common
from fleetstat.cli.common import Target


@common.command(
    cli,
    "worker",
    "collect the shards of passes run with --engine celery",
    "A Celery worker on the config's broker (RabbitMQ by default, or Redis: the broker "
    "setting or FLEETSTAT_BROKER) that collects its shards of clients with the same code as "
    "`fleetstat run` and stores them in the config's database. Give every worker the same "
    "clients XML as the dispatcher: it reads the secrets from its own disk and refuses a "
    "shard of another config. Stop it with Ctrl-C or SIGTERM.",
    [
        "fleetstat worker --config /etc/fleetstat/clients.xml --concurrency 4",
        "FLEETSTAT_BROKER=redis://127.0.0.1:6379/0 fleetstat worker -c clients.xml",
    ],
)
@common.target_options(config_required=True)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    metavar="N",
    help="shards collected at the same time",
)
def worker(target: Target, concurrency: int) -> int:
    from fleetstat.collect import shards

    shards.serve(target.config(), concurrency)
    return 0
