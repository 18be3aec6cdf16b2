"""Queue mode's input: one SQS message body, the whole EventBridge "Object Created" event.

The rule's target sends the event unchanged (no InputTransformer), so the key arrives as a
JSON string that json decodes exactly: quotes, backslashes, control characters and
unicode included (SPEC section 4). Anything else on the queue is a malformed input,
reported in one line like a malformed ``S3_*`` variable in one-object mode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .config import MAX_KEY_BYTES, Config, ConfigError, is_etag, quoted, task_settings

DETAIL_TYPE = "Object Created"
_SHOWN = 80  # characters of a bad value quoted in an error: a log line, not the input


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _field(tree: Mapping[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"{path} is missing: not an S3 {DETAIL_TYPE!r} event")
        node = node[part]
    return node


def _text(tree: Mapping[str, Any], path: str) -> str:
    value = _field(tree, path)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path} must be a non-empty string (got {_show(value)})")
    return value


def parse(body: str) -> Mapping[str, Any]:
    """The event as a JSON object, or a one-line :class:`ConfigError`."""
    try:
        event = json.loads(body)
    # RecursionError: json's decoder recurses once per nesting level, so a body nested
    # deeper than the interpreter's limit raises it instead of ValueError.
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"the message body is not JSON ({exc}): {_show(body)}") from None
    if not isinstance(event, dict):
        raise ConfigError(
            f"the message body is a JSON {type(event).__name__}, not an EventBridge event"
        )
    if event.get("detail-type") != DETAIL_TYPE:
        raise ConfigError(
            f"detail-type is {_show(event.get('detail-type'))}, not {DETAIL_TYPE!r}: "
            "not an S3 object-created event"
        )
    return event


def from_event(body: str, env: Mapping[str, str] | None = None) -> Config:
    """The same :class:`Config` one-object mode reads from ``S3_*``, from the event."""
    env = os.environ if env is None else env
    event = parse(body)
    bucket = _text(event, "detail.bucket.name")
    key = _text(event, "detail.object.key")
    try:
        length = len(key.encode())
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no S3 key holds one
        raise ConfigError(f"detail.object.key is not valid unicode: {_show(key)}") from None
    if length > MAX_KEY_BYTES:
        raise ConfigError(f"detail.object.key is {length:,} bytes; S3 keys are at most 1,024")
    size = _field(event, "detail.object.size")
    # bool is an int to Python, not a size to S3.
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ConfigError(f"detail.object.size must be a whole number of bytes (got {_show(size)})")
    etag = _text(event, "detail.object.etag")
    if not is_etag(etag):
        raise ConfigError(f"detail.object.etag is not an S3 ETag (got {_show(etag)})")
    version = event["detail"]["object"].get("version-id")
    # An unversioned bucket's event has no version-id; an empty one is no version either.
    if version is not None and not isinstance(version, str):
        raise ConfigError(f"detail.object.version-id must be a string (got {_show(version)})")
    output_prefix, processor, integrity = task_settings(env)
    return Config(
        bucket=bucket,
        key=key,
        size=size,
        etag=quoted(etag),
        version_id=version or None,
        output_prefix=output_prefix,
        processor=processor,
        integrity=integrity,
    )
