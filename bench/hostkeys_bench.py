"""How long host-key checks take against a large hashed known_hosts file.

Writes N hashed entries (as ``ssh-keygen -H`` makes them: a random salt per line),
then times reading the file and matching M hosts against it, each host looked up as
one connection does (asyncssh's lookup, the policy check, the before/after record check).
A hashed entry is found only by hashing the name with every entry's salt, so the first
look-up of a host scans the file; later ones are remembered until the file changes.

    .venv/bin/python bench/hostkeys_bench.py [--entries 10000] [--hosts 200]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path

import asyncssh

from fleetstat.ssh import hostkeys

LOOKUPS_PER_HOST = 4


def hashed_line(name: str, key: str) -> str:
    """One ``|1|salt|hash key`` line for ``name``."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()} {key}"


def main() -> None:
    """Print the load time and the time per host, first look-up and repeated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    public = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    key = " ".join(public.split()[:2])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "known_hosts"
        names = [f"[10.{n // 65536}.{n // 256 % 256}.{n % 256}]:2222" for n in range(args.entries)]
        path.write_text("".join(hashed_line(name, key) + "\n" for name in names))
        started = time.perf_counter()
        store = hostkeys.open_files([path])
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        for n in range(args.hosts):
            for _ in range(LOOKUPS_PER_HOST):
                store.match(f"10.200.{n // 256}.{n % 256}", "", 2222)
        per_host = (time.perf_counter() - started) / args.hosts
    print(f"{args.entries} hashed entries: read in {loaded:.2f} s")
    each = f"{LOOKUPS_PER_HOST} look-ups each"
    print(f"{args.hosts} hosts, {each}: {per_host * 1000:.1f} ms per host")


if __name__ == "__main__":
    main()
