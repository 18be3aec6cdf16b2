"""One object: read the inputs, fetch the object, process it, write outputs whole or not at all.

One-object mode (``run``) and queue mode (``queue_mode``) share ``process_object``."""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from . import log
from .api import Outputs, Processor, SourceObject
from .config import Config, ConfigError, from_environment
from .exitcodes import ExitCode
from .integrity import IntegrityError
from .keys import MANIFEST, output_base
from .source import Gone, StreamError, UnknownKey, key_listed, open_source

DEFAULT_PROCESSOR = "private_s3_worker.manifest:describe"


def s3_client(pool: int = 10) -> Any:
    """S3 as the private network reaches it: the regional endpoint of AWS_REGION (through
    the gateway endpoint), botocore's standard or adaptive retries, and AWS_ENDPOINT_URL
    when set (botocore reads it), so the same code runs against the emulator. ``pool``:
    connections kept (botocore's default is 10); queue mode shares one client between
    its threads, which boto3 documents as safe for clients (not for resources).

    ``when_required``: botocore's default (``when_supported``) asks every GetObject for
    S3's checksum and computes a CRC over the first response, which it checks only when
    the body is read past its end; the worker stops at Content-Length, so that CPU bought
    nothing. ``INTEGRITY=s3`` asks for it explicitly and finishes the check
    (``integrity``)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    config = BotoConfig(
        retries=retries(),
        response_checksum_validation="when_required",
        s3={"us_east_1_regional_endpoint": "regional"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=pool,
    )
    return boto3.session.Session().client("s3", region_name=region, config=config)


def retries() -> Any:
    adaptive = os.environ.get("AWS_RETRY_MODE") == "adaptive"
    return {
        "mode": "adaptive" if adaptive else "standard",
        "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "5")),
    }


def load_processor(spec: str | None) -> Processor:
    module_name, _, name = (spec or DEFAULT_PROCESSOR).partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"PROCESSOR {spec!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"PROCESSOR {spec!r}: {module_name} has no function {name}")
    processor: Processor = function
    return processor


class Report:
    """One object's run as the log tells it: its facts, then one ``finished`` line.
    ``context`` (queue mode: the message's ID and receive count) follows the facts."""

    def __init__(self, **context: Any) -> None:
        self.started = time.monotonic()
        self.facts: dict[str, Any] = {}
        self.context = context
        self.error: str | None = None

    def finish(self, outcome: ExitCode, **more: Any) -> ExitCode:
        self.error = more.get("error")
        log.emit(
            "finished",
            outcome=outcome.name.lower(),
            exit_code=int(outcome),
            duration_s=round(time.monotonic() - self.started, 3),
            **self.facts,
            **self.context,
            **more,
        )
        return outcome


def run(env: Mapping[str, str] | None = None, client: Any = None) -> ExitCode:
    """One-object mode: the object named by ``S3_*``; the exit code says what happened."""
    report = Report()
    try:
        cfg = from_environment(env)
    except ConfigError as exc:
        return report.finish(ExitCode.CONFIG, error=str(exc))
    return process_object(cfg, lambda: client or s3_client(), report)


def process_object(cfg: Config, client: Callable[[], Any], report: Report) -> ExitCode:
    """Fetch, process and publish one object: the path both modes share. ``client`` is
    called only once the inputs are known good. Never raises: every outcome is a code."""
    report.facts.update(
        bucket=cfg.bucket, key=cfg.key, etag=cfg.etag_hex, version_id=cfg.version_id
    )
    finish = report.finish
    try:
        processor = load_processor(cfg.processor)
        base = output_base(cfg.output_prefix, cfg.key, cfg.etag_hex) if cfg.output_prefix else None
    except ConfigError as exc:
        return finish(ExitCode.CONFIG, error=str(exc))
    try:
        return _process(client(), cfg, processor, base, report.facts, finish)
    except Gone as exc:
        return finish(ExitCode.GONE, error=str(exc))
    except UnknownKey as exc:
        # The event's own facts, for redrive to find the true key by version and ETag.
        return finish(ExitCode.UNKNOWN_KEY, size=cfg.size, error=str(exc))
    except IntegrityError as exc:
        return finish(ExitCode.FAILED, error=f"integrity: {exc}")
    except (ClientError, BotoCoreError, StreamError) as exc:
        return finish(ExitCode.FAILED, error=f"S3: {type(exc).__name__}: {exc}")
    except Exception as exc:  # the exit code must stay one of the documented ones
        return finish(ExitCode.FAILED, error=f"worker: {type(exc).__name__}: {exc}")


def _process(
    client: Any,
    cfg: Config,
    processor: Processor,
    base: str | None,
    facts: dict[str, Any],
    finish: Callable[..., ExitCode],
) -> ExitCode:
    def done(at: str | None) -> bool:
        return at is not None and key_listed(client, cfg.bucket, at + MANIFEST)

    # Checked before the GET too, so a re-delivered event does not start a download.
    if done(base):
        return finish(ExitCode.SKIPPED, manifest=f"{base}{MANIFEST}")
    source, form = open_source(client, cfg)
    facts["key_form"] = form
    if form != "as-given":
        facts["resolved_key"] = source.key
        # The outputs belong to the object actually read.
        base = (
            output_base(cfg.output_prefix, source.key, cfg.etag_hex) if cfg.output_prefix else None
        )
        if done(base):
            source.body.close()
            return finish(ExitCode.SKIPPED, manifest=f"{base}{MANIFEST}")
    log.emit("fetching", **facts, size=source.size)
    outputs = Outputs(enabled=base is not None)
    try:
        try:
            result = processor(source, outputs)
        except (Gone, StreamError, ClientError, BotoCoreError, IntegrityError):
            raise
        except Exception as exc:  # the user's code: any failure is reported, nothing written
            mismatch = source.integrity.mismatch if source.integrity else None
            if mismatch:  # the processor re-raised the integrity error as its own
                return finish(ExitCode.FAILED, error=f"integrity: {mismatch}")
            return finish(ExitCode.FAILED, error=f"processor: {type(exc).__name__}: {exc}")
        finally:
            source.body.close()
        # Raises IntegrityError on a mismatch, even one the processor caught.
        integrity = source.integrity.record() if source.integrity else {"method": "none"}
        facts["integrity"] = integrity
        try:
            manifest = _manifest(cfg, source, result, outputs, integrity)
        except (TypeError, ValueError) as exc:
            return finish(ExitCode.FAILED, error=f"processor returned {exc}")
        try:
            written = _publish(client, cfg.bucket, base, outputs, manifest) if base else []
        except Published:
            # A duplicate of this upload ran at the same time (SQS delivers at least once)
            # and wrote the manifest first: this run's outputs were the same bytes.
            return finish(ExitCode.SKIPPED, manifest=f"{base}{MANIFEST}", concurrent=True)
        return finish(
            ExitCode.PROCESSED,
            bytes=source.size,
            outputs=written,
            result=json.loads(manifest)["result"],
        )
    finally:
        outputs.close()


def _manifest(
    cfg: Config, source: SourceObject, result: Any, outputs: Outputs, integrity: dict[str, Any]
) -> bytes:
    """The manifest as JSON; a result that is not a JSON map is the processor's error."""
    if result is not None and not isinstance(result, Mapping):
        raise TypeError(f"a {type(result).__name__}, not a map (or None)")
    manifest = {
        "source": {
            "bucket": source.bucket,
            "key": source.key,
            "etag": source.etag.strip('"'),
            "version_id": source.version_id,
            "size": source.size,
        },
        "processor": cfg.processor or DEFAULT_PROCESSOR,
        "integrity": integrity,
        "result": dict(result or {}),
        "outputs": sorted(outputs.staged),
    }
    try:
        return json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a result that is not JSON: {exc}") from exc


class Published(Exception):
    """Another run of the same object wrote its manifest first."""


# S3 answers 409 ConditionalRequestConflict to a conditional write racing another
# ("retry the upload", S3 User Guide, "How to prevent object overwrites with conditional
# writes"); the retry then meets the winner's manifest and gets 412.
_CONFLICT_RETRIES = 4


def _put_manifest(client: Any, bucket: str, key: str, manifest: bytes) -> None:
    """Create-only (``If-None-Match: *``, which needs no permission beyond s3:PutObject):
    of two runs of one object at the same time, exactly one writes the manifest and
    reports PROCESSED; the other gets 412 Precondition Failed (``Published``)."""
    for attempt in range(_CONFLICT_RETRIES + 1):
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                ContentType="application/json",
                Body=manifest,
                IfNoneMatch="*",
            )
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "PreconditionFailed":
                raise Published(key) from None
            if code != "ConditionalRequestConflict" or attempt == _CONFLICT_RETRIES:
                raise
            time.sleep(0.1 * 2**attempt)


def _publish(client: Any, bucket: str, base: str, outputs: Outputs, manifest: bytes) -> list[str]:
    """Each output is one PUT (or one multipart upload), so it exists whole or not at all;
    the manifest goes last and marks the set complete: a run that died before it is
    redone, overwriting the same keys. Two runs at once write the same output bytes; the
    manifest is written once (``_put_manifest``)."""
    written = []
    for name, staged in sorted(outputs.staged.items()):
        client.upload_fileobj(
            staged.file, bucket, base + name, ExtraArgs={"ContentType": staged.content_type}
        )
        written.append(base + name)
    _put_manifest(client, bucket, base + MANIFEST, manifest)
    written.append(base + MANIFEST)
    return written
