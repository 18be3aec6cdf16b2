"""One run: read the inputs, fetch the object, process it, write outputs whole or not at all."""

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
from .keys import MANIFEST, output_base
from .source import Gone, StreamError, UnknownKey, key_listed, open_source

DEFAULT_PROCESSOR = "private_s3_worker.manifest:describe"


def s3_client() -> Any:
    """S3 as the private network reaches it: the regional endpoint of AWS_REGION (through
    the gateway endpoint), botocore's standard or adaptive retries, and AWS_ENDPOINT_URL
    when set (botocore reads it), so the same code runs against the emulator."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    adaptive = os.environ.get("AWS_RETRY_MODE") == "adaptive"
    config = BotoConfig(
        retries={
            "mode": "adaptive" if adaptive else "standard",
            "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "5")),
        },
        s3={"us_east_1_regional_endpoint": "regional"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", region_name=region, config=config)


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


def run(env: Mapping[str, str] | None = None, client: Any = None) -> ExitCode:
    started = time.monotonic()
    facts: dict[str, Any] = {}

    def finish(outcome: ExitCode, **more: Any) -> ExitCode:
        log.emit(
            "finished",
            outcome=outcome.name.lower(),
            exit_code=int(outcome),
            duration_s=round(time.monotonic() - started, 3),
            **facts,
            **more,
        )
        return outcome

    try:
        cfg = from_environment(env)
        facts.update(bucket=cfg.bucket, key=cfg.key, etag=cfg.etag_hex, version_id=cfg.version_id)
        processor = load_processor(cfg.processor)
        base = output_base(cfg.output_prefix, cfg.key, cfg.etag_hex) if cfg.output_prefix else None
    except ConfigError as exc:
        return finish(ExitCode.CONFIG, error=str(exc))
    try:
        return _process(client or s3_client(), cfg, processor, base, facts, finish)
    except Gone as exc:
        return finish(ExitCode.GONE, error=str(exc))
    except UnknownKey as exc:
        # The event's own facts, for redrive to find the true key by version and ETag.
        return finish(ExitCode.UNKNOWN_KEY, size=cfg.size, error=str(exc))
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
        except (Gone, StreamError, ClientError, BotoCoreError):
            raise
        except Exception as exc:  # the user's code: any failure is reported, nothing written
            return finish(ExitCode.FAILED, error=f"processor: {type(exc).__name__}: {exc}")
        finally:
            source.body.close()
        try:
            manifest = _manifest(cfg, source, result, outputs)
        except (TypeError, ValueError) as exc:
            return finish(ExitCode.FAILED, error=f"processor returned {exc}")
        written = _publish(client, cfg.bucket, base, outputs, manifest) if base else []
        return finish(
            ExitCode.PROCESSED,
            bytes=source.size,
            outputs=written,
            result=json.loads(manifest)["result"],
        )
    finally:
        outputs.close()


def _manifest(cfg: Config, source: SourceObject, result: Any, outputs: Outputs) -> bytes:
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
        "result": dict(result or {}),
        "outputs": sorted(outputs.staged),
    }
    try:
        return json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a result that is not JSON: {exc}") from exc


def _publish(client: Any, bucket: str, base: str, outputs: Outputs, manifest: bytes) -> list[str]:
    """Each output is one PUT (or one multipart upload), so it exists whole or not at all;
    the manifest goes last and marks the set complete: a run that died before it is
    redone, overwriting the same keys."""
    written = []
    for name, staged in sorted(outputs.staged.items()):
        client.upload_fileobj(
            staged.file, bucket, base + name, ExtraArgs={"ContentType": staged.content_type}
        )
        written.append(base + name)
    client.put_object(
        Bucket=bucket,
        Key=base + MANIFEST,
        ContentType="application/json",
        Body=manifest,
    )
    written.append(base + MANIFEST)
    return written
