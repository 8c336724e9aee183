"""The agent's answer in what a login printed: found by its frame, never by its place.

The agent prints its answer as ``\\nfleetstat-answer: <length>\\n<answer>\\n``. Whatever
else the login prints — rc files, ``stty`` complaints, a banner, before or after — is
*noise*: it does not change the outcome, and a few hundred characters of it are kept
so that an admin can quiet the login scripts. The probe's own lines are not noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleetstat.ssh.probe import MARKER
from fleetstat.ssh.supervisor import MARK

#: The agent's mark (``agent.__main__.ANSWER_MARK``; a test holds them equal).
ANSWER_MARK = "fleetstat-answer: "
#: Characters of noise kept.
NOISE_LEN = 300
_FRAME = re.compile(rb"(?:\A|\n)" + re.escape(ANSWER_MARK.encode()) + rb"([0-9]{1,12})\r?\n")
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Output:
    """What one job printed: the framed ``answer`` (b"" when there is none), whether
    the frame ended before its length (``short``: the bytes it had), and the ``noise``
    around it (None when the login printed nothing else)."""

    answer: bytes
    noise: str | None = None
    short: int | None = None


def unframe(stdout: bytes, stderr: str = "") -> Output:
    """The answer of ``stdout``, and the noise of both streams (``stderr`` without the
    job's own ``fleetstat-job:`` lines)."""
    frames = list(_FRAME.finditer(stdout))
    if not frames:
        return Output(b"", noise(stdout, stderr))
    # the last frame whose body is whole and ends its line: what a login printed
    # before the agent cannot stand in for the answer
    found = next((f for f in reversed(frames) if _whole(stdout, f)), frames[-1])
    length = int(found[1])
    body = stdout[found.end() : found.end() + length]
    rest = stdout[: found.start()] + stdout[found.end() + length :]
    short = len(body) if len(body) < length else None
    return Output(body, noise(rest, stderr), short)


def _whole(stdout: bytes, frame: re.Match[bytes]) -> bool:
    """Whether ``frame``'s body is all there and a line feed follows it."""
    end = frame.end() + int(frame[1])
    return len(stdout) > end and stdout[end : end + 1] in (b"\n", b"\r")


def noise(stdout: bytes, stderr: str = "") -> str | None:
    """The lines of both streams that are neither the probe's nor the job's, made
    printable and cut to ``NOISE_LEN`` characters; None when there are none."""
    lines = [
        line.strip()
        for line in [*stdout.decode("utf-8", "replace").splitlines(), *stderr.splitlines()]
        if line.strip() and not line.strip().strip('"').startswith((MARKER, MARK.strip()))
    ]
    if not lines:
        return None
    text = _ESCAPES.sub("", " | ".join(lines))
    return text if len(text) <= NOISE_LEN else text[: NOISE_LEN - 1] + "…"
