"""What every command shares: ``-c/--config`` and ``--db``, help with examples, groups.

Nothing here imports SQLAlchemy, asyncssh or rich: a command imports what it needs
when it runs, so ``fleetstat --help`` starts at once.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from fleetstat.core.model import Config, Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES = """\
\b
exit status:
  0  every host answered and was stored
  1  some host did not answer (its outcome says why)
  2  the config or the command line is wrong
  3  the database could not be written or read
  130, 143  stopped by SIGINT, SIGTERM (hosts in flight cleaned up and recorded)"""

#: The environment variables of the shared options.
CONFIG_ENV = "FLEETSTAT_CONFIG"
DB_ENV = "FLEETSTAT_DB"

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass(frozen=True)
class Target:
    """The config file and database a command works on, from ``-c/--config`` and ``--db``.

    The one place that applies them: ``--db`` (or ``FLEETSTAT_DB``) wins over the XML's
    ``db``; a relative SQLite path starts at the config's folder when a config is given,
    else at the current directory.
    """

    config_path: Path | None
    db: str | None

    def config(self, *, uses_db: bool = True) -> Config:
        """The config of ``--config``, its warnings printed, with ``--db`` on top.

        With ``uses_db``, the database URL is checked (not connected to).
        """
        from fleetstat import config

        if self.config_path is None:
            raise click.UsageError("give the clients XML with -c/--config FILE")
        loaded = config.load(self.config_path)
        settings = replace(loaded.settings, config=self.config_path.resolve())
        loaded = replace(loaded, settings=settings)
        for warning in loaded.warnings:
            click.echo(f"fleetstat: warning: {warning}", err=True)
        if self.db:
            loaded = replace(loaded, settings=replace(loaded.settings, db=self._db()))
        elif uses_db:
            self._check_db(loaded.settings.db)
        return loaded

    def settings(self, *, uses_db: bool = True) -> Settings:
        """Settings from ``--config`` (or the environment alone), with ``--db`` on top.

        With ``uses_db``, the database URL is checked (not connected to).
        """
        if self.config_path is not None:
            return self.config(uses_db=uses_db).settings
        import os

        from fleetstat import config

        settings = config.settings_from_env(os.environ)
        if self.db:
            return replace(settings, db=self._db())
        if uses_db:
            self._check_db(settings.db)
        return settings

    def _check_db(self, url: str) -> None:
        from fleetstat.core import dburl

        where = "--db (or FLEETSTAT_DB)" if self.db else str(self.config_path or DB_ENV)
        dburl.check(url, where)

    def _db(self) -> str:
        from fleetstat import config

        assert self.db is not None
        self._check_db(self.db)
        base = self.config_path.resolve().parent if self.config_path else Path.cwd()
        return config.sqlite_relative_to(self.db, base)


def target_options(*, config_required: bool = False) -> Callable[[F], F]:
    """Add ``-c/--config FILE`` and ``--db URL`` (with their variables); pass ``target``."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, config: Path | None, db: str | None, **kwargs: Any) -> Any:
            return func(*args, target=Target(config, db), **kwargs)

        with_db = click.option(
            "--db",
            metavar="URL",
            envvar=DB_ENV,
            show_envvar=True,
            help="SQLAlchemy database URL; wins over the config (default: sqlite:///fleetstat.db)",
        )(wrapper)
        return click.option(
            "-c",
            "--config",
            metavar="FILE",
            type=click.Path(path_type=Path, dir_okay=False),
            envvar=CONFIG_ENV,
            show_envvar=True,
            required=config_required,
            help="the clients XML"
            + ("" if config_required else "; the database URL and SMTP come from it"),
        )(with_db)  # type: ignore[return-value]

    return decorate


def json_option(help_text: str = "print JSON") -> Callable[[F], F]:
    """The ``--json`` flag."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def concurrency_option() -> Callable[[F], F]:
    """``--concurrency N``."""
    return click.option(
        "--concurrency",
        type=click.IntRange(min=1),
        metavar="N",
        help="hosts at a time (default 50)",
    )


def engine_option() -> Callable[[F], F]:
    """``--engine local|celery``: where the pass runs; wins over the config's ``engine``."""
    return click.option(
        "--engine",
        type=click.Choice(["local", "celery"]),
        help="local: in this process (default); celery: shards on `fleetstat worker`s",
    )


def with_engine(config: Config, engine: str | None) -> Config:
    """``config`` with the ``--engine`` of the command line, when one was given."""
    if engine is None:
        return config
    return replace(config, settings=replace(config.settings, engine=engine))


def help_text(summary: str, details: str, examples: Sequence[str], tail: str = "") -> str:
    """A command's help: the summary line, the details, then its examples kept as written."""
    lines = "\n".join(f"  {example}" for example in examples)
    text = f"{summary}\n\n{details}\n\n\b\nexample:\n{lines}"
    return f"{text}\n\n{tail}" if tail else text


class Group(click.Group):
    """A command group: alone it shows its help and exits 2; ``-h`` works everywhere."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT)
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands in the order they were added, not alphabetical."""
        return list(self.commands)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        """Like click's, with the shared context settings."""
        kwargs.setdefault("context_settings", CONTEXT)
        return super().command(*args, **kwargs)


def group(
    parent: click.Group, name: str, summary: str, details: str, examples: Sequence[str]
) -> Group:
    """A command that only holds others (``db``, ``agent``, ``mail``), added to ``parent``."""
    made = Group(name, help=help_text(summary, details, examples), short_help=summary)
    parent.add_command(made)
    return made


def command(
    parent: click.Group,
    name: str,
    summary: str,
    details: str,
    examples: Sequence[str],
    *,
    tail: str = "",
) -> Callable[[F], click.Command]:
    """Declare ``name`` under ``parent`` with its summary, details and examples."""
    return parent.command(
        name, help=help_text(summary, details, examples, tail), short_help=summary
    )


def warn(text: str) -> None:
    """A line on stderr, prefixed like every fleetstat message."""
    print(f"fleetstat: {text}", file=sys.stderr)
