"""A processor's resource attributes: which CloudFormation allows on it, and their values.

``spec.parse`` reads the attributes here before the properties: DependsOn,
DeletionPolicy and UpdateReplacePolicy, Metadata, and the refusal of the attributes a
processor cannot honour (Condition, CreationPolicy, UpdatePolicy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import did_you_mean, resource_error, shown

# Resource attributes CloudFormation allows, and what the transform does with them.
SUPPORTED_ATTRIBUTES = (
    "Type",
    "Properties",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
)
UNSUPPORTED_ATTRIBUTES = {
    "Condition": "a processor cannot be conditional (its network and cluster are shared); "
    "put the condition on a separate stack",
    "CreationPolicy": "it has no meaning for a processor",
    "UpdatePolicy": "it has no meaning for a processor",
}
# What a processor accepts for each attribute. Snapshot suits none of its resources;
# RetainExceptOnCreate is a DeletionPolicy option only (template reference,
# "UpdateReplacePolicy attribute": Delete, Retain, Snapshot), and cfn-lint refuses it
# there (E3036).
RESOURCE_POLICIES = {
    "DeletionPolicy": ("Delete", "Retain", "RetainExceptOnCreate"),
    "UpdateReplacePolicy": ("Delete", "Retain"),
}


@dataclass(frozen=True)
class Attributes:
    """The attributes a processor passes on to every resource generated for it."""

    depends_on: tuple[str, ...] = ()
    deletion_policy: str | None = None
    update_replace_policy: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def read(logical_id: str, resource: Mapping[str, Any], errors: list[str]) -> Attributes:
    """The resource's attributes; each problem found is appended to ``errors`` (so the
    properties are still checked and every error of the resource is reported at once)."""
    errors += _unknown(logical_id, resource)
    depends_on = _depends_on(logical_id, resource.get("DependsOn"), errors)
    policies = {}
    for attr, allowed in RESOURCE_POLICIES.items():
        value = resource.get(attr)
        if value is not None and value not in allowed:
            errors.append(
                resource_error(
                    logical_id,
                    None,
                    f"attribute '{attr}' must be one of {', '.join(allowed)} (got {shown(value)})",
                )
            )
        policies[attr] = value
    metadata = resource.get("Metadata", {})
    if not isinstance(metadata, dict):
        errors.append(resource_error(logical_id, None, "attribute 'Metadata' must be a map"))
        metadata = {}
    return Attributes(
        depends_on=depends_on,
        deletion_policy=policies["DeletionPolicy"],
        update_replace_policy=policies["UpdateReplacePolicy"],
        metadata=metadata,
    )


def _unknown(logical_id: str, resource: Mapping[str, Any]) -> list[str]:
    """An error for each attribute a processor refuses or CloudFormation does not know."""
    errors: list[str] = []
    for attr in resource:
        if attr in UNSUPPORTED_ATTRIBUTES:
            errors.append(
                resource_error(
                    logical_id,
                    None,
                    f"attribute '{attr}' is not supported: {UNSUPPORTED_ATTRIBUTES[attr]}",
                )
            )
        elif attr not in SUPPORTED_ATTRIBUTES:
            errors.append(
                resource_error(
                    logical_id,
                    None,
                    f"'{attr}' is not a resource attribute"
                    f"{did_you_mean(attr, SUPPORTED_ATTRIBUTES)}",
                )
            )
    return errors


def _depends_on(logical_id: str, value: Any, errors: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        errors.append(
            resource_error(
                logical_id, None, "attribute 'DependsOn' must be a logical ID or a list of them"
            )
        )
        return ()
    return tuple(items)
