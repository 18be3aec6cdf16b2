"""Run ``-m MODULE`` or ``-c CODE`` in this process; at exit, write this process's peak
RSS (VmHWM, KiB) to $PEAK_RSS_FILE.

``wait4``'s ``ru_maxrss`` is no use here: it survives ``exec``, so a child forked
from a large parent reports the parent's size. VmHWM belongs to the new image.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from collections.abc import Callable


def _report() -> None:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(os.environ["PEAK_RSS_FILE"], "w", encoding="ascii") as out:
                    out.write(line.split()[1])


def main(report: Callable[[], None] | None = None) -> None:
    """Run the target given on the command line; ``report`` at exit (this module's
    peak-RSS file when not given)."""
    atexit.register(report or _report)
    mode, target, *rest = sys.argv[1:]
    sys.argv = [target, *rest]
    if mode == "-m":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main()
