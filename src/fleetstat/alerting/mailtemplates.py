"""The Jinja2 templates of the mails: shipped with the package, overridable file by file.

The built-in texts are ``fleetstat/alerting/templates/mail/*.txt``. The ``mail-templates``
setting names a folder; a file there with the same name replaces the built-in one, the
others stay. Templates are plain text: nothing is HTML-escaped, a missing variable is
an error (``MailTemplateError``), and a block tag's own line leaves no blank line.

Jinja2 is imported at the first render, not with this module: a pass that mails
nothing never loads it (about 2 MB of a collector's memory).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetstat.core.errors import FleetstatError

if TYPE_CHECKING:
    import jinja2

#: The templates a pass renders; a ``mail-templates`` folder may hold any of them.
NAMES = ("alert.txt", "alert-subject.txt", "digest.txt", "digest-subject.txt")


class MailTemplateError(FleetstatError):
    """A mail template could not be read or rendered: names the template and the line."""


class Templates:
    """The mail templates, the ``folder`` (when given) before the built-in ones."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder

    @functools.cached_property
    def _env(self) -> jinja2.Environment:
        import jinja2

        loaders: list[jinja2.BaseLoader] = [
            jinja2.PackageLoader("fleetstat.alerting", "templates/mail")
        ]
        if self.folder is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(self.folder)))
        env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["plural"] = plural
        return env

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Template ``name`` filled with ``context``; MailTemplateError says what failed."""
        import jinja2

        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as err:
            where = err.filename or name
            raise MailTemplateError(f"mail template {where}:{err.lineno}: {err.message}") from err
        except jinja2.TemplateError as err:
            where = self._where(name)
            raise MailTemplateError(f"mail template {where}: {err}") from err

    def _where(self, name: str) -> str:
        if self.folder is not None and (self.folder / name).is_file():
            return str(self.folder / name)
        return f"{name} (built in)"


def plural(count: int, noun: str) -> str:
    """``1 host``, ``3 hosts``: the template filter ``plural``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
