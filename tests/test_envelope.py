"""The agent's pure-Python Fernet against ``cryptography``, and refusing bad answers."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest
from cryptography.fernet import Fernet

from fleetstat.agent import __main__ as agent_main
from fleetstat.agent import fernet
from fleetstat.collect import envelope
from fleetstat.core.errors import EnvelopeError


def sample_answer() -> dict[str, Any]:
    """A complete version-1 answer as the agent would send it."""
    return {
        "v": 1,
        "host": {
            "hostname": "web01",
            "os": "linux",
            "os_name": "Debian GNU/Linux",
            "os_version": "12",
            "kernel": "6.1.0-18-amd64",
            "arch": "x86_64",
            "python": "3.11.2",
        },
        "clock": 1764246000.123,
        "cpu": {"percent": 12.5, "count": 2, "interval": 1.0, "busy": 1234.5, "total": 9876.5},
        "memory": {"total": 1000, "available": 800, "used": 200, "percent": 20.0},
        "swap": {"total": 0, "used": 0, "free": 0, "percent": 0.0},
        "uptime": {"seconds": 86400.5, "boot_time": 1764159600.0},
        "load": [0.1, 0.2, 0.3],
        "disks": [],
        "events": {"records": [], "cursor": {}, "resets": [], "truncated": False},
        "errors": [],
    }


def agent_token(key: bytes, plaintext: bytes) -> bytes:
    """A token made the agent's way."""
    return fernet.encrypt(key, plaintext)


def sealed(key: bytes, answer: Any) -> bytes:
    """An answer sealed as the agent seals it."""
    return agent_main.seal(answer, key.decode("ascii"))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 31, 32, 1000, 65536])
def test_agent_token_decrypts_with_cryptography(size: int) -> None:
    key = Fernet.generate_key()
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    token = agent_token(key, plaintext)
    assert Fernet(key).decrypt(token) == plaintext


def test_agent_token_carries_its_timestamp() -> None:
    key = Fernet.generate_key()
    token = fernet.encrypt(key, b"x", now=1764246000.9)
    assert Fernet(key).extract_timestamp(token) == 1764246000


def test_agent_tokens_use_a_fresh_iv_each_time() -> None:
    key = Fernet.generate_key()
    first, second = (fernet.encrypt(key, b"same", now=0) for _ in range(2))
    assert first != second


def test_open_answer_reads_what_the_agent_sealed() -> None:
    key = envelope.new_key()
    answer = envelope.open_answer(sealed(key, sample_answer()), key)
    assert answer.host.hostname == "web01"
    assert answer.memory is not None
    assert answer.memory.used == 200


def flip_byte(token: bytes, index: int) -> bytes:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw))


@pytest.mark.parametrize("index", [0, 5, 12, 30, 60, -1])
def test_a_flipped_byte_is_an_envelope_error(index: int) -> None:
    key = envelope.new_key()
    token = flip_byte(sealed(key, sample_answer()), index)
    with pytest.raises(EnvelopeError, match="does not decrypt") as caught:
        envelope.open_answer(token, key)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("keep", [0, 10, 57, -1, -4])
def test_a_cut_token_is_an_envelope_error(keep: int) -> None:
    """Cut in its bytes, not in its base64 text: a cut ``=`` of padding loses nothing."""
    key = envelope.new_key()
    raw = base64.urlsafe_b64decode(sealed(key, sample_answer()))
    with pytest.raises(EnvelopeError):
        envelope.open_answer(base64.urlsafe_b64encode(raw[:keep]), key)


def test_a_wrong_key_is_an_envelope_error() -> None:
    token = sealed(envelope.new_key(), sample_answer())
    with pytest.raises(EnvelopeError, match="another key"):
        envelope.open_answer(token, envelope.new_key())


def test_a_malformed_key_is_an_envelope_error() -> None:
    token = sealed(envelope.new_key(), sample_answer())
    with pytest.raises(EnvelopeError):
        envelope.open_answer(token, b"not a key")


def test_plaintext_that_is_not_zlib_is_an_envelope_error() -> None:
    key = envelope.new_key()
    with pytest.raises(EnvelopeError, match="zlib") as caught:
        envelope.open_answer(agent_token(key, b'{"v": 1}'), key)
    assert isinstance(caught.value.__cause__, zlib.error)


def test_cut_compressed_data_is_an_envelope_error() -> None:
    key = envelope.new_key()
    data = zlib.compress(json.dumps(sample_answer()).encode())
    with pytest.raises(EnvelopeError, match="cut short"):
        envelope.open_answer(agent_token(key, data[:-8]), key)


def test_an_answer_too_large_once_decompressed_is_refused() -> None:
    key = envelope.new_key()
    bomb = zlib.compress(b" " * (envelope.MAX_ANSWER_BYTES + 1), 9)
    with pytest.raises(EnvelopeError, match="larger than"):
        envelope.open_answer(agent_token(key, bomb), key)


def test_plaintext_that_is_not_json_is_an_envelope_error() -> None:
    key = envelope.new_key()
    with pytest.raises(EnvelopeError, match="not JSON"):
        envelope.open_answer(agent_token(key, zlib.compress(b"{nope")), key)


def test_an_answer_missing_a_field_is_an_envelope_error() -> None:
    key = envelope.new_key()
    answer = sample_answer()
    del answer["memory"]["total"]
    with pytest.raises(EnvelopeError, match=r"memory\.total is missing"):
        envelope.open_answer(sealed(key, answer), key)


def test_request_is_one_json_line_the_agent_accepts() -> None:
    key = envelope.new_key()
    since = {"linux-auth": {"cursor": "s=abc"}}
    line = envelope.request_bytes(key, cpu_interval=0.5, since=since, max_events=7)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    request = agent_main.parse_request(line.decode())
    options = request.pop("events")
    assert request == {
        "key": key.decode(),
        "cpu_interval": 0.5,
        "cpu_sleep": True,
        "cpu_since": None,
        "since": since,
    }
    assert (options.max_events, options.window) == (7, None)


def test_a_request_with_the_last_counters_tells_the_agent_not_to_sleep() -> None:
    key = envelope.new_key()
    line = envelope.request_bytes(
        key,
        cpu_interval=0.5,
        since={},
        max_events=7,
        cpu_since={"busy": 10.0, "total": 40.0},
        events_window=3600.0,
        events_budget=5.0,
    )
    request = agent_main.parse_request(line.decode())
    assert (request["cpu_sleep"], request["cpu_since"]) == (False, (10.0, 40.0))
    assert (request["events"].window, request["events"].budget) == (3600.0, 5.0)
