"""One command on a connection, its output read with caps.

``Capture`` keeps at most ``max_out`` bytes of stdout and ``max_err`` of stderr. When
stdout passes its cap the channel is closed at once (the remote side sees its stdin
end and its output pipe break) and ``too_large`` is set; stderr past its cap is read
and dropped, so a chatty agent is never blocked by it.
"""

from __future__ import annotations

import asyncio

import asyncssh

#: Bytes of a command's stderr kept (the rest is read and dropped).
MAX_STDERR = 64 * 1024


class Capture(asyncssh.SSHClientSession[bytes]):
    """Collects one command's stdout and stderr within caps, and how it ended."""

    def __init__(self, max_out: int, max_err: int = MAX_STDERR) -> None:
        self.max_out = max_out
        self.max_err = max_err
        self.out = bytearray()
        self.err = bytearray()
        self.exit_status: int | None = None
        self.too_large = False
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            room = self.max_err - len(self.err)
            if room > 0:
                self.err += data[:room]
            return
        if self.too_large:
            return
        self.out += data
        if len(self.out) > self.max_out:
            self.too_large = True
            self.out = bytearray()
            self.close()

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_status = 255

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def send(self, data: bytes) -> None:
        """Write ``data`` to the command's stdin (buffered by asyncssh; no waiting)."""
        if self._chan is not None and not self.ended.done():
            self._chan.write(data)

    def end_input(self) -> None:
        """Send EOF on stdin: the remote job's sign that nobody waits for it any more."""
        if self._chan is not None and not self.ended.done():
            try:
                self._chan.write_eof()
            except (OSError, asyncssh.Error):
                self.close()

    def close(self) -> None:
        """Close the channel."""
        if self._chan is not None:
            self._chan.close()

    @property
    def stderr_text(self) -> str:
        """The kept stderr as text (UTF-8, errors replaced)."""
        return self.err.decode("utf-8", "replace")


async def start(conn: asyncssh.SSHClientConnection, command: str, max_out: int) -> Capture:
    """Open a channel running ``command``; its ``Capture``."""
    capture = Capture(max_out)
    await conn.create_session(lambda: capture, command, encoding=None)
    return capture


async def run(
    conn: asyncssh.SSHClientConnection, command: str, max_out: int, stdin: bytes = b""
) -> Capture:
    """Run ``command`` with ``stdin`` (then EOF) to its end; its ``Capture``."""
    capture = await start(conn, command, max_out)
    if stdin:
        capture.send(stdin)
    capture.end_input()
    await capture.ended
    return capture
