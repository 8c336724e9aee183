"""Guess the web page's password from one address, 200 guesses in flight, for a minute.

    .venv/bin/python bench/login_bench.py [--seconds 60] [--parallel 200] [--via basic|form]
        [--versus SRC]

Starts a real ``fleetstat serve`` (its own process, on a fresh SQLite database made by
the same code) and sends it wrong passwords as fast as ``--parallel`` connections allow,
through HTTP basic auth on ``/api/hosts`` or through the login form. A guess is
*evaluated* when its answer tells right from wrong (401); one answered 429 was not
looked at. ``--versus SRC`` runs the same against another fleetstat's ``src`` folder
first, side by side.

Target: at most 20 passwords evaluated in the first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "the right one, never guessed"


def fleetstat(src: Path, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(src), "FLEETSTAT_WEB_PASSWORD": PASSWORD}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "fleetstat.cli", *args], env=env, **popen
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def guess(url: str, via: str, parallel: int, seconds: float) -> collections.Counter[str]:
    """Guess for ``seconds``; the answers by kind."""
    answers: collections.Counter[str] = collections.Counter()
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        csrf = ""
        if via == "form":
            page = await client.get("/login")
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        end = time.monotonic() + seconds
        tried = iter(range(10**9))

        async def one_connection() -> None:
            while time.monotonic() < end:
                password = f"guess {next(tried)}"
                try:
                    if via == "form":
                        data = {"password": password, "csrf": csrf}
                        answer = await client.post("/login", data=data)
                    else:
                        answer = await client.get("/api/hosts", auth=("admin", password))
                except httpx.HTTPError as err:
                    answers[type(err).__name__] += 1
                    continue
                answers[{401: "evaluated", 429: "refused"}.get(answer.status_code, "other")] += 1

        await asyncio.gather(*(one_connection() for _ in range(parallel)))
    return answers


def run(src: Path, via: str, parallel: int, seconds: float) -> collections.Counter[str]:
    with tempfile.TemporaryDirectory(prefix="fleetstat-login-bench.") as folder:
        db = f"sqlite:///{folder}/fleet.db"
        fleetstat(src, "db", "upgrade", "--db", db, stdout=subprocess.DEVNULL).wait()
        port = free_port()
        server = fleetstat(
            src, "serve", "--db", db, "--listen", f"127.0.0.1:{port}",
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"{url}/login", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            return asyncio.run(guess(url, via, parallel, seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)


def show(name: str, answers: collections.Counter[str], seconds: float) -> None:
    total = sum(answers.values())
    other = ", ".join(f"{count} {kind}" for kind, count in answers.items()
                      if kind not in ("evaluated", "refused")) or "nothing else"  # fmt: skip
    print(
        f"{name:>8}: {answers['evaluated']:>6} passwords evaluated in {seconds:g} s "
        f"({answers['evaluated'] / seconds:.1f}/s), {answers['refused']} refused (429), "
        f"{other}; {total / seconds:.0f} requests/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--via", choices=("basic", "form"), default="basic")
    parser.add_argument("--versus", type=Path, help="another fleetstat's src folder")
    args = parser.parse_args()
    print(f"{args.parallel} guesses in flight from 127.0.0.1 through {args.via} auth")
    if args.versus:
        show("versus", run(args.versus, args.via, args.parallel, args.seconds), args.seconds)
    show("this", run(ROOT / "src", args.via, args.parallel, args.seconds), args.seconds)
    print("target: at most 20 passwords evaluated in the first minute")


if __name__ == "__main__":
    main()
