"""Limits AWS enforces when the processed template is deployed, checked on the output.

The checks read the expansion itself rather than predicting it from the properties: the
output is what CloudFormation, IAM and EventBridge will see, so whatever a module
generates is measured. Each limit and its source is in ``rules.py``. Values that only
exist once deployed (a bucket name, a Region, an ARN behind ``GetAtt``) are counted at
their longest, so a template that passes here cannot exceed a limit in any account.

Here: the driver ``check``, the template-wide limits (tags, resources, size), the
descriptions a long processor ID stretches, and the nesting depth. Each role's inline
policy is measured in ``limits_policy.py``, each rule's event pattern in
``limits_pattern.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import resource_error
from .limits_pattern import event_pattern
from .limits_policy import role_policy
from .rules import (
    MAX_DESCRIPTION_CHARS,
    MAX_RESOURCES,
    MAX_TAGS,
    MAX_TEMPLATE_BYTES,
    MAX_WILDCARD_RULES,
)


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
    found.errors += _tags(resources, [*shared, *owner])
    found.errors += _template_size(template, resources, len(members))
    # A long processor ID lengthens every description generated from it: one error per
    # processor, naming the tightest limit. (The descriptions bound the ID to 149
    # characters, well inside the 255 of a generated logical ID; spec.py refuses an ID
    # over 255 itself.)
    too_long: dict[str, tuple[int, str]] = {}
    wildcard_rules = []
    for name, processor in owner.items():
        resource = resources.get(name)
        if not isinstance(resource, Mapping):
            continue
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        for room, why in _overruns(processor, name, kind, props):
            if processor not in too_long or room < too_long[processor][0]:
                too_long[processor] = (room, why)
        if kind == "AWS::IAM::Role":
            found.errors += role_policy(processor, name, props, types)
        if kind == "AWS::Events::Rule" and name == f"{processor}Rule":
            errors, warnings, wildcard = event_pattern(processor, props, buckets.get(processor))
            found.errors += errors
            found.warnings += warnings
            if wildcard:
                wildcard_rules.append(processor)
    found.errors += [_too_long(processor, *tight) for processor, tight in too_long.items()]
    found.errors += _wildcard_rules(wildcard_rules)
    return found


def _tags(resources: Mapping[str, Any], names: list[str]) -> list[str]:
    """AWS's tags per resource, on the shared resources and each processor's."""
    for name in names:
        tags = (resources.get(name) or {}).get("Properties", {}).get("Tags")
        if isinstance(tags, list) and len(tags) > MAX_TAGS:
            # The transform adds one tag of its own (the VPC's Name, a task definition's
            # owner tag), so the first resource over says it all.
            return [
                f"Template: {name} would carry {len(tags)} tags (the processors' Tags and "
                f"the one the transform adds); AWS allows {MAX_TAGS} per resource (tag "
                f"restrictions): use at most {MAX_TAGS - (len(tags) - MAX_TAGS)} Tags"
            ]
    return []


def _template_size(
    template: Mapping[str, Any], resources: Mapping[str, Any], processors: int
) -> list[str]:
    """CloudFormation's quotas on the whole template: its resources and its bytes."""
    errors = []
    if len(resources) > MAX_RESOURCES:
        errors.append(
            f"Template: the processed template has {len(resources):,} resources "
            f"({processors} processors); CloudFormation allows {MAX_RESOURCES} per template "
            "(CloudFormation quotas, Resources): split the processors across stacks"
        )
    size = len(json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_TEMPLATE_BYTES:
        errors.append(
            f"Template: the processed template is {size:,} bytes of JSON; CloudFormation "
            f"allows {MAX_TEMPLATE_BYTES:,} (CloudFormation quotas, template body size in an "
            "Amazon S3 object): split the processors across stacks or shorten their values"
        )
    return errors


def _overruns(
    processor: str, name: str, kind: Any, props: Mapping[str, Any]
) -> Iterator[tuple[int, str]]:
    """(room, why) for each description of resource ``name`` over its limit: ``room`` is
    the longest processor ID that would fit it."""
    for path, value, limit in _descriptions(kind, props):
        if len(value) > limit:
            yield (
                limit - (len(value) - len(processor)),
                f"the {path} of its {name[len(processor) :]} would be {len(value)} "
                f"characters and {kind} allows {limit}",
            )


def _too_long(processor: str, room: int, why: str) -> str:
    return resource_error(
        processor,
        None,
        f"the logical ID is {len(processor)} characters, too long for what is "
        f"generated from it: {why}; use at most {max(room, 1)} characters",
    )


def _wildcard_rules(wildcard_rules: list[str]) -> list[str]:
    if len(wildcard_rules) > MAX_WILDCARD_RULES:
        return [
            f"Template: {len(wildcard_rules)} processors set both Prefix and Suffix, so their "
            f"rules use wildcard patterns; EventBridge allows {MAX_WILDCARD_RULES} rules with "
            "wildcards per event bus, not adjustable (EventBridge quotas, Rules containing "
            f"wildcards): {', '.join(wildcard_rules[:3])}, ... need a Prefix or a Suffix only"
        ]
    return []


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
