"""The data perimeter (SPEC semantics 16, issue 15) of every expanded output: each success
golden case, the example the build writes (tests/snapshots/example.yaml) and examples/.

Policies are judged by evaluating them (tests/policy_eval.py) on sample requests, not by
reading their JSON: the S3 gateway endpoint lets through the processors' buckets and
ECR's layer bucket only; the interface endpoints' group has no usable egress; no role
can stop another processor's tasks; ``User`` reaches the container.

Each check returns its problems, so the tests at the end show every check failing on a
template with the hole it looks for.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor.names import OWNER_TAG, SHARED_NETWORK, ProcessorIds
from private_s3_processor.rules import TYPE_NAME
from private_s3_processor_cli.templates import expand_document, load_template

from tests.conftest import ROOT
from tests.golden import cases
from tests.iam import as_list
from tests.policy_eval import (
    Decision,
    Deployment,
    Request,
    Resolver,
    evaluate,
    evaluate_all,
)

# The account and Region the outputs were expanded for (the macro writes the account into
# some ARNs literally, such as the image's repository).
WHERE = Deployment(
    region=cases.REGION,
    account=cases.ACCOUNT,
    parameters={"WorkerImage": f"{cases.ACCOUNT}.dkr.ecr.{cases.REGION}.amazonaws.com/w:1"},
)
OTHER_ACCOUNT = "999988887777"
# ECR's layer buckets belong to AWS, not to the user: another account again.
LAYER_ACCOUNT = "444455556666"
# "Minimum Amazon S3 bucket permissions for Amazon ECR": image layers are read from
# arn:aws:s3:::prod-<region>-starport-layer-bucket/* (Amazon ECR user guide, "Amazon ECR
# interface VPC endpoints", https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html).
LAYER_BUCKET = "prod-{region}-starport-layer-bucket"
# With no PolicyDocument, AWS attaches the default endpoint policy, full access (AWS
# PrivateLink guide, "Control access to VPC endpoints using endpoint policies",
# https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
DEFAULT_ENDPOINT_POLICY = {
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
}
# AWS::EC2::SecurityGroup: with no egress rule declared, EC2 adds allow-all egress; a
# declared rule replaces it. The rule below reaches only the loopback address, that is
# nothing an endpoint could send to.
NO_EGRESS = {"CidrIp": "127.0.0.1/32", "IpProtocol": "-1"}
TASK_ROLE = f"arn:aws:iam::{WHERE.account}:role/{WHERE.stack}-TaskRole"

# name -> (template as the user writes it, parameter values given)
SOURCES: dict[str, tuple[Path, dict[str, str]]] = {
    **{n: (cases.INPUT / f"{n}.yaml", {}) for n in cases.success_names()},
    "snapshot:example": (ROOT / "tests" / "snapshots" / "example.yaml", dict(WHERE.parameters)),
    **{f"examples:{p.stem}": (p, {}) for p in sorted((ROOT / "examples").glob("*.yaml"))},
}


@functools.cache
def source(name: str) -> dict[str, Any]:
    return load_template(SOURCES[name][0])


@functools.cache
def output(name: str) -> dict[str, Any]:
    if name in cases.success_names():
        return cases.expected(name)
    path, parameters = SOURCES[name]
    return expand_document(
        load_template(path),
        parameters=parameters,
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )


def processors(name: str) -> dict[str, dict[str, Any]]:
    resources = source(name).get("Resources", {})
    return {k: r.get("Properties", {}) for k, r in resources.items() if r["Type"] == TYPE_NAME}


def pairs(select: Callable[[Mapping[str, Any]], bool] | None = None) -> Iterator[Any]:
    for name in SOURCES:
        for p, props in processors(name).items():
            if select is None or select(props):
                yield pytest.param(name, p, id=f"{name}-{p}")


def s3_endpoint_of(processor: str, props: Mapping[str, Any]) -> str | None:
    """The gateway endpoint a processor's tasks go through; None when the user brings it."""
    network = props.get("Network") or {}
    if "VpcId" not in network:
        return SHARED_NETWORK.s3_endpoint
    if network.get("CreateEndpoints", True) is False:
        return None
    return ProcessorIds(processor).own_network.s3_endpoint


BRINGS_ENDPOINTS = "Network.CreateEndpoints is false: the user's own endpoints, not in the output"


def resources_of(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def endpoints(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    found = resources_of(template, "AWS::EC2::VPCEndpoint")
    return {k: r for k, r in found.items() if r["Properties"].get("VpcEndpointType") == kind}


# -- the checks -----------------------------------------------------------------------------


def s3_request(action: str, arn: str, owner: str) -> Request:
    """A request through the endpoint as a task makes it (the endpoint policy's Principal
    is "*": the caller is the task role; the bucket's account is the condition key)."""
    context = {
        "aws:ResourceAccount": owner,
        "s3:ResourceAccount": owner,
        "aws:PrincipalAccount": WHERE.account,
        "aws:PrincipalArn": TASK_ROLE,
        "aws:SecureTransport": True,
    }
    return Request(action, arn, TASK_ROLE, context)


def gateway_problems(
    template: Mapping[str, Any], endpoint: str, processor: str, created_network: bool
) -> list[str]:
    """What the S3 gateway endpoint ``endpoint`` wrongly allows or denies for a task of
    ``processor``."""
    resolve = Resolver(template, WHERE)
    props = template["Resources"][endpoint]["Properties"]
    policy = resolve(props.get("PolicyDocument", DEFAULT_ENDPOINT_POLICY))
    bucket = f"arn:aws:s3:::{resolve({'Ref': ProcessorIds(processor).bucket})}"
    layers = f"arn:aws:s3:::{LAYER_BUCKET.format(region=WHERE.region)}"
    other_layers = f"arn:aws:s3:::{LAYER_BUCKET.format(region='us-east-1')}"
    must_allow = [
        s3_request("s3:GetObject", f"{bucket}/inbound/a.csv", WHERE.account),
        s3_request("s3:PutObject", f"{bucket}/processed/a.csv", WHERE.account),
        s3_request("s3:ListBucket", bucket, WHERE.account),
        s3_request("s3:GetObject", f"{layers}/sha256/0123abcd", LAYER_ACCOUNT),
    ]
    must_deny = [
        s3_request(action, f"arn:aws:s3:::exfiltration-target/{key}", OTHER_ACCOUNT)
        for action in ("s3:GetObject", "s3:PutObject")
        for key in ("a.csv", "processed/a.csv")
    ]
    must_deny += [
        s3_request("s3:ListBucket", "arn:aws:s3:::exfiltration-target", OTHER_ACCOUNT),
        s3_request("s3:GetObject", f"{other_layers}/sha256/0123abcd", LAYER_ACCOUNT),
        s3_request("s3:PutObject", f"{layers}/sha256/0123abcd", LAYER_ACCOUNT),
    ]
    if created_network:
        # Every bucket a created network's tasks use is generated, so even the account's
        # other buckets stay out.
        must_deny += [
            s3_request(a, "arn:aws:s3:::unrelated-bucket/a.csv", WHERE.account)
            for a in ("s3:GetObject", "s3:PutObject")
        ]
    problems = [
        f"{endpoint} denies {r.action} on {r.resource}"
        for r in must_allow
        if evaluate(policy, r) is not Decision.ALLOW
    ]
    problems += [
        f"{endpoint} allows {r.action} on {r.resource} (account {r.context['aws:ResourceAccount']})"
        for r in must_deny
        if evaluate(policy, r) is Decision.ALLOW
    ]
    return problems


def egress_problems(template: Mapping[str, Any]) -> list[str]:
    """Egress the interface endpoints' security groups allow beyond the loopback rule."""
    groups = {
        g["Ref"]
        for e in endpoints(template, "Interface").values()
        for g in e["Properties"].get("SecurityGroupIds", [])
        if isinstance(g, dict) and "Ref" in g
    }
    problems = []
    for group in sorted(groups):
        if group not in resources_of(template, "AWS::EC2::SecurityGroup"):
            problems.append(f"interface endpoints use {group}, not a group of this template")
            continue
        rules = template["Resources"][group]["Properties"].get("SecurityGroupEgress")
        if rules is None:
            problems.append(f"{group} declares no egress, so EC2 gives it allow-all egress")
            continue
        for rule in rules:
            described = isinstance(rule.get("Description"), str) and rule["Description"]
            bare = {k: v for k, v in rule.items() if k != "Description"}
            if bare != NO_EGRESS or not described:
                problems.append(f"{group} egress rule {rule} is not the described {NO_EGRESS}")
        if len(rules) != 1:
            problems.append(f"{group} has {len(rules)} egress rules, not the one {NO_EGRESS}")
    for logical_id, res in resources_of(template, "AWS::EC2::SecurityGroupEgress").items():
        target = res["Properties"].get("GroupId")
        if any(target in ({"Ref": g}, {"Fn::GetAtt": [g, "GroupId"]}) for g in groups):
            problems.append(f"{logical_id} adds egress to endpoint group {target}")
    return problems


def stop_task_problems(template: Mapping[str, Any], owners: Mapping[str, str]) -> list[str]:
    """Roles that may stop a task that is not their processor's. ``owners``: role logical
    ID -> the family whose tasks it must be able to stop (state-machine roles)."""
    resolve = Resolver(template, WHERE)
    families = {
        resolve(r["Properties"]["Family"])
        for r in resources_of(template, "AWS::ECS::TaskDefinition").values()
    }
    families.add(f"{WHERE.stack}-SomeoneElse")
    clusters = [resolve({"Ref": c}) for c in resources_of(template, "AWS::ECS::Cluster")]
    problems = []
    for role, res in resources_of(template, "AWS::IAM::Role").items():
        docs = [resolve(p["PolicyDocument"]) for p in res["Properties"].get("Policies", [])]
        own = owners.get(role)
        for cluster, family in [(c, f) for c in clusters for f in [*families, None]]:
            arn = f"arn:aws:ecs:{WHERE.region}:{WHERE.account}:task/{cluster}/0123456789abcdef"
            context: dict[str, Any] = {
                "ecs:cluster": f"arn:aws:ecs:{WHERE.region}:{WHERE.account}:cluster/{cluster}"
            }
            if family is not None:
                context[f"aws:ResourceTag/{OWNER_TAG}"] = family
            allowed = evaluate_all(docs, Request("ecs:StopTask", arn, context=context), "identity")
            if (allowed is Decision.ALLOW) != (family is not None and family == own):
                what = "allows" if allowed is Decision.ALLOW else "denies"
                problems.append(f"{role} {what} ecs:StopTask on {cluster} tasks tagged {family}")
    return problems


# -- over every output ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "processor"), list(pairs()))
def test_s3_endpoint_admits_only_its_buckets_and_ecr_layers(name: str, processor: str) -> None:
    endpoint = s3_endpoint_of(processor, processors(name)[processor])
    if endpoint is None:
        pytest.skip(BRINGS_ENDPOINTS)
    template = output(name)
    assert endpoint in endpoints(template, "Gateway"), f"{endpoint} missing from {name}"
    created = endpoint == SHARED_NETWORK.s3_endpoint
    assert gateway_problems(template, endpoint, processor, created) == []


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_gateway_endpoint_is_checked(name: str) -> None:
    """No S3 endpoint in an output escapes the test above (each serves some processor)."""
    wanted = {s3_endpoint_of(p, props) for p, props in processors(name).items()} - {None}
    assert set(endpoints(output(name), "Gateway")) == wanted


@pytest.mark.parametrize("name", list(SOURCES))
def test_endpoint_group_has_no_usable_egress(name: str) -> None:
    creates = [p for p, props in processors(name).items() if s3_endpoint_of(p, props)]
    if not creates:
        pytest.skip(BRINGS_ENDPOINTS)
    template = output(name)
    assert endpoints(template, "Interface"), f"{name} creates no interface endpoint"
    assert egress_problems(template) == []


@pytest.mark.parametrize("name", list(SOURCES))
def test_no_role_stops_another_processors_tasks(name: str) -> None:
    template = output(name)
    resolve = Resolver(template, WHERE)
    owners = {
        ProcessorIds(p).state_machine_role: resolve(
            template["Resources"][ProcessorIds(p).task_definition]["Properties"]["Family"]
        )
        for p, props in processors(name).items()
        if props.get("Delivery") == "Orchestrated"
    }
    assert set(owners) <= set(template["Resources"])
    assert stop_task_problems(template, owners) == []


def user_problems(template: Mapping[str, Any], processor: str, wanted: Any) -> list[str]:
    """How the worker container's user differs from the processor's ``User`` (none: the
    image's own user)."""
    definition = template["Resources"][ProcessorIds(processor).task_definition]
    containers = definition["Properties"]["ContainerDefinitions"]
    (worker,) = [c for c in containers if c["Name"] == "worker"]
    resolve = Resolver(template, WHERE)
    got = resolve(worker.get("User"))
    if got != resolve(wanted):
        return [f"{processor}: the container's User is {got!r}, not {wanted!r}"]
    return []


@pytest.mark.parametrize(("name", "processor"), list(pairs()))
def test_container_runs_as_user(name: str, processor: str) -> None:
    """With ``User`` the container runs as that user; without it, as the image says."""
    wanted = processors(name)[processor].get("User")
    assert user_problems(output(name), processor, wanted) == []


def test_some_output_sets_user() -> None:
    """The User test above is idle unless some case sets it."""
    assert list(pairs(lambda props: "User" in props)), "no golden case or example sets User"


# -- each check fails on the hole it looks for ---------------------------------------------


def created_case() -> dict[str, Any]:
    """The defaults case with the perimeter the contract asks for, built here so that
    these tests do not wait on the macro: then holes are cut one at a time."""
    template = copy.deepcopy(cases.expected("defaults"))
    res = template["Resources"]
    bucket = {"Fn::GetAtt": [ProcessorIds("Uploads").bucket, "Arn"]}
    layers = {"Fn::Sub": "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"}
    res[SHARED_NETWORK.s3_endpoint]["Properties"]["PolicyDocument"] = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [bucket, {"Fn::Join": ["", [bucket, "/*"]]}],
            },
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": layers},
        ]
    }
    group = res[SHARED_NETWORK.endpoint_security_group]["Properties"]
    group["SecurityGroupEgress"] = [{**NO_EGRESS, "Description": "Endpoints start no connection"}]
    return template


def test_the_gateway_check_passes_a_tight_policy_and_fails_loose_ones() -> None:
    endpoint, template = SHARED_NETWORK.s3_endpoint, created_case()
    assert gateway_problems(template, endpoint, "Uploads", True) == []
    props = template["Resources"][endpoint]["Properties"]
    tight = props.pop("PolicyDocument")
    assert any(
        "exfiltration-target" in p for p in gateway_problems(template, endpoint, "Uploads", True)
    )
    props["PolicyDocument"] = DEFAULT_ENDPOINT_POLICY
    assert gateway_problems(template, endpoint, "Uploads", True)
    own_account = copy.deepcopy(tight)
    own_account["Statement"][0]["Resource"] = "*"
    own_account["Statement"][0]["Condition"] = {
        "StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}
    }
    props["PolicyDocument"] = own_account
    # The account's own buckets: fine for a VPC the user shares, not for a created one.
    assert gateway_problems(template, endpoint, "Uploads", False) == []
    assert gateway_problems(template, endpoint, "Uploads", True) == [
        f"{endpoint} allows s3:{a} on arn:aws:s3:::unrelated-bucket/a.csv (account {WHERE.account})"
        for a in ("GetObject", "PutObject")
    ]
    any_layer = copy.deepcopy(tight)
    any_layer["Statement"][1]["Resource"] = "arn:aws:s3:::prod-*-starport-layer-bucket/*"
    props["PolicyDocument"] = any_layer
    assert gateway_problems(template, endpoint, "Uploads", True) == [
        f"{endpoint} allows s3:GetObject on arn:aws:s3:::prod-us-east-1-starport-layer-bucket/"
        f"sha256/0123abcd (account {LAYER_ACCOUNT})"
    ]
    no_layers = copy.deepcopy(tight)
    del no_layers["Statement"][1]
    props["PolicyDocument"] = no_layers
    assert gateway_problems(template, endpoint, "Uploads", True) == [
        f"{endpoint} denies s3:GetObject on arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/"
        "sha256/0123abcd"
    ]


def test_the_egress_check_fails_on_default_or_real_egress() -> None:
    template = created_case()
    assert egress_problems(template) == []
    group = template["Resources"][SHARED_NETWORK.endpoint_security_group]["Properties"]
    rule = group.pop("SecurityGroupEgress")[0]
    assert egress_problems(template)  # EC2's default allow-all
    group["SecurityGroupEgress"] = [{**rule, "CidrIp": "0.0.0.0/0"}]
    assert egress_problems(template)
    group["SecurityGroupEgress"] = [{k: v for k, v in rule.items() if k != "Description"}]
    assert egress_problems(template)
    group["SecurityGroupEgress"] = [rule]
    template["Resources"]["Leak"] = {
        "Type": "AWS::EC2::SecurityGroupEgress",
        "Properties": {
            "GroupId": {"Ref": SHARED_NETWORK.endpoint_security_group},
            "IpProtocol": "-1",
            "CidrIp": "0.0.0.0/0",
        },
    }
    assert egress_problems(template)


def test_the_stop_task_check_fails_on_an_unscoped_role() -> None:
    template = copy.deepcopy(cases.expected("orchestrated"))
    role = ProcessorIds("Invoices").state_machine_role
    family = f"{WHERE.stack}-Invoices"
    statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (follow,) = [s for s in statements if "ecs:StopTask" in as_list(s["Action"])]
    follow["Action"] = [a for a in as_list(follow["Action"]) if a != "ecs:StopTask"]
    scoped = {
        "Effect": "Allow",
        "Action": "ecs:StopTask",
        "Resource": follow["Resource"],
        "Condition": {
            "StringEquals": {
                f"aws:ResourceTag/{OWNER_TAG}": {"Fn::Sub": "${AWS::StackName}-Invoices"}
            }
        },
    }
    statements.append(scoped)
    assert stop_task_problems(template, {role: family}) == []
    del scoped["Condition"]  # the unscoped statement: any task of the shared cluster
    problems = stop_task_problems(template, {role: family})
    assert (
        f"{role} allows ecs:StopTask on {template_cluster(template)} tasks tagged None" in problems
    )
    assert any(f"tagged {WHERE.stack}-Receipts" in p for p in problems)
    statements.remove(scoped)  # and one that cannot stop its own task either
    assert stop_task_problems(template, {role: family}) == [
        f"{role} denies ecs:StopTask on {template_cluster(template)} tasks tagged {family}"
    ]


def template_cluster(template: dict[str, Any]) -> str:
    return str(Resolver(template, WHERE)({"Ref": SHARED_NETWORK.owner + "Cluster"}))


def test_the_user_check_can_fail() -> None:
    template = copy.deepcopy(cases.expected("defaults"))
    assert user_problems(template, "Uploads", None) == []
    assert user_problems(template, "Uploads", "10001")  # User asked, not applied
    definition = template["Resources"][ProcessorIds("Uploads").task_definition]
    definition["Properties"]["ContainerDefinitions"][0]["User"] = "10001"
    assert user_problems(template, "Uploads", "10001") == []
    assert user_problems(template, "Uploads", None)  # applied, never asked
    assert user_problems(template, "Uploads", "10002")
