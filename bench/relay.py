"""A TCP relay that delays every chunk by a fixed time in each direction (a netem stand-in).

    python bench/relay.py DELAY_MS LISTEN_IP:PORT=TARGET_IP:PORT ...

Order is kept; a new connection waits one round trip (2 x DELAY_MS) before it is
forwarded, as a TCP handshake over that link would.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds late."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(deliver())
    while True:
        try:
            data = await reader.read(65536)
        except OSError:
            data = b""
        queue.put_nowait((loop.time() + delay, data))
        if not data:
            break
    with contextlib.suppress(OSError):
        await sender


def handler(target: tuple[str, int], delay: float):
    """A connection handler forwarding to ``target``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * delay)
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(
            pump(reader, up_writer, delay), pump(up_reader, writer, delay), return_exceptions=True
        )
        writer.close()
        up_writer.close()

    return handle


async def main() -> None:
    """Listen on every route and forward until killed."""
    delay = float(sys.argv[1]) / 1000
    servers = []
    for route in sys.argv[2:]:
        listen, target = route.split("=")
        ip, port = listen.split(":")
        to_ip, to_port = target.split(":")
        servers.append(
            await asyncio.start_server(handler((to_ip, int(to_port)), delay), ip, int(port))
        )
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main())
