"""One exception tree for everything fleetstat reports to a user.

Foreign exceptions are translated once, where they enter (``raise ... from err``),
into one of these; the CLI's ``main`` is the one place that turns them into output.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence


class FleetstatError(Exception):
    """Base of every error fleetstat reports; ``str(err)`` is the message for the user."""

    exit_code = 1


class ConfigError(FleetstatError):
    """The configuration is wrong: names the file, the line and what to do."""

    exit_code = 2

    def __init__(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{path}:{line}" if line else path
        text = f"{where}: {problem}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)

    @staticmethod
    def of(errors: Sequence[ConfigError]) -> ConfigError:
        """One error for ``errors`` (at least one): itself when alone, else ``ConfigErrors``."""
        flat = [inner for err in errors for inner in err.each()]
        return flat[0] if len(flat) == 1 else ConfigErrors(flat)

    def each(self) -> tuple[ConfigError, ...]:
        """The single problems this error holds, in file order (here: itself)."""
        return (self,)


class ConfigErrors(ConfigError):
    """Every problem of one config read, in file order; ``errors`` holds each one.

    ``path``, ``line``, ``problem`` and ``fix`` are the first problem's; ``str(err)`` is
    every problem, one after the other.
    """

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = tuple(sorted(errors, key=lambda err: (err.path, err.line or 0)))
        first = self.errors[0]
        self.path, self.line, self.problem, self.fix = (
            first.path,
            first.line,
            first.problem,
            first.fix,
        )
        FleetstatError.__init__(self, "\n".join(str(err) for err in self.errors))

    def each(self) -> tuple[ConfigError, ...]:
        """The single problems, in file order."""
        return self.errors


class Invalid(ValueError):
    """A value of the config that does not parse: ``problem`` says what is wrong, ``fix``
    what to write. Turned into a ``ConfigError`` at its file and line."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


class EnvelopeError(FleetstatError):
    """An agent's answer did not decrypt or is not a valid answer (outcome ``bad_payload``)."""


class StoreError(FleetstatError):
    """The database could not be read or written (gone, full, locked, wrong schema)."""

    exit_code = 3


class NoDatabase(StoreError):
    """A reading command found no fleetstat database at the URL (missing, empty, or older)."""


class StoreUnavailable(StoreError):
    """The database is away: down, unreachable, or did not answer within ``db-timeout``.
    Trying again later may help (what ``Store.record`` could not write is spooled)."""


class MailError(FleetstatError):
    """A mail could not be sent. ``permanent`` says whether trying again can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        self.permanent = permanent
        super().__init__(message)


class HostError(FleetstatError):
    """One host's run failed. ``outcome`` is the ``model.Outcome`` value it is recorded as
    (``unreachable``, ``auth_failed`` …); ``transient`` says whether the next run may succeed.
    ``host`` is the client's ``ip:port``.
    """

    def __init__(self, message: str, *, outcome: str, transient: bool, host: str = "") -> None:
        self.outcome = outcome
        self.transient = transient
        self.host = host
        super().__init__(message)


class UsageError(FleetstatError):
    """A command was asked for something it cannot do: says what and how to ask instead."""

    exit_code = 2


class Interrupted(FleetstatError):
    """A pass was stopped by a signal; the hosts in flight were cleaned up and recorded.

    ``exit_code`` is 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted ({name}); the hosts in flight were cleaned up")
