"""The command line itself: typos get a suggestion, groups show their help, pipes close quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleetstat.cli import main

FLEETSTAT = [sys.executable, "-m", "fleetstat.cli"]


def test_an_unknown_command_gets_did_you_mean_and_exits_2(capsys):
    assert main(["hots"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'hots'" in err
    assert "Did you mean 'hosts'?" in err


def test_an_unknown_option_gets_did_you_mean_and_exits_2(capsys):
    assert main(["hosts", "--jsn"]) == 2
    assert "Did you mean '--json'?" in capsys.readouterr().err


@pytest.mark.parametrize("group", ["db", "mail", "agent"])
def test_a_group_alone_shows_its_help_and_exits_2(group, capsys):
    assert main([group]) == 2
    err = capsys.readouterr().err
    assert f"Usage: fleetstat {group} [OPTIONS] COMMAND" in err
    assert "example:" in err


def test_fleetstat_alone_shows_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "run" in err and "check-config" in err


def test_version_and_help_exit_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "fleetstat 0.1.0"
    assert main(["-h"]) == 0
    assert "Commands:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--help"], ["hosts"]], ids=" ".join)
def test_output_into_a_closed_pipe_ends_quietly(argv, tmp_path: Path):
    db = f"sqlite:///{tmp_path}/fleetstat.db"
    assert main(["db", "upgrade", "--db", db]) == 0
    reader = subprocess.Popen(
        [*FLEETSTAT, *argv, "--db", db] if argv == ["hosts"] else [*FLEETSTAT, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # like `| head` that has read enough before fleetstat writes
    err = reader.stderr.read().decode()
    status = reader.wait(timeout=30)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert err == ""
    assert status == 1
