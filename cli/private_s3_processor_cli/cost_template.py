"""Reading what ``cost`` prices out of an expanded template: its resources, their
properties, a literal or a parameter's value, a number, and the subnets (so the
Availability Zones) of an interface endpoint. Each malformed piece is a ``CostError``
naming it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .cost_prices import CostError


def value(node: Any, parameters: Mapping[str, Any], template: Mapping[str, Any], what: str) -> Any:
    """A literal, or a ``Ref`` to a parameter with a given or default value."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        name = node["Ref"]
        if not isinstance(name, str):
            raise CostError(f"{what} is a Ref to {json.dumps(name)[:80]}, not to a name")
        if name in parameters:
            return parameters[name]
        declared = a_map(template.get("Parameters"), "the template's Parameters").get(name)
        if isinstance(declared, dict) and "Default" in declared:
            return declared["Default"]
        raise CostError(f"{what} is !Ref {name}, which has no value (give --parameter {name}=...)")
    if isinstance(node, dict):
        raise CostError(f"{what} is an intrinsic the command cannot evaluate ({json.dumps(node)})")
    return node


def a_map(node: Any, what: str) -> Mapping[str, Any]:
    """An optional map (absent or null: empty); anything else is a clear error."""
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise CostError(f"{what} must be a map (got {json.dumps(node)[:80]})")
    return node


def number(node: Any, what: str) -> float:
    try:
        result = float(node)
    except (TypeError, ValueError):
        raise CostError(f"{what} must be a number (got {json.dumps(node)[:80]})") from None
    if not math.isfinite(result) or result < 0:
        raise CostError(f"{what} must be a finite number of 0 or more (got {node})")
    return result


def resources_of(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = template.get("Resources")
    if not isinstance(found, Mapping):
        raise CostError("the template has no Resources map")
    resources = {}
    for logical_id, resource in found.items():
        if not isinstance(resource, Mapping):
            raise CostError(
                f"Resource '{logical_id}': must be a map (got {json.dumps(resource)[:80]})"
            )
        resources[logical_id] = resource
    return resources


def properties(logical_id: str, resource: Mapping[str, Any]) -> Mapping[str, Any]:
    return a_map(resource.get("Properties"), f"the Properties of {logical_id}")


def zones(
    endpoint: str, subnets: Any, parameters: Mapping[str, Any], template: Mapping[str, Any]
) -> int:
    if isinstance(subnets, list):
        return len(subnets)
    given = value(subnets, parameters, template, f"the subnets of {endpoint}")
    items = given if isinstance(given, list) else str(given).split(",")
    return len([s for s in items if str(s).strip()])
