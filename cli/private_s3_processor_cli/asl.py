"""The expression parts of the Amazon States Language (JSONPath query language) that the
local runner (``states.py``) evaluates: reference paths, and payload templates with their
intrinsic functions.

Each behaviour follows the Step Functions developer guide; what the guide leaves open is
done the strict way, so that a definition that passes here does not rely on it:

- "Intrinsic functions for JSONPath states": the argument rules of each function
  (``States.MathRandom`` integers, start inclusive, end exclusive; ``States.MathAdd``
  integers from -2147483648 to 2147483647; non-integers rounded; ``States.StringSplit``
  splits on every character of its second argument); nesting; ``\\'``, ``\\{``, ``\\}``
  and ``\\\\`` escapes in string literals. A failing function is ``States.Runtime``.
- Choice rules: ``choice.py``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any


class StatesError(Exception):
    """A state's error, named as Step Functions names it."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class Unsupported(Exception):
    """The definition uses something this runner does not implement."""


def runtime(cause: str) -> StatesError:
    return StatesError("States.Runtime", cause)


# --- Reference paths ---------------------------------------------------------------

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\.?\['([^']*)'\]")


def steps(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise Unsupported(f"path {path!r} must start with $")
    rest, found, at = path[1:], [], 0
    while at < len(rest):
        m = _STEP.match(rest, at)
        if m is None:
            raise Unsupported(f"path {path!r} is not a reference path")
        found.append(int(m.group(2)) if m.group(2) is not None else (m.group(1) or m.group(3)))
        at = m.end()
    return found


class Missing(Exception):
    """A path that selects nothing in the data."""


def get(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    node: Any = context if path.startswith("$$") else data
    for step in steps(path[1:] if path.startswith("$$") else path):
        if isinstance(step, int) and not isinstance(node, list):
            raise Missing(path)
        if isinstance(step, str) and not isinstance(node, dict):
            raise Missing(path)
        try:
            node = node[step]
        except (KeyError, IndexError):
            raise Missing(path) from None
    return node


def put(data: Any, path: str, value: Any) -> Any:
    """``data`` with ``value`` at ``path`` (a ResultPath); ``data`` is not changed."""
    found = steps(path)
    if not found:
        return value
    if not isinstance(data, dict):
        raise StatesError(
            "States.ResultPathMatchFailure",
            f"Unable to apply ResultPath '{path}' to an input that is not a JSON object",
        )
    root: dict[str, Any] = json.loads(json.dumps(data))
    node: Any = root
    for step in found[:-1]:
        if isinstance(node, dict) and step not in node:
            node[step] = {}
        node = node[step] if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise StatesError(
                "States.ResultPathMatchFailure",
                f"Unable to apply ResultPath '{path}': '{step}' is not a JSON object",
            )
    node[found[-1]] = value
    return root


# --- Payload templates and intrinsic functions -------------------------------------


def payload(template: Any, data: Any, context: Mapping[str, Any], rng: random.Random) -> Any:
    """A Parameters template: fields ending in ``.$`` take a path's or an intrinsic's value."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if not key.endswith(".$"):
                out[key] = payload(value, data, context, rng)
                continue
            if not isinstance(value, str):
                raise Unsupported(f"field {key!r} must be a path or an intrinsic function")
            try:
                out[key[:-2]] = (
                    _Intrinsic(value, data, context, rng).evaluate()
                    if value.startswith("States.")
                    else get(data, value, context)
                )
            except Missing as exc:
                raise runtime(
                    f"The JSONPath '{exc}' specified for the field '{key}' could not be found "
                    "in the input"
                ) from None
        return out
    if isinstance(template, list):
        return [payload(v, data, context, rng) for v in template]
    return template


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
# A path argument runs to the next "," or ")" outside its brackets ($.a['b,c'][0]).
_PATH_ARGUMENT = re.compile(r"\$\$?(?:\['[^']*'\]|\[\d+\]|[^,)\[])*")
INT32 = (-(2**31), 2**31 - 1)


class _Intrinsic:
    """One field's invocation, parsed and evaluated in one pass (arguments left to right)."""

    def __init__(
        self, text: str, data: Any, context: Mapping[str, Any], rng: random.Random
    ) -> None:
        self.text, self.at, self.data, self.context, self.rng = text, 0, data, context, rng

    def evaluate(self) -> Any:
        value = self._call()
        if self.at != len(self.text):
            raise Unsupported(f"intrinsic {self.text!r}: unexpected {self.text[self.at :]!r}")
        return value

    def _skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def _call(self) -> Any:
        m = re.compile(r"States\.(\w+)\(").match(self.text, self.at)
        if m is None:
            raise Unsupported(f"intrinsic {self.text!r}")
        name, self.at = m.group(1), m.end()
        function = _FUNCTIONS.get(name)
        if function is None:
            raise Unsupported(f"intrinsic States.{name}")
        args: list[Any] = []
        self._skip()
        while self.at < len(self.text) and self.text[self.at] != ")":
            args.append(self._argument())
            self._skip()
            if self.at < len(self.text) and self.text[self.at] == ",":
                self.at += 1
                self._skip()
        if self.at >= len(self.text):
            raise Unsupported(f"intrinsic {self.text!r}: no closing parenthesis")
        self.at += 1
        return function(self, args)

    def _argument(self) -> Any:
        text, at = self.text, self.at
        if text.startswith("States.", at):
            return self._call()
        if text[at] == "'":
            return self._string()
        if text[at] == "$":
            m = _PATH_ARGUMENT.match(text, at)
            if m is None:
                raise Unsupported(f"intrinsic {text!r}: cannot read a path at {text[at:]!r}")
            self.at = m.end()
            return get(self.data, m.group(0).rstrip(), self.context)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, at):
                self.at = at + len(word)
                return value
        m = _NUMBER.match(text, at)
        if m is None:
            raise Unsupported(f"intrinsic {text!r}: cannot read an argument at {text[at:]!r}")
        self.at = m.end()
        return json.loads(m.group(0))

    def _string(self) -> str:
        out, at = [], self.at + 1
        while at < len(self.text) and self.text[at] != "'":
            if self.text[at] == "\\":
                if at + 1 >= len(self.text) or self.text[at + 1] not in "'{}\\":
                    raise runtime(f"{self.text}: an open escape backslash")
                at += 1
            out.append(self.text[at])
            at += 1
        if at >= len(self.text):
            raise Unsupported(f"intrinsic {self.text!r}: unterminated string")
        self.at = at + 1
        return "".join(out)

    def fail(self, why: str) -> StatesError:
        return runtime(f"The function '{self.text}' had the following error: {why}")

    def integer(self, value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self.fail(f"{what} must be an integer (got {json.dumps(value)})")
        if isinstance(value, float) and abs(value) > INT32[1]:
            raise self.fail(f"{what} must be from {INT32[0]} to {INT32[1]} (got {value})")
        number = round(value)
        if not INT32[0] <= number <= INT32[1]:
            raise self.fail(f"{what} must be from {INT32[0]} to {INT32[1]} (got {value})")
        return number

    def count(self, args: list[Any], low: int, high: int) -> None:
        if not low <= len(args) <= high:
            raise self.fail(f"takes {low} to {high} arguments (got {len(args)})")


def _format(fn: _Intrinsic, args: list[Any]) -> str:
    if not args or not isinstance(args[0], str):
        raise fn.fail("the first argument must be a string")
    pieces = args[0].split("{}")
    if len(pieces) != len(args):
        raise fn.fail(f"{len(pieces) - 1} placeholders for {len(args) - 1} arguments")
    text = pieces[0]
    for arg, piece in zip(args[1:], pieces[1:], strict=True):
        if isinstance(arg, dict | list):
            raise fn.fail("arguments must be strings, numbers, booleans or null")
        text += (arg if isinstance(arg, str) else json.dumps(arg)) + piece
    return text


def _string_to_json(fn: _Intrinsic, args: list[Any]) -> Any:
    fn.count(args, 1, 1)
    if not isinstance(args[0], str):
        raise fn.fail("the argument must be a string")
    try:
        return json.loads(args[0])
    except json.JSONDecodeError as exc:
        raise fn.fail(f"not JSON ({exc})") from None


def _json_to_string(fn: _Intrinsic, args: list[Any]) -> str:
    fn.count(args, 1, 1)
    return json.dumps(args[0], separators=(",", ":"))


def _string_split(fn: _Intrinsic, args: list[Any]) -> list[str]:
    fn.count(args, 2, 2)
    if not all(isinstance(a, str) for a in args) or not args[1]:
        raise fn.fail("takes a string and a non-empty string of delimiters")
    return [p for p in re.split("|".join(map(re.escape, args[1])), args[0]) if p]


def _array_get_item(fn: _Intrinsic, args: list[Any]) -> Any:
    fn.count(args, 2, 2)
    if not isinstance(args[0], list):
        raise fn.fail("the first argument must be an array")
    index = fn.integer(args[1], "the index")
    if not 0 <= index < len(args[0]):
        raise fn.fail(f"index {index} is out of bounds for {len(args[0])} items")
    return args[0][index]


def _math_random(fn: _Intrinsic, args: list[Any]) -> int:
    fn.count(args, 2, 3)
    start, end = fn.integer(args[0], "the start"), fn.integer(args[1], "the end")
    if start >= end:
        raise fn.fail(f"the start ({start}) must be less than the end ({end})")
    rng = random.Random(fn.integer(args[2], "the seed")) if len(args) == 3 else fn.rng
    return rng.randrange(start, end)


def _math_add(fn: _Intrinsic, args: list[Any]) -> int:
    fn.count(args, 2, 2)
    total = fn.integer(args[0], "the value") + fn.integer(args[1], "the step")
    if not INT32[0] <= total <= INT32[1]:
        raise fn.fail(f"the sum {total} is out of range")
    return total


_FUNCTIONS: dict[str, Callable[[_Intrinsic, list[Any]], Any]] = {
    "Format": _format,
    "StringToJson": _string_to_json,
    "JsonToString": _json_to_string,
    "StringSplit": _string_split,
    "Array": lambda fn, a: list(a),
    "ArrayGetItem": _array_get_item,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
}
