"""JSON lines on stdout: the awslogs driver ships each line to CloudWatch as one event."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

# Queue mode logs from several threads: one line is written and flushed whole.
_LOCK = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with _LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()
