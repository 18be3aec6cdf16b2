"""Rewrite expected golden outputs: ``python -m tests.golden.regenerate [CASE ...]``."""

from __future__ import annotations

import sys

from . import cases


def main(argv: list[str]) -> int:
    chosen = argv or cases.names()
    unknown = sorted(set(chosen) - set(cases.names()))
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in chosen:
        result = cases.run(name)
        if name.startswith("error_") != ("errorMessage" in result):
            print(
                f"{name}: expected {'an error' if name.startswith('error_') else 'success'}, "
                f"got {result.get('errorMessage', 'success')}",
                file=sys.stderr,
            )
            return 1
        print(cases.write(name, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
