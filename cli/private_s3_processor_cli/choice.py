"""Choice rules, as the local runner (``states.py``) evaluates them.

"Choice workflow state" (Step Functions developer guide): a comparison whose
``Variable`` is missing fails the execution (``States.Runtime``); only ``IsPresent``
tests presence; a comparison of the wrong type is false ("Step Functions doesn't attempt
to match a numeric field to a string value"). The guide does not say that ``And``/``Or``
or the list of rules stop at the first decisive rule, so every rule of a Choice state is
evaluated, and a missing path anywhere fails it: a definition that passes here does not
rely on short-circuiting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .asl import Missing, Unsupported, get, runtime

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsString": lambda v: isinstance(v, str),
    "IsNumeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsNull": lambda v: v is None,
}
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "NumericEquals": lambda a, b: a == b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


def rule(r: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    """One Choice rule (without its Next); every sub-rule is evaluated (module doc)."""
    for combinator, combine in (("And", all), ("Or", any)):
        if combinator in r:
            return combine([rule(sub, data, context) for sub in r[combinator]])
    if "Not" in r:
        return not rule(r["Not"], data, context)
    tests = set(r) - {"Variable", "Next", "Comment"}
    if len(tests) != 1:
        raise Unsupported(f"choice rule {sorted(r)}")
    (test,) = tests
    expected = r[test]
    try:
        value = get(data, r["Variable"], context)
    except Missing:
        if test == "IsPresent":
            return not expected
        raise runtime(
            f"Invalid path '{r['Variable']}': The choice state's condition path references an "
            "invalid value."
        ) from None
    if test == "IsPresent":
        return bool(expected)
    if test in _TYPE_TESTS:
        return _TYPE_TESTS[test](value) is bool(expected)
    if test in _NUMERIC:
        numeric = _TYPE_TESTS["IsNumeric"](value)
        return numeric and _NUMERIC[test](value, expected)
    if test == "StringEquals":
        return isinstance(value, str) and value == expected
    if test == "StringMatches":
        return isinstance(value, str) and _wildcard(expected).fullmatch(value) is not None
    if test == "BooleanEquals":
        return isinstance(value, bool) and value is expected
    raise Unsupported(f"choice rule {test}")


def _wildcard(pattern: str) -> re.Pattern[str]:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are the
    literal characters ("Choice workflow state")."""
    out, at = [], 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\" and at + 1 < len(pattern):
            out.append(re.escape(pattern[at + 1]))
            at += 2
            continue
        out.append(".*" if char == "*" else re.escape(char))
        at += 1
    return re.compile("".join(out), re.S)
