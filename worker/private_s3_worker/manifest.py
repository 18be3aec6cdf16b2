"""The built-in processor: facts about the object, computed in one streaming pass.

Size, SHA-256 (the worker's, ``INTEGRITY=sha256``), content type and line count for
every object; for CSV (a ``.csv`` key or a ``text/csv`` content type) also the header
and the number of data rows. Rows are counted as CSV records, so a quoted field
holding newlines counts once, without parsing every field: outside quotes a newline
ends a record, and quotes (``""`` included) toggle in pairs. Memory stays at one chunk
whatever the size.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from typing import Any

from .api import Outputs, SourceObject
from .integrity import Integrity
from .source import Prefetch

CHUNK = 1024 * 1024
HEADER_LIMIT = 1024 * 1024


class CsvCounter:
    """Counts CSV records across chunks and keeps the first record (the header)."""

    def __init__(self) -> None:
        self.in_quotes = False
        self.newlines = 0
        self.head = bytearray()
        self.head_done = False

    def feed(self, chunk: bytes, newlines: int | None = None) -> None:
        """Account for the next chunk; ``newlines`` is ``chunk.count(b"\\n")`` when the
        caller already has it (a chunk without quotes then costs one quick scan)."""
        if not self.in_quotes and b'"' not in chunk:
            found = chunk.count(b"\n") if newlines is None else newlines
            if found and not self.head_done:
                self._take_head([chunk], 0, chunk)
            elif not self.head_done:
                self._grow_head(chunk)
            self.newlines += found
            return
        parts = chunk.split(b'"')
        last = len(parts) - 1
        for index, part in enumerate(parts):
            if not self.in_quotes:
                found = part.count(b"\n")
                if found and not self.head_done:
                    self._take_head(parts, index, part)
                self.newlines += found
            if index < last:
                self.in_quotes = not self.in_quotes
        if not self.head_done:
            self._grow_head(chunk)

    def _grow_head(self, chunk: bytes) -> None:
        self.head += chunk[: HEADER_LIMIT - len(self.head)]
        self.head_done = len(self.head) >= HEADER_LIMIT

    def _take_head(self, parts: list[bytes], index: int, part: bytes) -> None:
        # The header ends at the first newline outside quotes: everything before it.
        before = b'"'.join(parts[:index]) + (b'"' if index else b"")
        self.head += before + part[: part.index(b"\n") + 1]
        self.head = self.head[:HEADER_LIMIT]
        self.head_done = True

    def result(self, ends_with_newline: bool, size: int) -> dict[str, Any]:
        records = self.newlines + (1 if size and not ends_with_newline else 0)
        text = self.head.decode("utf-8", errors="replace")
        header = next(csv.reader(io.StringIO(text, newline="")), []) if text else []
        return {"header": header, "rows": max(records - 1, 0)}


def is_csv(source: SourceObject) -> bool:
    return source.key.lower().endswith(".csv") or source.content_type.split(";")[0] == "text/csv"


def describe(source: SourceObject, outputs: Outputs) -> Mapping[str, Any]:
    """The default ``PROCESSOR``: returns the facts; the worker writes them to the manifest.

    With ``INTEGRITY=sha256`` the SHA-256 is the worker's own (it hashes the stream as it
    arrives, on the read-ahead thread), so it is not computed twice, but only when it is
    the digest of exactly the bytes read here: the worker's own stream, untouched before
    this call, read to its end. A body another processor wrapped or replaced (a gunzip),
    or began reading, is hashed here, as outside the worker. With ``s3`` or ``none``
    there is no SHA-256, which is their point."""
    del outputs
    integrity = source.integrity
    body = source.body
    own = body if isinstance(body, Prefetch) and _untouched(body, integrity) else None
    hashing = integrity is None or (integrity.method == "sha256" and own is None)
    digest = hashlib.sha256() if hashing else None
    size = newlines = 0
    last = b""
    counter = CsvCounter() if is_csv(source) else None
    while chunk := body.read(CHUNK):
        if digest is not None:
            digest.update(chunk)
        size += len(chunk)
        found = chunk.count(b"\n")
        newlines += found
        last = chunk[-1:]
        if counter is not None:
            counter.feed(chunk, found)
    facts: dict[str, Any] = {"content_type": source.content_type, "size": size}
    if digest is not None:
        facts["sha256"] = digest.hexdigest()
    elif own is not None:
        facts["sha256"] = _own_sha256(own, size)
    # Lines as an editor counts them: a last line without a newline counts too.
    facts["lines"] = newlines + (1 if size and last != b"\n" else 0)
    if counter is not None:
        facts["csv"] = counter.result(last == b"\n", size)
    return facts


def _untouched(body: Prefetch, integrity: Integrity | None) -> bool:
    """Whether ``body`` is the stream ``integrity`` hashes with SHA-256, before any read."""
    return (
        integrity is not None
        and body.integrity is integrity
        and integrity.method == "sha256"
        and body.delivered == 0
    )


def _own_sha256(body: Prefetch, size: int) -> str:
    """The worker's SHA-256, once this reader has taken every byte of its stream."""
    checksum = body.integrity.checksum
    if not (size == body.delivered == body.length and checksum):
        # Another reader took bytes of the stream while describe read it: the worker's
        # digest covers bytes these facts do not describe.
        raise RuntimeError(
            f"describe read {size} of the object's {body.length} bytes: the body was read "
            "by another reader at the same time"
        )
    return str(checksum)
