"""The worker's inputs, read and checked from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_KEY_BYTES = 1024
_ETAG = re.compile(r'^"?[0-9a-fA-F]{32}(-\d+)?"?$')
_PROCESSOR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# INTEGRITY (README, "The worker"; private_s3_worker.integrity): the first is the default.
INTEGRITY_MODES = ("sha256", "s3", "none")
_SHOWN = 40  # characters of a bad value quoted in an error: one log line, not the input


class ConfigError(Exception):
    """A missing or malformed input; the message is one line naming the variable."""


@dataclass(frozen=True)
class Config:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 compares it
    version_id: str | None
    output_prefix: str | None
    processor: str | None
    integrity: str = INTEGRITY_MODES[0]

    @property
    def etag_hex(self) -> str:
        return self.etag.strip('"')


def from_environment(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env

    def required(name: str) -> str:
        value = env.get(name, "")
        if not value:
            raise ConfigError(f"{name} is not set (the rule's input transformer passes it)")
        return value

    bucket = required("S3_BUCKET")
    key = required("S3_KEY")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ConfigError(f"S3_KEY is {len(key.encode())} bytes; S3 keys are at most 1,024")
    raw_size = required("S3_SIZE")
    if not raw_size.isdigit():
        raise ConfigError(f"S3_SIZE must be a whole number of bytes (got {raw_size!r})")
    etag = required("S3_ETAG")
    if not is_etag(etag):
        raise ConfigError(f"S3_ETAG is not an S3 ETag (got {etag!r})")
    version = env.get("S3_VERSION_ID") or None
    # An unversioned bucket's events carry no version; EventBridge then leaves the
    # placeholder text itself, which is not a version.
    if version == "<versionId>":
        version = None
    output_prefix, processor, integrity = task_settings(env)
    return Config(
        bucket=bucket,
        key=key,
        size=int(raw_size),
        etag=quoted(etag),
        version_id=version,
        output_prefix=output_prefix,
        processor=processor,
        integrity=integrity,
    )


def is_etag(text: str) -> bool:
    return bool(_ETAG.match(text))


def quoted(etag: str) -> str:
    """The ETag with its quotes, as S3 compares it in ``If-Match``."""
    return f'"{etag.strip(chr(34))}"'


def task_settings(env: Mapping[str, str]) -> tuple[str | None, str | None, str]:
    """What the task definition sets for every object: OUTPUT_PREFIX, PROCESSOR and
    INTEGRITY."""
    output_prefix = env.get("OUTPUT_PREFIX") or None
    processor = env.get("PROCESSOR") or None
    if processor is not None and not _PROCESSOR.match(processor):
        raise ConfigError(f"PROCESSOR must look like package.module:function (got {processor!r})")
    return output_prefix, processor, integrity_mode(env)


def integrity_mode(env: Mapping[str, str]) -> str:
    """INTEGRITY: sha256 (unset or empty), s3 or none; case and surrounding blanks aside."""
    raw = env.get("INTEGRITY", "")
    mode = raw.strip().lower()
    if not mode:
        return INTEGRITY_MODES[0]
    if mode not in INTEGRITY_MODES:
        shown = repr(raw) if len(raw) <= _SHOWN else repr(raw[:_SHOWN]) + "…"
        raise ConfigError(f"INTEGRITY must be one of {', '.join(INTEGRITY_MODES)} (got {shown})")
    return mode
