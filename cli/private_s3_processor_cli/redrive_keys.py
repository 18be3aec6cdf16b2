"""Finding the real key of an upload whose key EventBridge changed (Direct delivery).

The rule's InputTransformer puts the key into a JSON template without escaping it
(README, "Keys"), so a key whose ``\\`` forms a valid JSON escape reaches the task
decoded: ``a\\tb.csv`` arrives as ``a<TAB>b.csv``, a key that does not exist. The
failure rule's record keeps that delivered key M, and the upload's version ID, ETag
and size, which identify the object. Here: one ``ListObjectVersions`` call says
whether M exists; if not, a bounded scan of the bucket's versions finds the one
the record names, and its key K is the upload's.

Where to look: K and M agree up to K's first backslash, and for every escape but
``\\uXXXX`` the character of M there is one of TAB LF CR BS FF ``\\`` ``"`` ``/``.
The part of K before its first backslash cannot hold TAB LF CR BS FF or ``"``
(raw, they make the template invalid JSON: EventBridge dead-letters such an event
itself), but it can hold ``/``, and usually does (folders). So the first scan
lists the versions under M up to its first TAB LF CR BS FF ``\\`` or ``"``; a
``\\/`` or ``\\uXXXX`` escape, or anything that first scan misses, is found by the
second, under the processor's own prefix (every key its rule matched starts with
it). The scans share one index (version ID -> key, ETag, size) and one budget of
versions examined per run (``--search-limit``; DESIGN.md, "Recovering changed
keys").
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .redrive_records import Record

DEFAULT_SEARCH_LIMIT = 100_000
# ListObjectVersions returns at most 1,000 versions and delete markers per request
# (Amazon S3 API reference, ListObjectVersions, max-keys).
PAGE = 1000
# What the escapes \t \n \r \b \f \\ \" decode to: where M leaves K's spelling. (\/
# decodes to "/", which the part before the escape may hold as well; see above.)
DECODED = '\t\n\r\b\f\\"'


def search_limit(text: str) -> int:
    """``--search-limit``: a whole number of versions, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {text})")
    return value


def delivered_form(key: str) -> str | None:
    """The key as the task receives it once EventBridge has put it, unescaped, into the
    rule's JSON input template; None when that template would not be JSON (EventBridge
    then dead-letters the event itself, with the key intact)."""
    try:
        value = json.loads(f'"{key}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def prefix_of_pattern(pattern: object) -> str:
    """The key prefix every key an EventBridge pattern matches starts with: what the
    processor's rule says of ``detail.object.key`` (``prefix``; ``wildcard`` up to its
    first unescaped ``*``; exact keys), or "" when the pattern says nothing simpler."""
    detail = pattern.get("detail") if isinstance(pattern, dict) else None
    obj = detail.get("object") if isinstance(detail, dict) else None
    values = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(values, list) or not values:
        return ""
    starts: list[str] = []
    for value in values:
        if isinstance(value, str):
            starts.append(value)
        elif isinstance(value, dict) and isinstance(value.get("prefix"), str) and len(value) == 1:
            starts.append(value["prefix"])
        elif isinstance(value, dict) and isinstance(value.get("wildcard"), str) and len(value) == 1:
            starts.append(_literal_start(value["wildcard"]))
        else:
            return ""
    common = starts[0]
    for start in starts[1:]:
        while not start.startswith(common):
            common = common[:-1]
    return common


def _literal_start(wildcard: str) -> str:
    """The text a ``wildcard`` value matches literally before its first ``*`` (``\\*``
    and ``\\\\`` are a literal star and backslash: EventBridge's escaping)."""
    out: list[str] = []
    chars = iter(wildcard)
    for char in chars:
        if char == "*":
            break
        if char == "\\":
            char = next(chars, "")
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Stored:
    """One object version, as ListObjectVersions lists it."""

    key: str
    etag: str
    size: int | None


@dataclass
class _Cursor:
    """How far the versions under one prefix have been listed."""

    key_marker: str | None = None
    version_marker: str | None = None
    done: bool = False  # no more to list
    stuck: bool = False  # truncated, but S3 gave no marker to go on from
    pages: int = 0


class NotRecovered(Exception):
    """The record's key could not be recovered; the message says what was searched."""


@dataclass
class KeyFinder:
    """Key checks and the bounded version search of one redrive run, for one bucket."""

    s3: Any
    bucket: str
    processor_prefix: Callable[[], str]  # read when first needed, then kept
    limit: int = DEFAULT_SEARCH_LIMIT
    examined: int = 0
    index: dict[str, dict[str, Stored]] = field(default_factory=dict)  # version -> key -> it
    cursors: dict[str, _Cursor] = field(default_factory=dict)  # prefix -> progress
    _prefix: str | None = None

    def exists(self, key: str) -> bool:
        """Whether ``key`` has any version or delete marker: one request, as the worker
        decides it. S3 lists versions and delete markers together, ordered first by key
        (lexicographically, UTF-8 binary order) and then by version (S3 API reference,
        ListObjectVersions), and ``key`` sorts before every longer key Prefix also
        matches: if ``key`` has any entry, the first entry listed is one of them."""
        answer = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        entries = [*answer.get("Versions", []), *answer.get("DeleteMarkers", [])]
        return any(entry.get("Key") == key for entry in entries)

    def find(self, delivered: str, version_id: str, etag: str, size: int) -> str:
        """The key of the version the record names; NotRecovered saying what was searched
        when it is not found within the limit."""
        prefixes = self._prefixes(delivered)
        for prefix in prefixes:
            if self._candidates(version_id, etag, size):
                break
            self._scan(prefix, lambda: bool(self._candidates(version_id, etag, size)))
        keys = self._candidates(version_id, etag, size)
        if not keys:
            raise NotRecovered(
                f"no version {version_id} (ETag {etag}, {size} bytes) in bucket "
                f"{self.bucket}: "
                + "; ".join(self._searched(p) for p in prefixes)
                + f"; {self.examined:,} of --search-limit {self.limit:,} versions examined "
                "this run"
            )
        if len(keys) > 1:
            raise NotRecovered(
                f"version {version_id} (ETag {etag}) is under {len(keys)} keys: "
                + ", ".join(json.dumps(k) for k in keys)
            )
        (key,) = keys
        if delivered_form(key) != delivered:
            raise NotRecovered(
                f"version {version_id} (ETag {etag}) is under the key {json.dumps(key)}, "
                f"which the rule would not have delivered as {json.dumps(delivered)}"
            )
        return key

    def _prefixes(self, delivered: str) -> list[str]:
        if self._prefix is None:
            self._prefix = self.processor_prefix()
        stem = delivered
        for index, char in enumerate(delivered):
            if char in DECODED:
                stem = delivered[:index]
                break
        if stem.startswith(self._prefix) and stem != self._prefix:
            return [stem, self._prefix]
        return [self._prefix]

    def _candidates(self, version_id: str, etag: str, size: int) -> list[str]:
        """Keys holding the version the record names (same version ID, ETag and size)."""
        wanted = etag.strip('"')
        return sorted(
            key
            for key, stored in self.index.get(version_id, {}).items()
            if stored.etag == wanted and stored.size in (None, size)
        )

    def _covered(self, prefix: str) -> bool:
        return any(c.done and not c.stuck and prefix.startswith(p) for p, c in self.cursors.items())

    def _scan(self, prefix: str, found: Callable[[], bool]) -> None:
        """List the versions under ``prefix`` into the index, resuming where an earlier
        scan of it stopped, until ``found()``, the prefix is listed to the end, or the
        run's budget is spent."""
        if self._covered(prefix):
            return
        cursor = self.cursors.setdefault(prefix, _Cursor())
        while not cursor.done and self.examined < self.limit and not found():
            request: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": prefix,
                "MaxKeys": min(PAGE, self.limit - self.examined),
            }
            if cursor.key_marker is not None:
                request["KeyMarker"] = cursor.key_marker
                if cursor.version_marker is not None:
                    request["VersionIdMarker"] = cursor.version_marker
            answer = self.s3.list_object_versions(**request)
            versions = answer.get("Versions", [])
            self.examined += len(versions) + len(answer.get("DeleteMarkers", []))
            cursor.pages += 1
            for v in versions:
                self.index.setdefault(v["VersionId"], {})[v["Key"]] = Stored(
                    v["Key"], str(v.get("ETag", "")).strip('"'), v.get("Size")
                )
            markers = (answer.get("NextKeyMarker"), answer.get("NextVersionIdMarker"))
            stuck = markers[0] is None or markers == (cursor.key_marker, cursor.version_marker)
            if not answer.get("IsTruncated") or stuck:
                cursor.done = True
                cursor.stuck = bool(answer.get("IsTruncated"))
            else:
                cursor.key_marker, cursor.version_marker = markers

    def _searched(self, prefix: str) -> str:
        cursor = self.cursors.get(prefix)
        where = f"under {json.dumps(prefix)}" if prefix else "in the whole bucket"
        if cursor is None or cursor.pages == 0:
            if self._covered(prefix):
                return f"{where}: listed in full"
            return f"{where}: not listed (the search limit was reached)"
        if cursor.stuck:
            return f"{where}: listed in part (S3 gave no marker to continue from)"
        if cursor.done:
            return f"{where}: listed in full"
        return f"{where}: listed in part (the search limit was reached)"


def true_key(keys: KeyFinder, record: Record) -> str:
    """The upload's key: the recorded one when it exists in the bucket, else the key of
    the version the record names (NotRecovered when not found)."""
    if keys.exists(record.key):
        return record.key
    obj = record.event["detail"]["object"]
    version = obj.get("version-id")
    if not isinstance(version, str):
        raise NotRecovered(
            f"the key {json.dumps(record.key)} has no version in the bucket, and the record "
            "has no version ID to find the upload by"
        )
    return keys.find(record.key, version, obj["etag"], obj["size"])
