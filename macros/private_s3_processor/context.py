"""What an expansion knows besides the template: where it runs, and its one AWS seam."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Returns the ID of the AWS-managed prefix list of S3 in a region ("pl-...").
PrefixListLookup = Callable[[str], str]


@dataclass(frozen=True)
class Context:
    """The request around a template: CloudFormation's ``region``, ``accountId`` and
    ``templateParameterValues``, and the lookup of S3's prefix list (the only value
    no intrinsic function can give, see DESIGN.md)."""

    region: str
    account_id: str
    s3_prefix_list: PrefixListLookup
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # Filled by the expansion: what deploys but deserves a look (the command line prints
    # them on stderr, the Lambda logs them; a macro response has no place for them).
    warnings: list[str] = field(default_factory=list)


def static_prefix_list(prefix_list_id: str) -> PrefixListLookup:
    """A lookup that answers one fixed ID: for offline expansion and tests."""

    def lookup(region: str) -> str:
        del region
        return prefix_list_id

    return lookup


def ec2_prefix_list(client_factory: Callable[[str], Any] | None = None) -> PrefixListLookup:
    """A lookup through EC2 ``DescribeManagedPrefixLists``, cached per region for the
    life of the process (a warm Lambda asks once)."""
    cache: dict[str, str] = {}

    def lookup(region: str) -> str:
        if region not in cache:
            if client_factory is None:
                import boto3  # the Lambda runtime provides it; only this seam needs it

                client = boto3.client("ec2", region_name=region)
            else:
                client = client_factory(region)
            name = f"com.amazonaws.{region}.s3"
            answer = client.describe_managed_prefix_lists(
                Filters=[{"Name": "prefix-list-name", "Values": [name]}]
            )
            lists = answer.get("PrefixLists", [])
            if not lists:
                raise LookupError(f"no managed prefix list named {name}")
            cache[region] = str(lists[0]["PrefixListId"])
        return cache[region]

    return lookup
