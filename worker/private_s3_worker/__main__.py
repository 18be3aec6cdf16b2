"""``python -m private_s3_worker`` (the image's entrypoint); ``... test`` is test mode."""

from __future__ import annotations

import os
import sys
import time

from . import log
from .run import run


def test_mode() -> int:
    """The original design's test block, from the same image: echo what arrived, sleep."""
    names = ("S3_BUCKET", "S3_KEY", "S3_SIZE", "S3_ETAG", "S3_VERSION_ID", "OUTPUT_PREFIX")
    log.emit("test-mode", **{n: os.environ.get(n) for n in names})
    time.sleep(float(os.environ.get("TEST_SLEEP_SECONDS", "60")))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["test"]:
        return test_mode()
    if argv:
        log.emit("usage", error=f"unknown arguments {argv}; run with none, or 'test'")
        return 78
    return int(run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
