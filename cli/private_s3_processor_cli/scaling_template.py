"""A processor's scaling resources in an expanded template, as the describe APIs would
return them once deployed: the scalable target, the step scaling policies on it and the
alarms whose actions name those policies. The CloudFormation properties of these three
types carry the API's own field names, so only references need resolving: ``Ref`` to a
parameter takes its value from ``values`` (or the parameter's Default), ``Ref`` to a
resource stands for it (a policy's ARN, the target's ID), anything else is refused with
the field it is in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGET_TYPE = "AWS::ApplicationAutoScaling::ScalableTarget"
POLICY_TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy"
ALARM_TYPE = "AWS::CloudWatch::Alarm"
# Fields that only name AWS resources: the scaler reads metrics by namespace and name.
_OPAQUE = ("Dimensions", "ResourceId", "RoleARN", "ScalingTargetId")


def described_from_template(
    template: Mapping[str, Any], processor: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    from .scaling import ScalingError  # the error type lives with the scaler

    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise ScalingError("the template has no Resources")
    target_id = f"{processor}ScalableTarget"
    target = resources.get(target_id)
    if not isinstance(target, Mapping) or target.get("Type") != TARGET_TYPE:
        raise ScalingError(f"{processor}: no {TARGET_TYPE} named {target_id} (not Queued?)")
    params = _parameters(template, values)

    def resolve(node: Any, where: str) -> Any:
        if isinstance(node, Mapping):
            if set(node) == {"Ref"}:
                name = node["Ref"]
                if name in params:
                    return params[name]
                if name in resources:
                    return name
                raise ScalingError(f"{where}: Ref {name!r} names nothing in the template")
            if len(node) == 1 and next(iter(node)).startswith("Fn::"):
                raise ScalingError(f"{where}: {next(iter(node))} is not resolved here")
            return {k: v if k in _OPAQUE else resolve(v, f"{where}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    def properties(logical: str) -> dict[str, Any]:
        props = resources[logical].get("Properties") or {}
        return dict(resolve(props, logical))

    described_target = properties(target_id)
    policies = []
    for logical, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != POLICY_TYPE:
            continue
        props = resource.get("Properties") or {}
        if props.get("ScalingTargetId") == {"Ref": target_id}:
            policies.append({**properties(logical), "PolicyARN": logical})
    arns = {p["PolicyARN"] for p in policies}
    alarms = []
    for logical, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != ALARM_TYPE:
            continue
        props = resource.get("Properties") or {}
        named = [
            a.get("Ref")
            for k in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for a in props.get(k) or []
            if isinstance(a, Mapping)
        ]
        if arns & set(named):
            alarms.append({"AlarmName": logical, **properties(logical)})
    return described_target, policies, alarms


def _parameters(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values: ``values`` first, then each parameter's Default; numbers typed
    as CloudFormation's Number parameters are read as numbers."""
    found: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        value = values.get(name, spec.get("Default") if isinstance(spec, Mapping) else None)
        if value is None:
            continue
        if isinstance(spec, Mapping) and spec.get("Type") == "Number" and isinstance(value, str):
            value = float(value) if "." in value else int(value)
        found[name] = value
    return found
