"""Issue 15, the network's part of the data perimeter, beyond what tests/test_perimeter.py
checks over every output (the S3 gateway endpoint on sample ARNs, the endpoint group's
egress): every request the generated task and execution roles allow passes the
endpoints; interface endpoint policies admit this account's principals only (and, for
logs and sqs, this account's resources); the S3 endpoint policy of the largest template
the macro accepts stays under the size limit; the README's policy for users' own
endpoints is the generated one. Policies are judged by tests/policy_eval.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor.endpoint_policies import MAX_ENDPOINT_POLICY_CHARS, supports_policy
from private_s3_processor.limits_policy import deployed
from private_s3_processor.names import ENDPOINT_WORDS, SHARED_NETWORK, NetworkIds, ProcessorIds
from private_s3_processor_cli.templates import expand_document

from tests.conftest import ROOT
from tests.golden import cases
from tests.iam import as_list
from tests.policy_eval import Decision, Deployment, Request, Resolver, evaluate
from tests.test_perimeter import (
    BRINGS_ENDPOINTS,
    SOURCES,
    endpoints,
    output,
    processors,
    resources_of,
    s3_endpoint_of,
)

# The account and Region the outputs were expanded for: the macro writes some ARNs with
# them literally (the image's repository), so the policies are resolved in the same.
WHERE = Deployment(
    region=cases.REGION,
    account=cases.ACCOUNT,
    stack="app",
    parameters={"WorkerImage": f"{cases.ACCOUNT}.dkr.ecr.{cases.REGION}.amazonaws.com/w:1"},
)
FOREIGN_ACCOUNT = "999988887777"
# Interface endpoint services whose every resource the pipeline reaches is this account's.
ACCOUNT_RESOURCES_ONLY = {"logs", "sqs"}
# Role action prefix -> the interface endpoint services its calls go through.
SERVICE_ENDPOINTS = {
    "ecr": ["ecr.api", "ecr.dkr"],
    "ecs": ["ecs"],
    "kms": ["kms"],
    "logs": ["logs"],
    "sqs": ["sqs"],
}


def role_arn(account: str, name: str = "caller") -> str:
    return f"arn:{WHERE.partition}:iam::{account}:role/{name}"


def network_of(processor: str, props: Mapping[str, Any]) -> NetworkIds | None:
    """The network whose endpoints a processor's tasks use; None when the user brings it."""
    gateway = s3_endpoint_of(processor, props)
    if gateway is None:
        return None
    return SHARED_NETWORK if gateway == SHARED_NETWORK.s3_endpoint else NetworkIds(processor)


def policy_of(template: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    document: dict[str, Any] = Resolver(template, WHERE)(
        template["Resources"][endpoint]["Properties"]["PolicyDocument"]
    )
    return document


def service_of(template: Mapping[str, Any], endpoint: str) -> str:
    """The endpoint's service from its ServiceName: com.amazonaws.<region>.ecr.api is "ecr.api"."""
    name = Resolver(template, WHERE)(template["Resources"][endpoint]["Properties"]["ServiceName"])
    prefix = f"com.amazonaws.{WHERE.region}."
    assert name.startswith(prefix), name
    return str(name.removeprefix(prefix))


# IAM's ${*}, ${?} and ${$} stand for the literal characters; a wildcard for a sample.
_SAMPLE = {"${*}": "*", "${?}": "?", "${$}": "$", "*": "sample", "?": "q"}


def role_requests(template: Mapping[str, Any], role: str) -> Iterator[tuple[str, str]]:
    """(action, resource) of a request each Allow statement of ``role`` permits: a sample
    where the role's ARN has a wildcard, IAM's ``${*}`` as the literal ``*``."""
    resolve = Resolver(template, WHERE)
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for st in resolve(policy["PolicyDocument"])["Statement"]:
            assert st["Effect"] == "Allow" and "Action" in st and "Resource" in st, st
            for action in as_list(st["Action"]):
                for arn in as_list(st["Resource"]):
                    yield action, re.sub(r"\$\{[*?$]\}|[*?]", lambda m: _SAMPLE[m[0]], arn)


def network_requests(name: str) -> Iterator[tuple[str, Decision, tuple[str, ...]]]:
    """For each request a task or execution role allows that goes through an endpoint of
    the output ``name``: which endpoint ("s3" or "interface"), its policy's decision, and
    what it was."""
    template = output(name)
    resolve = Resolver(template, WHERE)
    own = {
        f"arn:{WHERE.partition}:s3:::{resolve({'Ref': b})}"
        for b in resources_of(template, "AWS::S3::Bucket")
    }
    for p, props in processors(name).items():
        network = network_of(p, props)
        if network is None:
            continue
        ids = ProcessorIds(p)
        for role in (ids.task_role, ids.execution_role):
            principal = role_arn(WHERE.account, f"{WHERE.stack}-{role}")
            for action, arn in role_requests(template, role):
                service = action.split(":")[0]
                context: dict[str, Any] = {"aws:PrincipalAccount": WHERE.account}
                if service == "s3":
                    bucket_owner = WHERE.account if arn.split("/")[0] in own else FOREIGN_ACCOUNT
                    s3 = {"aws:ResourceAccount": bucket_owner, "s3:ResourceAccount": bucket_owner}
                    request = Request(action, arn, principal, context | s3)
                    decision = evaluate(policy_of(template, network.s3_endpoint), request)
                    yield "s3", decision, (p, network.s3_endpoint, action, arn)
                for service_name in SERVICE_ENDPOINTS.get(service, []):
                    endpoint = network.interface_endpoint(service_name)
                    if endpoint not in template["Resources"]:  # Endpoints: Minimal
                        continue
                    request = Request(action, arn, principal, context)
                    decision = evaluate(policy_of(template, endpoint), request)
                    yield "interface", decision, (p, endpoint, action, arn)


def creates_endpoints(name: str) -> bool:
    return any(network_of(p, props) for p, props in processors(name).items())


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_request_the_task_and_execution_roles_allow_passes_the_endpoints(
    name: str,
) -> None:
    """What the pipeline itself does is never denied by the network: each S3 request the
    roles allow passes the S3 endpoint of the processor's network, and each request to a
    service with an interface endpoint passes that endpoint's policy (the principal: the
    role, of this account). The image's repository may be another account's."""
    if not creates_endpoints(name):
        pytest.skip(BRINGS_ENDPOINTS)
    checked = {"s3": 0, "interface": 0}
    for kind, decision, what in network_requests(name):
        assert decision is Decision.ALLOW, what
        checked[kind] += 1
    assert checked["s3"] > 0 and checked["interface"] > 0, checked


def interface_allows(
    policy: Mapping[str, Any], service: str, principal_account: str, resource_account: str
) -> bool:
    """Whether an interface endpoint policy of ``service`` allows a call by a role of
    ``principal_account`` on a resource of ``resource_account``."""
    prefix = service.split(".")[0]  # ecr.api and ecr.dkr: ecr's actions
    arn = f"arn:{WHERE.partition}:{prefix}:{WHERE.region}:{resource_account}:thing/x"
    context = {"aws:PrincipalAccount": principal_account}
    request = Request(f"{prefix}:AnyAction", arn, role_arn(principal_account), context)
    return evaluate(policy, request) is Decision.ALLOW


@pytest.mark.parametrize("name", list(SOURCES))
def test_interface_endpoints_admit_this_accounts_principals_only(name: str) -> None:
    if not creates_endpoints(name):
        pytest.skip(BRINGS_ENDPOINTS)
    template = output(name)
    found = endpoints(template, "Interface")
    assert found, f"{name} creates no interface endpoint"
    for endpoint, res in found.items():
        service = service_of(template, endpoint)
        if not supports_policy(service):
            assert "PolicyDocument" not in res["Properties"], endpoint
            continue
        policy = policy_of(template, endpoint)
        assert interface_allows(policy, service, WHERE.account, WHERE.account), endpoint
        assert not interface_allows(policy, service, FOREIGN_ACCOUNT, WHERE.account), endpoint
        assert not interface_allows(policy, service, FOREIGN_ACCOUNT, FOREIGN_ACCOUNT), endpoint
        # Logs and queues are always this account's; a repository or a key may not be.
        theirs = interface_allows(policy, service, WHERE.account, FOREIGN_ACCOUNT)
        assert theirs is (service not in ACCOUNT_RESOURCES_ONLY), endpoint


def test_every_endpoint_service_is_in_some_output() -> None:
    """The test above is idle for a service no output creates an endpoint of."""
    seen = {
        service_of(output(name), endpoint)
        for name in SOURCES
        for endpoint in endpoints(output(name), "Interface")
    }
    assert seen == set(ENDPOINT_WORDS)


def test_every_endpoint_service_has_a_decision() -> None:
    """A new interface endpoint service must be sorted into with or without a policy."""
    assert {s for s in ENDPOINT_WORDS if not supports_policy(s)} == {"ecs-telemetry"}


# --- Size: the largest template the macro accepts ---


def test_the_largest_accepted_template_keeps_the_endpoint_policy_under_the_limit() -> None:
    """40 processors share the created network's S3 endpoint (CloudFormation's 500
    resources refuse 41). Each bucket ARN at its longest deployed length (a 63-character
    name in the longest partition), the longest logical IDs the descriptions allow."""
    image = f"{cases.ACCOUNT}.dkr.ecr.{cases.REGION}.amazonaws.com/worker:1.0"
    ids = [f"P{i:02d}" + "x" * 146 for i in range(41)]
    body = {
        i: {"Type": "PrivateS3Processor", "Properties": {"Image": image, "Endpoints": "Minimal"}}
        for i in ids
    }

    def expand(resources: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = expand_document(
            {"Resources": resources},
            region=cases.REGION,
            account_id=cases.ACCOUNT,
            prefix_list_id=cases.PREFIX_LIST,
        )
        return out

    with pytest.raises(ExpansionError, match="resources"):
        expand(body)
    resources = expand({i: body[i] for i in ids[:40]})["Resources"]
    types = {n: r["Type"] for n, r in resources.items()}
    document = resources[SHARED_NETWORK.s3_endpoint]["Properties"]["PolicyDocument"]
    size = len(json.dumps(deployed(document, types), separators=(",", ":")))
    assert len(document["Statement"][0]["Resource"]) == 80
    assert 40 * 2 * 83 < size < MAX_ENDPOINT_POLICY_CHARS  # 7,247 characters


# --- README: the policy for endpoints the user brings ---


def test_readme_policy_for_your_own_endpoints_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The network: what the endpoints allow", 1)[1].split("\n### ")[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    generated = policy_of(output("existing_vpc"), NetworkIds("Landing").s3_endpoint)
    shown = json.loads(block.replace("111122223333", WHERE.account))
    assert shown == generated
