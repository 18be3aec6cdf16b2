"""``python -m private_s3_worker`` (the image's entrypoint): queue mode when QUEUE_URL is
set, one-object mode (``S3_*``) otherwise; ``... test`` is test mode."""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

from . import log
from .run import run


def test_mode() -> int:
    """The original design's test block, from the same image: echo what arrived, sleep."""
    names = ("S3_BUCKET", "S3_KEY", "S3_SIZE", "S3_ETAG", "S3_VERSION_ID", "OUTPUT_PREFIX")
    log.emit("test-mode", **{n: os.environ.get(n) for n in names})
    time.sleep(float(os.environ.get("TEST_SLEEP_SECONDS", "60")))
    return 0


class Stopped(Exception):
    """ECS stopped the task: StopTask, a state machine's timeout or abort, a deployment."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(
        f"stopped by {signal.Signals(signum).name} before the object was done; "
        "no manifest was written, so the upload is processed again when re-driven"
    )


def one_object() -> int:
    """One object, then exit. ECS stops a task with SIGTERM, then SIGKILL after the stop
    timeout; as a container's PID 1 the interpreter would ignore SIGTERM without a handler
    (the kernel drops signals a PID 1 has not asked for), so the task would sit out the
    whole timeout. The handler turns it into the worker's FAILED exit, with its line."""
    signal.signal(signal.SIGTERM, _stop)
    return int(run())


def main(argv: list[str]) -> int:
    if argv[:1] == ["test"]:
        return test_mode()
    if argv:
        log.emit("usage", error=f"unknown arguments {argv}; run with none, or 'test'")
        return 78
    if os.environ.get("QUEUE_URL"):
        from .queue_mode import serve

        return serve()
    return one_object()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
