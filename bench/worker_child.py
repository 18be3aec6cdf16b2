"""Run ``-m MODULE`` or ``-c CODE`` in this process, as bench.peak does, and at exit write
to $BENCH_CHILD_FILE (JSON) this process's peak RSS (VmHWM, KiB) and its CPU seconds
(user+sys, all threads: what ``os.wait4`` totals) when its first GetObject returned
(headers in, body unread) and in its exit handler.

Between the two is what reading and processing the object cost. Outside them: the
interpreter's start, imports, the S3 client and what botocore does lazily on a client's
first call, the worker's "already done" listing; and after the exit handler, the
interpreter's teardown (about 0.1 s here). Those do not grow with the object, and vary
by a tenth of a second from run to run on a busy machine, as much as reading a few
hundred MB costs, so subtracting a separate run's would drown the figure.
"""

from __future__ import annotations

import json
import os
import resource
from typing import Any

import botocore.client

from bench import peak

_marks: list[float] = []
_original = botocore.client.BaseClient._make_api_call


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
    response = _original(self, operation_name, api_params)
    if operation_name == "GetObject" and not _marks:
        _marks.append(_cpu())
    return response


def _report() -> None:
    peak = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    with open(os.environ["BENCH_CHILD_FILE"], "w", encoding="ascii") as out:
        json.dump(
            {
                "vmhwm_kib": peak,
                "cpu_at_get_s": _marks[0] if _marks else None,
                "cpu_at_exit_s": _cpu(),
            },
            out,
        )


def main() -> None:
    botocore.client.BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]
    peak.main(report=_report)


if __name__ == "__main__":
    main()
