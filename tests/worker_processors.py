"""PROCESSOR functions the worker tests load by name (``tests.worker_processors:...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from private_s3_worker import Outputs, SourceObject


def upper(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """Streams the object into an upper-cased copy and a small summary."""
    total = 0
    with outputs.open("upper.txt", "text/plain") as out:
        while chunk := source.body.read(65536):
            out.write(chunk.upper())
            total += len(chunk)
    outputs.put("summary.txt", f"{source.key} {total}\n".encode(), "text/plain")
    return {"copied": total}


def explode(source: SourceObject, outputs: Outputs) -> None:
    """Stages an output, then fails: nothing may reach S3."""
    outputs.put("partial.txt", source.body.read(10))
    raise RuntimeError("the processor broke halfway")


not_callable = 42


def returns_list(source: SourceObject, outputs: Outputs) -> Any:
    outputs.put("x.txt", b"x")
    return [1, 2, 3]


def returns_set(source: SourceObject, outputs: Outputs) -> Any:
    return {"values": {1, 2}}


def echo_environment(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """Records the S3_* variables the task received (the rule's overrides)."""
    import os

    source.body.read()
    return {name: value for name, value in os.environ.items() if name.startswith("S3_")}


def fails_while_marked(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """Fails while the file named by FLAKY_MARKER exists (an outage that ends), then
    processes like ``upper``."""
    if Path(os.environ["FLAKY_MARKER"]).exists():
        raise RuntimeError("downstream outage (marker file present)")
    return upper(source, outputs)


def another_run_publishes_first(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """Stands in for a duplicate delivery running at the same time in another task: while
    this run works, the other one writes the manifest."""
    import boto3
    from private_s3_worker.keys import MANIFEST, output_base

    base = output_base(os.environ["OUTPUT_PREFIX"], source.key, source.etag.strip('"'))
    boto3.client("s3").put_object(Bucket=source.bucket, Key=base + MANIFEST, Body=b"{}")
    outputs.put("result.txt", source.body.read())
    return {"run": "this"}


def process_facts(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    """What the process running the task is (tests/test_local_forkserver.py compares a
    forked worker's with a fresh interpreter's): its environment, directory, process
    group, stdin, argv, module path head, and a draw of its random generator."""
    import random
    import sys

    source.body.read()
    stdin, devnull = os.fstat(0), os.stat(os.devnull)
    return {
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "group_leader": os.getpgid(0) == os.getpid(),
        "stdin_is_devnull": (stdin.st_dev, stdin.st_ino) == (devnull.st_dev, devnull.st_ino),
        "argv": sys.argv,
        "main": sys.modules["__main__"].__spec__.name if sys.modules["__main__"].__spec__ else "",
        "path_head": sys.path[:2],
        "random": random.random(),
        "stdout_encoding": sys.stdout.encoding,
        "stdout_line_buffering": sys.stdout.line_buffering,
    }
