"""How every subcommand reports bad input: one line per problem on stderr, exit 1."""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROG = "private-s3-processor"


def fail(command: str | None, messages: Sequence[str]) -> int:
    """Print each problem on a line of its own on stderr; the exit status for bad input."""
    for message in messages:
        line = " ".join(str(message).split())  # a message from a library may span lines
        print(f"{PROG} {command}: {line}" if command else line, file=sys.stderr)
    return 1
