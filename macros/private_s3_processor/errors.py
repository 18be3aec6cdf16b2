"""Errors that name the resource and the property, and are reported all at once."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError


class ExpansionError(Exception):
    """One or more problems in the input template; ``messages`` holds each of them."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super().__init__(render(self.messages))


def render(messages: list[str]) -> str:
    """The ``errorMessage`` CloudFormation shows: one message, or all of them counted."""
    if len(messages) == 1:
        return messages[0]
    return f"{len(messages)} errors: " + "; ".join(messages)


def resource_error(logical_id: str, prop: str | None, text: str) -> str:
    if prop is None:
        return f"Resource '{logical_id}': {text}"
    return f"Resource '{logical_id}': property '{prop}' {text}"


def shown(value: Any) -> str:
    """A value as a user wrote it, short enough for one line."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not close:
        # Case slips (prefix vs Prefix) are the commonest typo in CloudFormation.
        close = [k for k in known if k.lower() == name.lower()]
    return f" (did you mean '{close[0]}'?)" if close else ""


_TYPE_WORDS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "bool_type": "must be a boolean (true or false)",
    "bool_parsing": "must be a boolean (true or false)",
    "list_type": "must be a list",
    "dict_type": "must be a map",
    "model_type": "must be a map",
    "model_attributes_type": "must be a map",
    "missing": "is required",
}


def from_validation(
    logical_id: str,
    exc: ValidationError,
    known_by_path: dict[str, list[str]],
    takes_intrinsics: set[str],
) -> list[str]:
    """Turn pydantic's errors into ours: one line each, naming the property path."""
    out: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        # A union reports one error per branch under a tag such as "str" or
        # "function-before[...]"; the field's own path is what the user wrote.
        loc = [str(p) for i, p in enumerate(err["loc"]) if i == 0 or not _is_branch_tag(str(p))]
        kind = err["type"]
        path = _join_path(loc)
        if kind == "extra_forbidden":
            parent, name = ".".join(loc[:-1]), loc[-1]
            hint = did_you_mean(name, known_by_path.get(parent, []))
            out.append(resource_error(logical_id, path, f"is not a known property{hint}"))
            continue
        if path in seen:
            continue
        seen.add(path)
        text = _TYPE_WORDS.get(kind, err["msg"])
        if kind == "string_type" and path in takes_intrinsics:
            text = "must be a string or an intrinsic function"
        value = err.get("input")
        if kind != "missing" and not isinstance(value, dict | list):
            text += f" (got {shown(value)})"
        out.append(resource_error(logical_id, path, text))
    return out


_BRANCH_TAG = re.compile(r"^(str|int|bool|float|none|[a-z-]+\[.*\])$")


def _is_branch_tag(part: str) -> bool:
    return bool(_BRANCH_TAG.match(part))


def _join_path(loc: list[str]) -> str:
    path = ""
    for part in loc:
        if part.isdigit():
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
