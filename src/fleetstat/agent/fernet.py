"""Fernet tokens (the published Fernet spec, version 0x80) from the standard library.

AES-128 comes from the pure-Python ``pyaes`` that travels inside ``agent.pyz``; the
CBC chaining, the PKCS7 padding and the HMAC-SHA256 are done here. Only encryption:
the agent never needs to read a token.
"""

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time

import pyaes

VERSION = b"\x80"
BLOCK = 16


class BadKey(ValueError):
    """The key is not 32 bytes of url-safe base64."""


def decode_key(key):
    """Split a Fernet key (url-safe base64 text or bytes) into (signing, encryption) keys."""
    if isinstance(key, str):
        key = key.encode("ascii")
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError) as err:
        raise BadKey("key is not url-safe base64: {}".format(err)) from err
    if len(raw) != 32:
        raise BadKey("key must decode to 32 bytes, not {}".format(len(raw)))
    return raw[:16], raw[16:]


def pad(data):
    """PKCS7-pad ``data`` (bytes) to a whole number of 16-byte blocks."""
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def cbc_encrypt(key, iv, data):
    """AES-128-CBC of ``data`` (already padded) under ``key`` with ``iv``; returns bytes.

    The chaining XOR is done on 128-bit integers, and the block cipher is
    ``pyaes.AES.encrypt``; measured faster than ``pyaes.AESModeOfOperationCBC``,
    which XORs byte by byte in lists.
    """
    encrypt = pyaes.AES(key).encrypt
    from_bytes = int.from_bytes
    prev = from_bytes(iv, "big")
    out = []
    for i in range(0, len(data), BLOCK):
        block = (from_bytes(data[i : i + BLOCK], "big") ^ prev).to_bytes(BLOCK, "big")
        cipher = bytes(encrypt(block))
        out.append(cipher)
        prev = from_bytes(cipher, "big")
    return b"".join(out)


def encrypt(key, data, now=None, iv=None):
    """The Fernet token (url-safe base64 bytes) of ``data`` (bytes) under ``key``.

    ``now`` is the token's timestamp in Unix seconds (default: the clock); ``iv`` the
    16-byte IV (default: ``os.urandom``). Both are parameters so that a token can be
    reproduced from known inputs.
    """
    signing, encryption = decode_key(key)
    if now is None:
        now = time.time()
    if iv is None:
        iv = os.urandom(BLOCK)
    body = VERSION + struct.pack(">Q", int(now)) + iv + cbc_encrypt(encryption, iv, pad(data))
    mac = hmac.new(signing, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac)
