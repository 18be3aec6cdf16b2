"""Limits AWS enforces when the processed template is deployed, checked on the output.

The checks read the expansion itself rather than predicting it from the properties: the
output is what CloudFormation, IAM and EventBridge will see, so whatever a module
generates is measured. Each limit and its source is in ``rules.py``. Values that only
exist once deployed (a bucket name, a Region, an ARN behind ``GetAtt``) are counted at
their longest, so a template that passes here cannot exceed a limit in any account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import resource_error
from .rules import (
    DEFAULT_EVENT_PATTERN_QUOTA,
    MAX_DESCRIPTION_CHARS,
    MAX_EVENT_PATTERN_CHARS,
    MAX_RESOURCES,
    MAX_ROLE_INLINE_POLICY_CHARS,
    MAX_TAGS,
    MAX_TEMPLATE_BYTES,
    MAX_WILDCARD_COMPLEXITY,
    MAX_WILDCARD_RULES,
)

# Longest values of what CloudFormation substitutes at deploy time.
_PSEUDO_CHARS = {
    "AWS::Partition": len("aws-us-gov"),
    "AWS::Region": len("us-isof-south-1"),  # the longest Region code, 15 characters
    "AWS::AccountId": 12,
    "AWS::StackName": 128,  # CloudFormation quota "Stack name"
    "AWS::URLSuffix": len("amazonaws.com.cn"),
    "AWS::NoValue": 0,
}
_BUCKET_NAME_CHARS = 63  # S3 bucket naming rules
# Anything else only known once deployed (an ARN from GetAtt, a queue URL, a user's
# intrinsic): generous beside the ARNs the roles name, which stay under 200 characters.
_UNKNOWN_CHARS = 256
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WHITESPACE = re.compile(r"\s")
_BUCKET_REF = re.compile(r'\{"Ref":"[^"]*"\}')


@dataclass
class Findings:
    """What the checks found: errors refuse the template, warnings are only shown."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(
    template: Mapping[str, Any],
    members: Mapping[str, list[str]],
    shared: list[str],
    buckets: Mapping[str, Any],
) -> Findings:
    """Every limit of the processed ``template``. ``members`` maps each processor to the
    logical IDs generated for it, ``shared`` lists the shared network's and cluster's;
    ``buckets`` gives each processor's ``BucketName`` (None when generated)."""
    found = Findings()
    resources: Mapping[str, Any] = template.get("Resources") or {}
    types = {n: r.get("Type") for n, r in resources.items() if isinstance(r, Mapping)}
    # Shared IDs are fixed and short; what a processor's values can stretch is its own.
    owner = {name: p for p, names in members.items() for name in names}
    for name in [*shared, *owner]:
        tags = (resources.get(name) or {}).get("Properties", {}).get("Tags")
        if isinstance(tags, list) and len(tags) > MAX_TAGS:
            # Only the shared VPC adds a tag (Name) of its own: one error says it all.
            found.errors.append(
                f"Template: {name} would carry {len(tags)} tags (the processors' Tags and "
                f"the Name the transform adds); AWS allows {MAX_TAGS} per resource (tag "
                f"restrictions): use at most {MAX_TAGS - (len(tags) - MAX_TAGS)} Tags"
            )
            break

    if len(resources) > MAX_RESOURCES:
        found.errors.append(
            f"Template: the processed template has {len(resources):,} resources "
            f"({len(members)} processors); CloudFormation allows {MAX_RESOURCES} per template "
            "(CloudFormation quotas, Resources): split the processors across stacks"
        )
    size = len(json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_TEMPLATE_BYTES:
        found.errors.append(
            f"Template: the processed template is {size:,} bytes of JSON; CloudFormation "
            f"allows {MAX_TEMPLATE_BYTES:,} (CloudFormation quotas, template body size in an "
            "Amazon S3 object): split the processors across stacks or shorten their values"
        )
    # A long processor ID lengthens every description generated from it: one error per
    # processor, naming the tightest limit. (The descriptions bound the ID to 149
    # characters, well inside the 255 of a generated logical ID; spec.py refuses an ID
    # over 255 itself.)
    too_long: dict[str, tuple[int, str]] = {}

    def note(processor: str, room: int, why: str) -> None:
        if processor not in too_long or room < too_long[processor][0]:
            too_long[processor] = (room, why)

    wildcard_rules = []
    for name, processor in owner.items():
        resource = resources.get(name)
        if not isinstance(resource, Mapping):
            continue
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        for path, value, limit in _descriptions(kind, props):
            if len(value) > limit:
                note(
                    processor,
                    limit - (len(value) - len(processor)),
                    f"the {path} of its {name[len(processor) :]} would be {len(value)} "
                    f"characters and {kind} allows {limit}",
                )
        if kind == "AWS::IAM::Role":
            found.errors += _role_policy(processor, name, props, types)
        if kind == "AWS::Events::Rule" and name == f"{processor}Rule":
            errors, warnings, wildcard = _event_pattern(processor, props, buckets.get(processor))
            found.errors += errors
            found.warnings += warnings
            if wildcard:
                wildcard_rules.append(processor)
    for processor, (room, why) in too_long.items():
        found.errors.append(
            resource_error(
                processor,
                None,
                f"the logical ID is {len(processor)} characters, too long for what is "
                f"generated from it: {why}; use at most {max(room, 1)} characters",
            )
        )
    if len(wildcard_rules) > MAX_WILDCARD_RULES:
        found.errors.append(
            f"Template: {len(wildcard_rules)} processors set both Prefix and Suffix, so their "
            f"rules use wildcard patterns; EventBridge allows {MAX_WILDCARD_RULES} rules with "
            "wildcards per event bus, not adjustable (EventBridge quotas, Rules containing "
            f"wildcards): {', '.join(wildcard_rules[:3])}, ... need a Prefix or a Suffix only"
        )
    return found


def _descriptions(kind: Any, props: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(path, text, limit) of a resource's descriptions: generated ones carry the
    processor's logical ID (the rule descriptions inside a security group too)."""
    places = [
        (prop, props.get(prop), limit)
        for (k, prop), limit in MAX_DESCRIPTION_CHARS.items()
        if k == kind
    ]
    if kind == "AWS::EC2::SecurityGroup":
        rule_limit = MAX_DESCRIPTION_CHARS[("AWS::EC2::SecurityGroupEgress", "Description")]
        for rules in ("SecurityGroupEgress", "SecurityGroupIngress"):
            for i, rule in enumerate(props.get(rules) or []):
                if isinstance(rule, Mapping):
                    places.append(
                        (f"{rules}[{i}].Description", rule.get("Description"), rule_limit)
                    )
    return [(path, text, limit) for path, text, limit in places if isinstance(text, str)]


# The properties whose text ends up in each generated role's inline policy.
_POLICY_INPUTS = {
    "TaskRole": "Prefix and OutputPrefix (IAM writes each *, ? and $ in them as a 4-character "
    "variable, and they appear in several statements)",
    "ExecutionRole": "Image",
}


def _role_policy(
    processor: str, name: str, props: Mapping[str, Any], types: Mapping[str, Any]
) -> list[str]:
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


def _event_pattern(
    processor: str, props: Mapping[str, Any], bucket_name: Any
) -> tuple[list[str], list[str], bool]:
    pattern = props.get("EventPattern")
    if not isinstance(pattern, Mapping):
        return [], [], False
    # The pattern names the bucket with a Ref: counted as the bucket's name, or the
    # longest one S3 allows when generated.
    bucket = bucket_name if isinstance(bucket_name, str) else "b" * _BUCKET_NAME_CHARS
    text = json.dumps(pattern, separators=(",", ":"), ensure_ascii=False)
    ref = _BUCKET_REF.search(text)
    chars = len(text) + (len(json.dumps(bucket)) - len(ref.group(0)) if ref else 0)
    errors, warnings = [], []
    if chars > MAX_EVENT_PATTERN_CHARS:
        errors.append(
            resource_error(
                processor,
                "Prefix",
                f"and 'Suffix' make the rule's event pattern {chars:,} characters; "
                f"EventBridge allows {MAX_EVENT_PATTERN_CHARS:,} (EventBridge quotas, event "
                "pattern size, at its adjustable maximum): shorten them, or avoid a Prefix "
                "that ends with the start of the Suffix (each such overlap adds a value)",
            )
        )
    elif chars > DEFAULT_EVENT_PATTERN_QUOTA:
        warnings.append(
            resource_error(
                processor,
                "Prefix",
                f"and 'Suffix' make the rule's event pattern {chars:,} characters: above "
                f"EventBridge's default quota of {DEFAULT_EVENT_PATTERN_QUOTA:,} (adjustable up "
                f"to {MAX_EVENT_PATTERN_CHARS:,}); the stack deploys only where it was raised",
            )
        )
    wildcard = False
    for value in _key_values(pattern):
        if isinstance(value, Mapping) and isinstance(value.get("wildcard"), str):
            wildcard = True
            score = wildcard_complexity(value["wildcard"])
            if score > MAX_WILDCARD_COMPLEXITY:
                errors.append(
                    resource_error(
                        processor,
                        "Suffix",
                        f"makes the rule's wildcard pattern too complex for EventBridge (score "
                        f"{score}, the transform allows {MAX_WILDCARD_COMPLEXITY}): a Suffix "
                        "that repeats its own start (such as aaaa or abab) keeps many partial "
                        'matches open at once, which EventBridge refuses as "Rule is too '
                        'complex" (DESIGN.md, "Limits")',
                    )
                )
    return errors, warnings, wildcard


def _key_values(pattern: Mapping[str, Any]) -> list[Any]:
    detail = pattern.get("detail")
    obj = detail.get("object") if isinstance(detail, Mapping) else None
    keys = obj.get("key") if isinstance(obj, Mapping) else None
    return list(keys) if isinstance(keys, list) else []


def wildcard_complexity(wildcard: str) -> int:
    """event-ruler's complexity of a ``<prefix>*<suffix>`` wildcard value.

    The prefix is matched deterministically. After the ``*``, the matcher is in the
    ``*`` loop and in every state ``k`` whose first ``k`` bytes of the suffix end the
    input read so far; the most such states at once is one more than the longest chain
    of borders (prefixes that are also suffixes) of a prefix of the suffix. ``.csv``
    scores 2; ``aaaa`` scores 5.
    """
    star = _unescaped_stars(wildcard).find("*")
    data = _unescape(wildcard[star + 1 :]).encode() if star >= 0 else b""
    # KMP: border[i] is the longest proper border of data[: i + 1]; chain[i] counts the
    # borders of data[: i + 1], itself included.
    border = [0] * len(data)
    chain = [0] * len(data)
    for i in range(len(data)):
        k = border[i - 1] if i else 0
        while k and data[i] != data[k]:
            k = border[k - 1]
        if i and data[i] == data[k]:
            k += 1
        border[i] = k
        chain[i] = 1 + (chain[k - 1] if k else 0)
    return 1 + max(chain, default=0)


def _unescaped_stars(wildcard: str) -> str:
    # Escaped characters ("\\*", "\\\\") are blanked so that only a real "*" remains.
    return re.sub(r"\\.", "__", wildcard)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def deployed(value: Any, types: Mapping[str, Any]) -> Any:
    """``value`` with every intrinsic replaced by a stand-in as long as its longest
    deployed value, for measuring sizes CloudFormation checks after resolving them;
    ``types`` gives each logical ID's resource type (a bucket's name is at most 63)."""

    def ref_chars(name: Any) -> int:
        if name in _PSEUDO_CHARS:
            return _PSEUDO_CHARS[name]
        if types.get(name) == "AWS::S3::Bucket":
            return _BUCKET_NAME_CHARS
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
            if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return max((walk(arg[1]), walk(arg[2])), key=lambda v: len(json.dumps(v)))
            if fn.startswith("Fn::"):  # GetAtt and the rest: known only once deployed
                return "x" * _UNKNOWN_CHARS
        return {k: walk(v) for k, v in node.items()}

    return walk(value)


def walk_depth(value: Any, limit: int) -> str | None:
    """The path of the first value nested deeper than ``limit``, or None. Iterative, so
    that measuring a hostile template cannot itself exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return path or "the template"
        if isinstance(node, Mapping):
            stack += [(v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(node)]
    return None
