"""``PROCESSOR=private_s3_worker.testing:echo``: queue mode's ``Mode: Test``.

Queue mode has no ``S3_*`` variables to echo, so the test processor echoes the values the
worker received from the event, in the same ``test-mode`` line as ``python -m
private_s3_worker test``, then sleeps TEST_SLEEP_SECONDS (default 60), as the original
design's test block does.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import log
from .api import Outputs, SourceObject


def echo(source: SourceObject, outputs: Outputs) -> dict[str, Any]:
    del outputs
    log.emit(
        "test-mode",
        S3_BUCKET=source.bucket,
        S3_KEY=source.key,
        S3_SIZE=str(source.size),
        S3_ETAG=source.etag.strip('"'),
        S3_VERSION_ID=source.version_id,
        OUTPUT_PREFIX=os.environ.get("OUTPUT_PREFIX"),
    )
    time.sleep(float(os.environ.get("TEST_SLEEP_SECONDS", "60")))
    return {"echoed": True}
