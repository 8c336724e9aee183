"""One command on a connection, its output read with caps.

``Capture`` keeps at most ``max_out`` bytes of stdout and ``max_err`` of stderr. When
stdout passes its cap the channel is closed at once (the remote side sees its stdin
end and its output pipe break) and ``too_large`` is set; stderr past its cap is read
and dropped, so a chatty agent is never blocked by it.

Many answers in flight share one ``Budget``: each may hold ``SHARE`` bytes of its own
(far more than a real answer), and past that draws on the budget, which all of one
collector's answers share. An answer that finds it spent is cut like one past its cap
(``too_large``, with ``over_budget`` set), so fifty hostile clients sending junk at once
cost the collector at most the budget and fifty shares, not fifty caps.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncssh

#: Bytes of a command's stderr kept (the rest is read and dropped).
MAX_STDERR = 64 * 1024
#: Bytes of stdout every answer may hold without drawing on the shared budget.
SHARE = 128 * 1024


class Budget:
    """Bytes of answers in flight beyond their own shares, shared by one collector."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total

    def draw(self, size: int) -> bool:
        """Take ``size`` bytes; False (nothing taken) when fewer are left."""
        if size > self.left:
            return False
        self.left -= size
        return True

    def give_back(self, size: int) -> None:
        """Return ``size`` bytes drawn earlier."""
        self.left = min(self.total, self.left + size)


class Capture(asyncssh.SSHClientSession[bytes]):
    """Collects one command's stdout and stderr within caps, and how it ended."""

    def __init__(
        self, max_out: int, max_err: int = MAX_STDERR, budget: Budget | None = None
    ) -> None:
        self.max_out = max_out
        self.max_err = max_err
        self.out = bytearray()
        self.err = bytearray()
        self.exit_status: int | None = None
        self.too_large = False
        self.over_budget = False
        self._budget = budget
        self._drawn = 0
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
        size = len(self.out) + len(data)
        if size > self.max_out or not self._room_for(size):
            self.too_large = True
            self.out = bytearray()
            self._give_back()
            self.close()
            return
        self.out += data

    def _room_for(self, size: int) -> bool:
        """True when ``size`` bytes of stdout fit the share and what was drawn, or the
        budget gives the rest; else ``over_budget`` is set."""
        need = size - SHARE - self._drawn
        if self._budget is None or need <= 0:
            return True
        if self._budget.draw(need):
            self._drawn += need
            return True
        self.over_budget = True
        return False

    def _give_back(self) -> None:
        if self._budget is not None and self._drawn:
            self._budget.give_back(self._drawn)
            self._drawn = 0

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_status = 255

    def connection_lost(self, exc: Exception | None) -> None:
        self._give_back()  # the answer is read at once from here on
        if not self.ended.done():
            self.ended.set_result(None)

    def send(self, data: bytes) -> None:
        """Write ``data`` to the command's stdin (buffered by asyncssh; no waiting). A
        command that already ended (a login that runs nothing) takes nothing: how it
        ended says what happened."""
        if self._chan is not None and not self.ended.done():
            with contextlib.suppress(OSError, asyncssh.Error):
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


async def start(
    conn: asyncssh.SSHClientConnection, command: str, max_out: int, budget: Budget | None = None
) -> Capture:
    """Open a channel running ``command``; its ``Capture`` (drawing on ``budget``)."""
    capture = Capture(max_out, budget=budget)
    await conn.create_session(lambda: capture, command, encoding=None)
    return capture


async def run(
    conn: asyncssh.SSHClientConnection,
    command: str,
    max_out: int,
    stdin: bytes = b"",
    budget: Budget | None = None,
) -> Capture:
    """Run ``command`` with ``stdin`` (then EOF) to its end; its ``Capture``."""
    capture = await start(conn, command, max_out, budget)
    if stdin:
        capture.send(stdin)
    capture.end_input()
    await capture.ended
    return capture
