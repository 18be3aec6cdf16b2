"""The option types and shared options of the command line's parsers: each turns one
argument into its value, or a one-line ``ArgumentTypeError`` that argparse prints."""

from __future__ import annotations

import argparse
import math
from typing import Any


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def url(text: str) -> str:
    """An endpoint URL as botocore accepts one: http(s)://host[:port][/path]."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected http(s)://HOST[:PORT], got {text!r}")
    return text


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (got {text})")
    return value


def positive(kind: type[int] | type[float]) -> Any:
    """An option type: a finite number above 0 (``int`` or ``float``)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a number above 0 (got {text})")
        return value

    return parse


def parameter_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--parameter",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="a template parameter value (repeatable)",
    )
