"""Keys, the request the agent reads, and opening the answer it sends back.

A fresh Fernet key is made for every host and every run (``new_key``) and reaches
the agent only inside the request on the SSH channel's stdin (``request_bytes``).
The answer is a Fernet token of the zlib-compressed JSON answer; ``open_answer``
turns it into a ``model.Answer`` or raises ``EnvelopeError``.

The token's timestamp is not checked against a time-to-live: agents' clocks drift,
and a replay is already ruled out because each run's key is new and never stored.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from fleetstat.collect.answer import parse_answer
from fleetstat.core.bounds import INT64_MAX
from fleetstat.core.errors import EnvelopeError
from fleetstat.core.model import Answer

PROTOCOL_VERSION = 1
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # decompressed; a larger answer is refused


def new_key() -> bytes:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    return Fernet.generate_key()


def request_bytes(
    key: bytes,
    *,
    cpu_interval: float,
    since: dict[str, Any],
    max_events: int,
    cpu_since: dict[str, Any] | None = None,
    events_window: float | None = None,
    events_budget: float | None = None,
    events_become: str | None = None,
) -> bytes:
    """The agent's request: one JSON line (ending in a newline) for its stdin.

    ``cpu_interval`` is in seconds; ``cpu_since`` the previous sample's CPU counters
    (``{"busy", "total"}``): given, the agent does not sleep (``cpu_sleep`` false)
    unless its counters went back. ``since`` is the previous answer's cursor (``{}``
    on a first run); ``max_events`` caps the event records returned, a first run reads
    the last ``events_window`` seconds (None: no bound) and reading logs takes at most
    ``events_budget`` seconds (None: the agent's default); ``events_become`` (``sudo``,
    ``doas``) reads the journal through that tool when the account may not.
    """
    events: dict[str, Any] = {"since": since, "max": max_events, "window": events_window}
    if events_budget is not None:
        events["budget"] = events_budget
    if events_become is not None:
        events["become"] = events_become
    request = {
        "v": PROTOCOL_VERSION,
        "key": key.decode("ascii"),
        "cpu_interval": cpu_interval,
        "cpu_sleep": cpu_since is None,
        "events": events,
    }
    if cpu_since is not None:
        request["cpu_since"] = cpu_since
    return json.dumps(request, separators=(",", ":")).encode("utf-8") + b"\n"


def decrypt(token: bytes, key: bytes) -> bytes:
    """The plaintext of a Fernet ``token`` under ``key`` (no time-to-live)."""
    try:
        return Fernet(key).decrypt(token.strip())
    except InvalidToken as err:
        raise EnvelopeError(
            "agent answer does not decrypt (tampered, cut short or made with another key)"
        ) from err
    except (ValueError, TypeError) as err:
        raise EnvelopeError(f"agent answer cannot be decrypted: {err}") from err


def decompress(data: bytes, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """``zlib``-decompressed ``data``, refusing more than ``limit`` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as err:
        raise EnvelopeError(f"agent answer is not zlib data: {err}") from err
    if inflater.unconsumed_tail:
        raise EnvelopeError(f"agent answer is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise EnvelopeError("agent answer's compressed data is cut short")
    return out


def decode_json(data: bytes) -> Any:
    """The JSON value in ``data`` (UTF-8)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise EnvelopeError(f"agent answer is not JSON: {err}") from err
    except RecursionError as err:
        raise EnvelopeError("agent answer nests too deeply to be read") from err


def open_answer(token: bytes, key: bytes, *, max_events: int = INT64_MAX) -> Answer:
    """Decrypt, decompress, decode and validate an agent's answer.

    Any failure (bad token, wrong key, bad zlib, bad JSON, a field missing, of the
    wrong type or out of its range, more than ``max_events`` event records) raises
    ``EnvelopeError``, chained from the original error.
    """
    return parse_answer(decode_json(decompress(decrypt(token, key))), max_events=max_events)
