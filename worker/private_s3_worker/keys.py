"""Where a source object's outputs go: always a legal S3 key, whatever the input key."""

from __future__ import annotations

import hashlib

from .api import MAX_OUTPUT_NAME_BYTES
from .config import MAX_KEY_BYTES, ConfigError

MANIFEST = "manifest.json"
_HASH_CHARS = 16


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` that fits ``max_bytes`` without splitting a character."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def output_base(output_prefix: str, key: str, etag_hex: str) -> str:
    """``<OUTPUT_PREFIX><key>/<etag>/``: one folder per object content, so a re-run of the
    same object finds its own outputs and a new upload of the key gets a new folder.

    A key too long to fit keeps its start and ends in ``~<sha256 of the key>``, so the
    result (plus any output name) stays within S3's 1,024 bytes and stays unique.
    """
    fixed = len(output_prefix.encode()) + 1 + len(etag_hex) + 1 + MAX_OUTPUT_NAME_BYTES
    budget = MAX_KEY_BYTES - fixed
    if budget < _HASH_CHARS + 2:
        raise ConfigError(
            f"OUTPUT_PREFIX is {len(output_prefix.encode())} bytes: too long to "
            f"leave room for output keys within S3's {MAX_KEY_BYTES} bytes"
        )
    if len(key.encode()) <= budget:
        derived = key
    else:
        digest = hashlib.sha256(key.encode()).hexdigest()[:_HASH_CHARS]
        derived = truncate_utf8(key, budget - _HASH_CHARS - 1) + "~" + digest
    return f"{output_prefix}{derived}/{etag_hex}/"
