"""What the engine stored as the processed template against ``expand``'s output.

Every difference is a path with both sides; a difference is accepted only when one of
``EXPLAINED`` names its cause (each has a row in DESIGN.md, "The second engine").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from private_s3_processor_cli.templates import expand_document

from integration.engine import ACCOUNT, REGION

SERVERLESS = "AWS::Serverless-2016-10-31"


@dataclass(frozen=True)
class Difference:
    path: str
    expand: Any
    engine: Any

    def __str__(self) -> str:
        return f"{self.path}: expand {_short(self.expand)}, engine {_short(self.engine)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if value is not _MISSING else "(absent)"
    return text if len(text) <= 160 else text[:157] + "..."


_MISSING = object()


def differences(expected: Any, actual: Any, path: str = "") -> list[Difference]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[Difference] = []
        for key in sorted(set(expected) | set(actual), key=str):
            found += differences(
                expected.get(key, _MISSING), actual.get(key, _MISSING), f"{path}/{key}"
            )
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found += differences(left, right, f"{path}[{index}]")
        return found
    if expected is actual or (type(expected) is type(actual) and expected == actual):
        return []
    return [Difference(path, expected, actual)]


@dataclass(frozen=True)
class Explanation:
    """A kind of difference the engine makes, and why it is not the macro's."""

    cause: str
    applies: Callable[[Difference, dict[str, Any]], bool]


def _sam_resource(difference: Difference, expanded: dict[str, Any]) -> bool:
    # A later AWS::Serverless transform runs on the engine, not in expand: the resources it
    # generates, and the AWS::Serverless::* resources it replaces, differ; nothing else may.
    if SERVERLESS not in _transforms(expanded) or not difference.path.startswith("/Resources/"):
        return difference.path == "/Transform" and SERVERLESS in _transforms(expanded)
    logical = difference.path.split("/")[2].split("[")[0]
    sam = [
        k
        for k, v in expanded["Resources"].items()
        if str(v.get("Type", "")).startswith("AWS::Serverless::")
    ]
    # SAM names what it generates after the resource it came from (NotifierRole for
    # Notifier); nothing else may differ.
    return any(logical.startswith(name) for name in sam)


def _transforms(expanded: dict[str, Any]) -> list[str]:
    later = expanded.get("Transform", [])
    return [later] if isinstance(later, str) else list(later)


EXPLAINED = [
    Explanation(
        "A second transform named after the macro (AWS::Serverless-2016-10-31) runs on the "
        "engine after the macro; expand stops after its own and leaves that transform in place.",
        _sam_resource,
    ),
]


# The engine passes the Transform section inside the fragment; AWS documents the fragment
# as "the entire template except for the Transform section" (template-macros-author). The
# macro keeps what it is given, so on the engine its size count includes these bytes.
ENGINE_TRANSFORM_BYTES = len('"Transform":"PrivateS3Processor",')
_SIZE = re.compile(r"the processed template is ([0-9,]+) bytes")


def without_engine_transform(message: str) -> str:
    """A size refusal as it reads without the engine's extra Transform section."""

    def fewer(match: re.Match[str]) -> str:
        size = int(match.group(1).replace(",", "")) - ENGINE_TRANSFORM_BYTES
        return f"the processed template is {size:,} bytes"

    return _SIZE.sub(
        fewer,
        message,
    )


DEPENDS_ON_ORDER = (
    "The engine stores each DependsOn list sorted; CloudFormation treats DependsOn as a set "
    "of resources to create first, so the order carries nothing."
)


def _dependencies_in_expand_order(
    expanded: dict[str, Any], engine: dict[str, Any], explained: list[tuple[Difference, str]]
) -> dict[str, Any]:
    """The engine's template with each DependsOn list that holds the same names as
    expand's put back in expand's order; each such list is an explained difference."""
    engine = json.loads(json.dumps(engine))
    for logical, resource in engine.get("Resources", {}).items():
        mine = expanded.get("Resources", {}).get(logical, {}).get("DependsOn")
        theirs = resource.get("DependsOn")
        if (
            isinstance(mine, list)
            and isinstance(theirs, list)
            and mine != theirs
            and sorted(mine) == sorted(theirs)
        ):
            resource["DependsOn"] = mine
            explained.append(
                (Difference(f"/Resources/{logical}/DependsOn", mine, theirs), DEPENDS_ON_ORDER)
            )
    return engine


def unexplained(
    expanded: dict[str, Any], engine: dict[str, Any]
) -> tuple[list[Difference], list[tuple[Difference, str]]]:
    left: list[Difference] = []
    explained: list[tuple[Difference, str]] = []
    engine = _dependencies_in_expand_order(expanded, engine, explained)
    for difference in differences(expanded, engine):
        cause = next((e.cause for e in EXPLAINED if e.applies(difference, expanded)), None)
        if cause is None:
            left.append(difference)
        else:
            explained.append((difference, cause))
    return left, explained


def expand_like_engine(
    template: dict[str, Any], parameters: dict[str, str], prefix_list_id: str
) -> dict[str, Any]:
    """``expand``'s output for the template as it was sent, in the engine's account and
    region, with the parameter values the engine passed to the macro (defaults and list
    splitting as CloudFormation does them: ``expand_document``'s ``parameter_values``)."""
    return expand_document(
        template, parameters, region=REGION, account_id=ACCOUNT, prefix_list_id=prefix_list_id
    )
