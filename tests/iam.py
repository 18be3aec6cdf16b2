"""Walking the IAM policy documents of a template (roles, bucket and queue policies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


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
