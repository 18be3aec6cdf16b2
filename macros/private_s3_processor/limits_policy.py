"""The size of each generated role's inline policy once deployed, against IAM's quota.

CloudFormation resolves the intrinsics before IAM measures the policy, so ``deployed``
stands each one in with its longest deployed value (a bucket name at 63 characters, a
pseudo parameter at its longest, anything else at a generous bound).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import resource_error
from .rules import MAX_ROLE_INLINE_POLICY_CHARS

# Longest values of what CloudFormation substitutes at deploy time.
_PSEUDO_CHARS = {
    "AWS::Partition": len("aws-us-gov"),
    "AWS::Region": len("us-isof-south-1"),  # the longest Region code, 15 characters
    "AWS::AccountId": 12,
    "AWS::StackName": 128,  # CloudFormation quota "Stack name"
    "AWS::URLSuffix": len("amazonaws.com.cn"),
    "AWS::NoValue": 0,
}
BUCKET_NAME_CHARS = 63  # S3 bucket naming rules
# A bucket's Arn attribute: "arn:<partition>:s3:::<name>".
BUCKET_ARN_CHARS = len("arn::s3:::") + _PSEUDO_CHARS["AWS::Partition"] + BUCKET_NAME_CHARS
# Anything else only known once deployed (an ARN from GetAtt, a queue URL, a user's
# intrinsic): generous beside the ARNs the roles name, which stay under 200 characters.
_UNKNOWN_CHARS = 256
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WHITESPACE = re.compile(r"\s")

# The properties whose text ends up in each generated role's inline policy.
_POLICY_INPUTS = {
    "TaskRole": "Prefix and OutputPrefix (IAM writes each *, ? and $ in them as a 4-character "
    "variable, and they appear in several statements)",
    "ExecutionRole": "Image",
}


def role_policy(
    processor: str, name: str, props: Mapping[str, Any], types: Mapping[str, Any]
) -> list[str]:
    """An error when role ``name``'s inline policies, deployed, exceed IAM's quota."""
    documents = [
        p.get("PolicyDocument") for p in props.get("Policies") or [] if isinstance(p, Mapping)
    ]
    # Resolving every intrinsic is a third of these checks; no intrinsic deploys longer
    # than _UNKNOWN_CHARS, so a role whose written policy plus that much per intrinsic
    # fits cannot exceed the quota (nearly every role).
    written = json.dumps(documents, separators=(",", ":"), ensure_ascii=False)
    intrinsics = written.count('{"Ref":') + written.count('{"Fn::') + written.count("${")
    if len(written) + intrinsics * _UNKNOWN_CHARS <= MAX_ROLE_INLINE_POLICY_CHARS:
        return []
    total = sum(
        len(
            _WHITESPACE.sub(
                "", json.dumps(deployed(d, types), separators=(",", ":"), ensure_ascii=False)
            )
        )
        for d in documents
    )
    if total <= MAX_ROLE_INLINE_POLICY_CHARS:
        return []
    inputs = _POLICY_INPUTS.get(name[len(processor) :], "its properties")
    return [
        resource_error(
            processor,
            None,
            f"the inline policy of {name} would be up to {total:,} characters once deployed, "
            f"from {inputs}; IAM allows {MAX_ROLE_INLINE_POLICY_CHARS:,} per role (IAM and "
            "AWS STS quotas, role policy size)",
        )
    ]


def deployed(value: Any, types: Mapping[str, Any]) -> Any:
    """``value`` with every intrinsic replaced by a stand-in as long as its longest
    deployed value, for measuring sizes CloudFormation checks after resolving them;
    ``types`` gives each logical ID's resource type (a bucket's name is at most 63)."""

    def ref_chars(name: Any) -> int:
        if name in _PSEUDO_CHARS:
            return _PSEUDO_CHARS[name]
        if types.get(name) == "AWS::S3::Bucket":
            return BUCKET_NAME_CHARS
        return _UNKNOWN_CHARS

    def sub(arg: Any) -> str:
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(text, str):
            return "x" * _UNKNOWN_CHARS

        def one(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"  # a literal "${...}"
            if isinstance(variables, Mapping) and inner in variables:
                v = walk(variables[inner])
                return v if isinstance(v, str) else "x" * _UNKNOWN_CHARS
            if "." in inner:
                return "x" * _UNKNOWN_CHARS
            return "x" * ref_chars(inner)

        return _SUB_VARIABLE.sub(one, text)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return "x" * ref_chars(arg)
            if fn == "Fn::Sub":
                return sub(arg)
            if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = walk(arg[1])
                if isinstance(arg[0], str) and isinstance(parts, list):
                    return arg[0].join(
                        p if isinstance(p, str) else "x" * _UNKNOWN_CHARS for p in parts
                    )
            if fn == "Fn::GetAtt" and _bucket_arn(arg, types):
                return "x" * BUCKET_ARN_CHARS
            if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return max((walk(arg[1]), walk(arg[2])), key=lambda v: len(json.dumps(v)))
            if fn.startswith("Fn::"):  # GetAtt and the rest: known only once deployed
                return "x" * _UNKNOWN_CHARS
        return {k: walk(v) for k, v in node.items()}

    return walk(value)


def _bucket_arn(arg: Any, types: Mapping[str, Any]) -> bool:
    """Whether a Fn::GetAtt argument is a bucket's Arn (its length is known)."""
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    return (
        isinstance(arg, list)
        and len(arg) == 2
        and arg[1] == "Arn"
        and types.get(arg[0]) == "AWS::S3::Bucket"
    )
