"""The spool: host results the database could not take, kept on local disk until it can.

One JSON file per result (and one per run whose end could not be recorded), in a folder
of fleetstat's state folder that belongs to one database. The folder is 0700 and each
file 0600 (a result holds security events); a file is written to a temporary name,
flushed to disk and renamed, so a crash leaves either the whole file or none. The next
pass writes every file back with ``Store.record`` (which skips a result its run already
holds, so a file written back twice is stored once) and then deletes it.

No secret is spooled: a result keeps its client's address and name only; the pass that
writes it back takes the client (mail, alert rules) from its own config.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetstat.core import model, wire
from fleetstat.core.errors import StoreError

FORMAT = 1


@dataclass(frozen=True)
class Spooled:
    """One spooled host result of run ``run_id``, and the file that holds it."""

    path: Path
    run_id: int
    result: model.HostResult


@dataclass(frozen=True)
class SpooledRun:
    """The end of run ``run_id`` that could not be recorded: when, and its host counts."""

    path: Path
    run_id: int
    finished_at: datetime
    total: int
    ok: int


class Spool:
    """The spool folder of one database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, run_id: int, result: model.HostResult) -> Path:
        """Write ``result`` of run ``run_id`` to a file of its own; the file."""
        client = result.client
        record = {
            "format": FORMAT,
            "run_id": run_id,
            "client": {"ip": client.ip, "port": client.port, "name": client.name},
            "result": wire.encode_result(result),
        }
        return self._write(f"result-{run_id}-{client.ip}-{client.port}", record)

    def keep_run_end(self, run_id: int, finished_at: datetime, total: int, ok: int) -> Path:
        """Write the end of run ``run_id`` to a file of its own; the file."""
        record = {
            "format": FORMAT,
            "run_id": run_id,
            "run_end": {"finished_at": finished_at.isoformat(), "total": total, "ok": ok},
        }
        return self._write(f"run-{run_id}", record)

    def results(self) -> Iterator[Spooled]:
        """Every spooled result, oldest run first."""
        for path in self._files("result-"):
            record = _read(path)
            result = wire.decode_result(record["result"], _bare(record["client"]))
            yield Spooled(path, int(record["run_id"]), result)

    def run_ends(self) -> Iterator[SpooledRun]:
        """Every spooled run end."""
        for path in self._files("run-"):
            record = _read(path)
            end = record["run_end"]
            finished = datetime.fromisoformat(end["finished_at"])
            yield SpooledRun(path, int(record["run_id"]), finished, end["total"], end["ok"])

    def __len__(self) -> int:
        return len(self._files("result-"))

    def _files(self, prefix: str) -> list[Path]:
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.glob(f"{prefix}*.json")]
        return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def _write(self, stem: str, record: dict[str, Any]) -> Path:
        """Write ``record`` as ``stem.json`` atomically (0600, fsynced, then renamed)."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = self.folder / f"{stem}.json"
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(record, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
            return target
        except OSError as err:
            raise StoreError(f"cannot keep a result in the spool {self.folder}: {err}") from err


def _bare(kept: dict[str, Any]) -> model.Client:
    """The client as the spool keeps it: address and name, no login, no secret."""
    return model.Client(ip=kept["ip"], username="", port=kept["port"], name=kept.get("name") or "")


def _read(path: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StoreError(f"cannot read the spooled file {path}: {err}") from err
    if record.get("format") != FORMAT:
        raise StoreError(f"{path}: spool format {record.get('format')!r}, expected {FORMAT}")
    return record
