"""Bring the chart library of the web page into the package, from the npm registry.

    python3 tools/vendor_uplot.py        # run by `make` before fleetstat is installed

Fetches uPlot (MIT licence, by Leon Sorokin) with ``npm pack`` at the pinned version,
refuses the tarball unless its SHA-512 is the pinned integrity, and copies the minified
script, its stylesheet and its licence into ``src/fleetstat/web/static/vendor/``, which
is package data (and not in git). The page then never loads anything from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.6.32"
INTEGRITY = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="  # noqa: E501
FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE",
}
TARGET = Path(__file__).resolve().parent.parent / "src" / "fleetstat" / "web" / "static" / "vendor"


def integrity(data: bytes) -> str:
    """The npm ``integrity`` string (SHA-512, base64) of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def main() -> int:
    """Fetch, check and copy; 0 when the files are in place."""
    if all((TARGET / name).is_file() for name in FILES.values()):
        return 0
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["npm", "pack", f"uplot@{VERSION}", "--silent"], cwd=folder, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        tarball = Path(folder) / f"uplot-{VERSION}.tgz"
        data = tarball.read_bytes()
        if integrity(data) != INTEGRITY:
            print(f"uplot-{VERSION}.tgz does not match the pinned integrity", file=sys.stderr)
            return 1
        TARGET.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            for member, name in FILES.items():
                source = archive.extractfile(member)
                if source is None:
                    print(f"{member} is missing from the tarball", file=sys.stderr)
                    return 1
                (TARGET / name).write_bytes(source.read())
    print(f"uPlot {VERSION} copied into {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
