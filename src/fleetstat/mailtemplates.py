"""The Jinja2 templates of the mails: shipped with the package, overridable file by file.

The built-in texts are ``fleetstat/templates/mail/*.txt``. The ``mail-templates``
setting names a folder; a file there with the same name replaces the built-in one, the
others stay. Templates are plain text: nothing is HTML-escaped, a missing variable is
an error (``MailTemplateError``), and a block tag's own line leaves no blank line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from fleetstat.errors import FleetstatError

#: The templates a pass renders; a ``mail-templates`` folder may hold any of them.
NAMES = ("alert.txt", "alert-subject.txt", "digest.txt", "digest-subject.txt")


class MailTemplateError(FleetstatError):
    """A mail template could not be read or rendered: names the template and the line."""


class Templates:
    """The mail templates, the ``folder`` (when given) before the built-in ones."""

    def __init__(self, folder: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("fleetstat", "templates/mail")]
        if folder is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(folder)))
        self.folder = folder
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["plural"] = plural

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Template ``name`` filled with ``context``; MailTemplateError says what failed."""
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
