"""A Mermaid diagram of an expanded template: its resources and who uses whom.

Drawn from the expansion itself (``private-s3-processor diagram``), so the
README's architecture picture changes when the expansion does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from private_s3_processor.names import SHARED_PREFIX
from private_s3_processor.references import referenced

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _short(kind: str) -> str:
    return kind.removeprefix("AWS::")


# Plumbing that every network resource has and IAM documents that name what they
# grant: drawn, they bury the flow; the boxes and subgraphs already say them.
_HIDDEN = frozenset(
    {
        "VpcId",
        "SubnetId",
        "SubnetIds",
        "RouteTableId",
        "Policies",
        "PolicyDocument",
        "AssumeRolePolicyDocument",
    }
)


def _edges(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(property, logical ID) for each reference, named by the top-level property."""
    for prop, value in sorted(resource.get("Properties", {}).items()):
        if prop in _HIDDEN:
            continue
        for target in sorted(referenced(value)):
            yield prop, target
    for target in sorted(_as_list(resource.get("DependsOn"))):
        yield "DependsOn", target


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def mermaid(template: dict[str, Any]) -> str:
    """``flowchart LR`` with one subgraph per processor and one for the shared network."""
    resources: dict[str, Any] = template.get("Resources", {})
    processors = sorted(
        r["Metadata"]["PrivateS3Processor"]["Processor"]
        for r in resources.values()
        if isinstance(r.get("Metadata"), dict) and "PrivateS3Processor" in r["Metadata"]
    )
    groups: dict[str, list[str]] = {p: [] for p in processors}
    groups["shared network and cluster"] = []
    groups["rest of the template"] = []
    for name in resources:
        owner = max((p for p in processors if name.startswith(p)), key=len, default=None)
        if owner is None:
            owner = (
                "shared network and cluster"
                if name.startswith(SHARED_PREFIX)
                else "rest of the template"
            )
        groups[owner].append(name)

    lines = ["flowchart LR"]
    for index, (title, members) in enumerate(groups.items()):
        if not members:
            continue
        label = f"processor {title}" if title in processors else title
        lines.append(f'  subgraph g{index}["{label}"]')
        for name in members:
            kind = _short(resources[name]["Type"])
            lines.append(f'    {_SAFE.sub("_", name)}["{name}<br/>{kind}"]')
        lines.append("  end")
    for name, resource in resources.items():
        seen: set[tuple[str, str]] = set()
        for prop, target in _edges(resource):
            if target not in resources or (prop, target) in seen:
                continue
            seen.add((prop, target))
            lines.append(f"  {_SAFE.sub('_', name)} -->|{prop}| {_SAFE.sub('_', target)}")
    return "\n".join(lines) + "\n"
