"""The templates deployed through the real ``Transform:``: ``build/example.yaml`` and every
golden input (``tests/golden/input``), with what each needs to deploy on the engine."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor_cli.templates import load_template

from integration.engine import ACCOUNT, REGION, ROOT, Engine

GOLDEN = ROOT / "tests" / "golden" / "input"
EXAMPLE = ROOT / "build" / "example.yaml"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/worker:1.0"
# Values for parameters that have no default, by name.
PARAMETER_VALUES = {
    "WorkerImage": IMAGE,
    "Uploaders": f"arn:aws:iam::{ACCOUNT}:role/uploader,arn:aws:iam::{ACCOUNT}:role/operator",
}
# The goldens name an existing network by made-up IDs; on the engine they become the IDs
# of a network made for them (``existing_network``), in the template and in expand alike.
MADE_UP = {
    "vpc": ("vpc-0abc1234def567890", "vpc-0123456789abcdef0"),
    "subnet1": ("subnet-0aaa1111bbb22222a", "subnet-0123456789abcdef0"),
    "subnet2": ("subnet-0ccc3333ddd44444b",),
    "route_table": ("rtb-0123456789abcdef0",),
    "security_group": ("sg-0123456789abcdef0",),
    "endpoint": ("vpce-0123456789abcdef0",),
}


# Cases the engine cannot deploy for a fault of its own, each with the cause (DESIGN.md,
# "The second engine"). Their tests are strict xfails: a fixed engine makes them fail,
# and the entry goes.
ENGINE_FAULTS = {
    "special_characters": (
        "Unresolved resource dependencies [!*]",
        "the engine reads Fn::Sub's documented escape ${!Literal} as a reference",
    ),
}


def engine_fault(name: str, status: str, reason: str) -> None:
    """For a case with a known engine fault: fail unless the engine refused it with exactly
    that fault (a fixed engine, or another failure, must not pass as the known one), then
    mark the test as an expected failure."""
    fault = ENGINE_FAULTS.get(name)
    if fault is None:
        return
    text, cause = fault
    assert status == "REFUSED" and text in reason, (
        f"expected the known engine fault {text!r}, got {status}: {reason[:300]}"
    )
    pytest.xfail(f"{cause}: {text}")


@dataclass
class Case:
    name: str
    stack: str
    text: str
    template: dict[str, Any]
    parameters: dict[str, str]


def existing_network(engine: Engine) -> tuple[dict[str, str], dict[str, str]]:
    """A VPC with two subnets, a route table, a security group and an S3 gateway endpoint,
    made directly through EC2; returns made-up ID -> its engine ID, and the values of the
    goldens' network parameters that have no default."""
    ec2 = engine.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    group = ec2.create_security_group(
        VpcId=vpc, GroupName="existing-endpoints", Description="existing endpoints"
    )["GroupId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table],
    )["VpcEndpoint"]["VpcEndpointId"]
    real = {
        "vpc": vpc,
        "subnet1": subnets[0],
        "subnet2": subnets[1],
        "route_table": table,
        "security_group": group,
        "endpoint": endpoint,
    }
    substitutions = {made_up: real[kind] for kind, ids in MADE_UP.items() for made_up in ids}
    return substitutions, {"Vpc": vpc, "Subnets": ",".join(subnets), "RouteTables": table}


def stack_name(name: str) -> str:
    return "c-" + re.sub(r"[^A-Za-z0-9-]", "-", name)


def load(
    name: str,
    path: Path,
    substitutions: dict[str, str],
    scratch: Path,
    values: Mapping[str, str] = PARAMETER_VALUES,
) -> Case:
    """The template as sent: made-up IDs substituted; ``values`` for its parameters that
    have no default."""
    text = path.read_text(encoding="utf-8")
    for old, new in substitutions.items():
        text = text.replace(old, new)
    # The same loader the command line uses reads what is sent (short tags and all).
    copy = scratch / path.name
    copy.write_text(text, encoding="utf-8")
    template = load_template(copy)
    parameters = {
        key: values[key]
        for key, spec in template.get("Parameters", {}).items()
        if "Default" not in spec and key in values
    }
    return Case(name, stack_name(name), text, template, parameters)


def golden_names(errors: bool) -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.yaml") if p.stem.startswith("error_") == errors)


def all_cases(engine: Engine, scratch: Path) -> list[Case]:
    """The example and every golden success input, on a network made for them."""
    substitutions, network = existing_network(engine)
    values = {**PARAMETER_VALUES, **network}
    cases = [load("example", EXAMPLE, substitutions, scratch, values)]
    cases += [
        load(n, GOLDEN / f"{n}.yaml", substitutions, scratch, values)
        for n in golden_names(errors=False)
    ]
    return cases
