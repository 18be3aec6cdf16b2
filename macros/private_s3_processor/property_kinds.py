"""The kinds of value the property declaration (``properties.py``) is made of: intrinsic
functions, the docs each field carries, choice and range checks, and the naming rules S3
and AWS tags follow. The schema (``schema.py``) restates the same rules for cfn-lint."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from .rules import (
    BUCKET_NAME_RESERVED_PREFIXES,
    BUCKET_NAME_RESERVED_SUFFIXES,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    TAG_SYMBOLS,
)

INTRINSIC_KEYS = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::ImportValue",
        "Fn::FindInMap",
        "Fn::Base64",
        "Fn::Cidr",
        "Fn::GetAZs",
        "Fn::Length",
        "Fn::ToJsonString",
    }
)


def is_intrinsic(value: Any) -> bool:
    """True for an intrinsic function object: ``{"Ref": ...}`` or ``{"Fn::X": ...}``."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INTRINSIC_KEYS


def as_intrinsic(value: Any) -> dict[str, Any]:
    if not is_intrinsic(value):
        raise PydanticCustomError("intrinsic", "must be a string or an intrinsic function")
    return dict(value)


Intrinsic = Annotated[dict[str, Any], BeforeValidator(as_intrinsic)]
StrOrIntrinsic = Annotated[str | Intrinsic, Field(union_mode="left_to_right")]


class Doc:
    """How one property appears in the docs table, and whether its value must be known."""

    def __init__(self, type_: str, default: str, rule: str, *, known: bool = True) -> None:
        self.type = type_
        self.default = default
        self.rule = rule
        self.known = known

    def as_extra(self) -> dict[str, Any]:
        return {
            "doc_type": self.type,
            "doc_default": self.default,
            "doc_rule": self.rule,
            "known": self.known,
        }


def prop(default: Any, doc: Doc, **kwargs: Any) -> Any:
    """A pydantic ``Field`` carrying its :class:`Doc`."""
    return Field(default, json_schema_extra=doc.as_extra(), **kwargs)


def choice(allowed: tuple[Any, ...]) -> Any:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise PydanticCustomError(
                "choice",
                "must be one of {allowed}",
                {"allowed": ", ".join(str(a) for a in allowed)},
            )
        return value

    return AfterValidator(check)


def between(low: int, high: int) -> Any:
    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise PydanticCustomError(
                "range", "must be between {low} and {high}", {"low": low, "high": high}
            )
        return value

    return AfterValidator(check)


def span(bounds: tuple[int, int]) -> str:
    return f"{bounds[0]}-{bounds[1]}"


def not_bool(value: Any) -> Any:
    # pydantic's lax mode would read True as 1; a boolean is never a number here.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer")
    return value


Int = Annotated[int, BeforeValidator(not_bool)]

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# ECS ContainerDefinition.User: user, user:group, uid, uid:gid, user:gid or uid:group, a UID
# or GID "as a positive integer" (ECS API Reference, ContainerDefinition). Names as
# useradd takes them (at most 32 characters). IDs have at most 9 digits, so the schema's
# pattern can say what the model says (Linux IDs go to 4,294,967,294; images use far less).
_NAME_OR_ID = r"(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[1-9][0-9]{0,8})"
# \Z, not $: "$" also matches before a final newline.
CONTAINER_USER = re.compile(rf"^{_NAME_OR_ID}(?::{_NAME_OR_ID})?\Z")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def bucket_name_problem(name: str) -> str | None:
    """What S3's naming rules say against ``name``, or None when it is valid."""
    if not BUCKET_NAME.match(name):
        return (
            "3-63 lowercase letters, digits, dots and hyphens, starting and ending with a "
            "letter or digit"
        )
    if ".." in name:
        return "no two adjacent dots"
    if IP_ADDRESS.match(name):
        return "not formatted as an IP address"
    for prefix in BUCKET_NAME_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"the prefix {prefix} is reserved"
    for suffix in BUCKET_NAME_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"the suffix {suffix} is reserved"
    return None


def tag_problem(text: str, what: str) -> str | None:
    """What AWS's tag restrictions say against a tag ``key`` or ``value``, or None."""
    if what == "key" and not 1 <= len(text) <= MAX_TAG_KEY_CHARS:
        return f"keys must be 1-{MAX_TAG_KEY_CHARS} characters"
    if what == "value" and len(text) > MAX_TAG_VALUE_CHARS:
        return f"values must be at most {MAX_TAG_VALUE_CHARS} characters"
    if text.lower().startswith("aws:"):
        return "must not use the reserved tag prefix aws:"
    for char in text:
        # Letters, numbers and spaces of any script (Unicode L, N and Z), and + - = . _ : / @.
        if not (unicodedata.category(char)[0] in "LNZ" or char in TAG_SYMBOLS):
            return (
                f"may hold letters, numbers, spaces and {' '.join(TAG_SYMBOLS)} only, "
                f"not {json.dumps(char)}"
            )
    return None


KMS_KEY_ARN = re.compile(r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
ARN = re.compile(r"^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$")
