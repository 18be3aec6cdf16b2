"""One Lambda invocation in a host process: what the python3.13 runtime does for a handler.

argv: the function's unzipped code, the handler ("module.function"), the result file.
stdin: the event. The result file receives {"result": ...} or the runtime's error shape
({"errorMessage", "errorType", "stackTrace"}); stdout and stderr are the function's logs.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The attributes of the Lambda context object a handler may read."""

    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = os.environ.get("_INVOKED_FUNCTION_ARN", "")
        self.aws_request_id = os.environ.get("_REQUEST_ID", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    code, handler, result_path = sys.argv[1:4]
    # The runtime puts the task root first: the function's own packages win over the
    # runtime's (here: the engine environment's boto3 stands in for the runtime's).
    sys.path.insert(0, code)
    os.chdir(code)
    try:
        module_name, _, function_name = handler.rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        event: Any = json.loads(sys.stdin.read() or "null")
        outcome: dict[str, Any] = {"result": function(event, Context())}
    except Exception as exc:
        outcome = {
            "error": {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        }
        traceback.print_exc()
    sys.stdout.flush()
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(outcome, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
