"""The command starts at once: ``--help`` and ``--version`` load no database or SSH library.

An import check, not a timing: ``bench/startup_bench.py`` measures the seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "asyncssh", "rich", "cryptography", "aiosmtpd")

PROBE = """
import json, sys
from fleetstat.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as done:
    status = done.code
sys.stdout.flush()
heavy = sorted({name.split('.')[0] for name in sys.modules} & set(json.loads(HEAVY_JSON)))
print('\\nLOADED ' + json.dumps(heavy), file=sys.stderr)
"""


def loaded_by(*argv: str) -> list[str]:
    """The heavy libraries that ``fleetstat ARGV`` imported, run in a fresh interpreter."""
    code = PROBE.replace("HEAVY_JSON", repr(json.dumps(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("LOADED "), done.stderr
    return list(json.loads(line.removeprefix("LOADED ")))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["run", "--help"], ["db"], ["history", "--help"]],
    ids=" ".join,
)
def test_help_and_version_load_no_database_ssh_or_table_library(argv):
    assert loaded_by(*argv) == []


def test_the_probe_sees_a_library_a_command_does_load(tmp_path):
    # Without this, a probe that never saw any module would pass the test above.
    assert "sqlalchemy" in loaded_by("db", "upgrade", "--db", f"sqlite:///{tmp_path}/x.db")


def test_loading_the_ssh_library_prints_no_warning(tmp_path):
    # cryptography 51 warns of DSA as asyncssh's type hints name it: ten lines at every start.
    done = subprocess.run(
        [sys.executable, "-c", "import fleetstat.ssh, fleetstat.ssh.hostkeys"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stderr == ""


def test_a_mail_template_library_is_loaded_only_to_render_a_mail():
    code = (
        "import sys\n"
        "from fleetstat.alerting import mailtemplates\n"
        "from fleetstat.collect import job\n"
        "templates = mailtemplates.Templates()\n"
        "print('jinja2' in sys.modules)\n"
        "templates.render('digest-subject.txt', {})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout == "False\n"
    assert "mail template digest-subject.txt (built in)" in done.stderr  # rendered, and judged
