"""Issue 15, the network's part of the data perimeter: what each endpoint policy allows,
evaluated for sample requests, for every request the generated task and execution roles
allow, and at the largest template the macro accepts; the endpoints' group has no usable
egress; the README's policy for users' own endpoints is the generated one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from private_s3_processor import ExpansionError
from private_s3_processor.endpoint_policies import MAX_ENDPOINT_POLICY_CHARS
from private_s3_processor.limits_policy import deployed
from private_s3_processor.names import ENDPOINT_WORDS, SHARED_NETWORK, NetworkIds
from private_s3_processor_cli.templates import expand_document

from tests.conftest import ROOT
from tests.golden import cases
from tests.iam import as_list

PARTITION, REGION, ACCOUNT, STACK = "aws", cases.REGION, cases.ACCOUNT, "app"
FOREIGN_ACCOUNT = "999988887777"
# The account that owns ECR's layer buckets: not the stack's, that is all that matters.
AWS_OWNED_ACCOUNT = "000000000000"
LAYER_BUCKET = f"prod-{REGION}-starport-layer-bucket"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"


@cache
def expansion(case: str) -> dict[str, Any]:
    out: dict[str, Any] = cases.run(case)
    return out


def expand(resources: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = expand_document(
        {"Resources": resources},
        region=REGION,
        account_id=ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )
    return out


def processor(**props: Any) -> dict[str, Any]:
    return {"Type": "PrivateS3Processor", "Properties": {"Image": IMAGE, **props}}


# --- Resolving a template's intrinsics as CloudFormation would, in account ACCOUNT ---


def physical_name(template: dict[str, Any], logical_id: str) -> str:
    props = template["Resources"][logical_id].get("Properties", {})
    name = props.get("BucketName")
    return name if isinstance(name, str) else f"{STACK}-{logical_id.lower()}-1a2b3c"


ARN_FORMATS = {
    "AWS::S3::Bucket": "arn:{p}:s3:::{n}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{n}:*",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{n}",
    "AWS::ECS::Cluster": "arn:{p}:ecs:{r}:{a}:cluster/{n}",
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role/{n}",
    "AWS::StepFunctions::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{n}",
}
PSEUDO = {
    "AWS::Partition": PARTITION,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}


def ref(template: dict[str, Any], name: str) -> str:
    if name in PSEUDO:
        return PSEUDO[name]
    if name in template.get("Parameters", {}):
        return str(template["Parameters"][name]["Default"])
    return physical_name(template, name)


def get_att(template: dict[str, Any], logical_id: str, attribute: str) -> str:
    kind = template["Resources"][logical_id]["Type"]
    if attribute != "Arn" or kind not in ARN_FORMATS:  # fail loudly, never guess
        raise KeyError(f"no stand-in for {logical_id}.{attribute} ({kind})")
    name = physical_name(template, logical_id)
    return ARN_FORMATS[kind].format(p=PARTITION, r=REGION, a=ACCOUNT, n=name)


def resolve(template: dict[str, Any], value: Any) -> Any:
    if isinstance(value, list):
        return [resolve(template, v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return ref(template, arg)
        if fn == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return get_att(template, logical_id, attribute)
        if fn == "Fn::Join":
            return arg[0].join(resolve(template, arg[1]))
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else arg

            def one(m: re.Match[str]) -> str:
                inner = m.group(1)
                if inner.startswith("!"):
                    return "${" + inner[1:] + "}"
                if inner in names:
                    return str(resolve(template, names[inner]))
                if "." in inner:
                    return get_att(template, *inner.split(".", 1))
                return ref(template, inner)

            return re.sub(r"\$\{([^}]*)\}", one, text)
        if fn.startswith("Fn::"):
            raise KeyError(f"no stand-in for {fn}")
    return {k: resolve(template, v) for k, v in value.items()}


# --- A request, and an endpoint policy's answer to it ---


def iam_match(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, 0 if case else re.IGNORECASE) is not None


def allows(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether an endpoint policy (Allow statements, StringEquals conditions: all the
    generated ones use) allows ``action`` on ``resource`` in the request ``context``."""
    allowed = False
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and st["Principal"] == "*", st
        assert set(st.get("Condition", {})) <= {"StringEquals"}, st
        if not any(iam_match(a, action, case=False) for a in as_list(st["Action"])):
            continue
        if not any(iam_match(r, resource) for r in as_list(st["Resource"])):
            continue
        conditions = st.get("Condition", {}).get("StringEquals", {})
        if all(context.get(key) in as_list(want) for key, want in conditions.items()):
            allowed = True
    return allowed


def endpoint_policy(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    policy: dict[str, Any] = resolve(
        template, template["Resources"][logical_id]["Properties"]["PolicyDocument"]
    )
    return policy


def s3(account: str = ACCOUNT) -> dict[str, str]:
    """The request context of an S3 request by a principal of the stack's account to a
    bucket of ``account``."""
    return {"aws:ResourceAccount": account, "aws:PrincipalAccount": ACCOUNT}


def bucket(name: str) -> str:
    return f"arn:{PARTITION}:s3:::{name}"


# --- The S3 gateway endpoint ---


def test_created_network_reaches_the_processors_buckets_and_the_layer_bucket_only() -> None:
    template = expansion("two_processors")
    policy = endpoint_policy(template, SHARED_NETWORK.s3_endpoint)
    buckets = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"]
    assert len(buckets) == 2
    for logical_id in buckets:
        own = bucket(physical_name(template, logical_id))
        for action, arn in [
            ("s3:GetObject", f"{own}/inbound/a.csv"),
            ("s3:PutObject", f"{own}/out/a.csv"),
            ("s3:ListBucket", own),
            ("s3:ListBucketVersions", own),
        ]:
            assert allows(policy, action, arn, s3()), (action, arn)
    # Another bucket of the same account is not a processor's: the created VPC has no
    # other S3 user, so it is denied too.
    for action, arn, account in [
        ("s3:GetObject", bucket("exfil-target") + "/a", FOREIGN_ACCOUNT),
        ("s3:PutObject", bucket("exfil-target") + "/a", FOREIGN_ACCOUNT),
        ("s3:ListBucket", bucket("exfil-target"), FOREIGN_ACCOUNT),
        ("s3:PutObject", bucket("other-bucket-of-this-account") + "/a", ACCOUNT),
        ("s3:PutObject", f"{bucket(LAYER_BUCKET)}/layer", AWS_OWNED_ACCOUNT),
        ("s3:GetObject", f"{bucket('prod-us-east-1-starport-layer-bucket')}/l", AWS_OWNED_ACCOUNT),
        ("s3:ListBucket", bucket(LAYER_BUCKET), AWS_OWNED_ACCOUNT),
    ]:
        assert not allows(policy, action, arn, s3(account)), (action, arn)
    layer = f"{bucket(LAYER_BUCKET)}/sha256/0123abcd"
    assert allows(policy, "s3:GetObject", layer, s3(AWS_OWNED_ACCOUNT))


def test_existing_vpc_endpoint_reaches_the_accounts_buckets_and_the_layer_bucket_only() -> None:
    template = expansion("existing_vpc")
    policy = endpoint_policy(template, NetworkIds("Landing").s3_endpoint)
    own = bucket("any-bucket-of-this-account")
    assert allows(policy, "s3:PutObject", f"{own}/k", s3(ACCOUNT))
    assert allows(policy, "s3:ListBucket", own, s3(ACCOUNT))
    foreign = bucket("exfil-target")
    assert not allows(policy, "s3:PutObject", f"{foreign}/k", s3(FOREIGN_ACCOUNT))
    assert not allows(policy, "s3:GetObject", f"{foreign}/k", s3(FOREIGN_ACCOUNT))
    layer = f"{bucket(LAYER_BUCKET)}/sha256/0123abcd"
    assert allows(policy, "s3:GetObject", layer, s3(AWS_OWNED_ACCOUNT))
    assert not allows(policy, "s3:PutObject", layer, s3(AWS_OWNED_ACCOUNT))
    other_region = f"{bucket('prod-us-east-1-starport-layer-bucket')}/l"
    assert not allows(policy, "s3:GetObject", other_region, s3(AWS_OWNED_ACCOUNT))


def s3_endpoint_of(template: dict[str, Any], p: str) -> str | None:
    """The S3 gateway endpoint the template creates for processor ``p``'s tasks, if any:
    its own (an existing VPC), the shared network's, or another processor's it names."""
    resources = template["Resources"]
    if NetworkIds(p).s3_endpoint in resources:
        return NetworkIds(p).s3_endpoint
    vpc = resources[f"{p}TaskSecurityGroup"]["Properties"]["VpcId"]
    if vpc == {"Ref": SHARED_NETWORK.vpc}:
        return SHARED_NETWORK.s3_endpoint
    text = json.dumps(resources[f"{p}BucketPolicy"]["Properties"]["PolicyDocument"])
    for name in re.findall(r'\{"Ref": "([^"]+)"\}', text):
        if resources.get(name, {}).get("Type") == "AWS::EC2::VPCEndpoint":
            return str(name)
    return None


# IAM's ${*}, ${?} and ${$} stand for the literal characters; a wildcard for a sample.
_SAMPLE = {"${*}": "*", "${?}": "?", "${$}": "$", "*": "sample", "?": "q"}


def _sample(match: re.Match[str]) -> str:
    return _SAMPLE[match[0]]


def role_requests(template: dict[str, Any], role: str) -> Iterator[tuple[str, str]]:
    """(action, resource) of a request each Allow statement of ``role`` permits: a sample
    key where the role's ARN has a wildcard, IAM's ``${*}`` as the literal ``*``."""
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for st in resolve(template, policy["PolicyDocument"])["Statement"]:
            for action in as_list(st["Action"]):
                for arn in as_list(st["Resource"]):
                    yield action, re.sub(r"\$\{[*?$]\}|[*?]", _sample, arn)


def processors(template: dict[str, Any]) -> list[str]:
    return [n[: -len("TaskRole")] for n in template["Resources"] if n.endswith("TaskRole")]


SERVICE_ENDPOINTS = {"ecr": ["ecr.api", "ecr.dkr"], "logs": ["logs"], "sqs": ["sqs"]}
SERVICE_ENDPOINTS |= {"ecs": ["ecs"], "kms": ["kms"]}


@pytest.mark.parametrize("case", cases.success_names())
def test_every_request_the_task_and_execution_roles_allow_passes_the_endpoints(
    case: str,
) -> None:
    """What the pipeline itself does is never denied by the network: each S3 request the
    roles allow passes the S3 endpoint of the processor's network, and each request to a
    service with an interface endpoint passes that endpoint's policy (the principal: the
    role, of this account). The image's repository may be another account's."""
    template = expansion(case)
    own = {
        bucket(physical_name(template, n))
        for n, r in template["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket"
    }
    checked = 0
    for p in processors(template):
        gateway = s3_endpoint_of(template, p)
        network = NetworkIds(gateway[: -len("S3Endpoint")]) if gateway else None
        for role in (f"{p}TaskRole", f"{p}ExecutionRole"):
            for action, arn in role_requests(template, role):
                service = action.split(":")[0]
                if service == "s3" and gateway:
                    account = ACCOUNT if arn.split("/")[0] in own else FOREIGN_ACCOUNT
                    policy = endpoint_policy(template, gateway)
                    assert allows(policy, action, arn, s3(account)), (p, action, arn)
                    checked += 1
                for service_name in SERVICE_ENDPOINTS.get(service, []) if network else []:
                    assert network is not None
                    endpoint = network.interface_endpoint(service_name)
                    if endpoint not in template["Resources"]:
                        continue
                    policy = endpoint_policy(template, endpoint)
                    context = {"aws:PrincipalAccount": ACCOUNT}
                    assert allows(policy, action, arn, context), (p, endpoint, action, arn)
                    checked += 1
    if any(s3_endpoint_of(template, p) for p in processors(template)):
        assert checked > 0


def test_a_role_reading_another_bucket_would_be_denied() -> None:
    """The check above can fail: a task role statement on a bucket that is not the
    processor's, through the created network's endpoint, is denied."""
    template = expansion("defaults")
    policy = endpoint_policy(template, SHARED_NETWORK.s3_endpoint)
    arn = bucket(f"{STACK}-somebody-elses-bucket") + "/inbound/sample"
    assert not allows(policy, "s3:GetObject", arn, s3(ACCOUNT))


# --- Interface endpoints and their security group ---


def endpoints(template: dict[str, Any]) -> dict[str, str]:
    """Interface endpoint logical ID -> its service, from the ServiceName."""
    found = {}
    for name, res in template["Resources"].items():
        if (
            res["Type"] == "AWS::EC2::VPCEndpoint"
            and res["Properties"].get("VpcEndpointType") == "Interface"
        ):
            found[name] = res["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
            if "ecr." in res["Properties"]["ServiceName"]["Fn::Sub"]:
                found[name] = "ecr." + found[name]
    return found


@pytest.mark.parametrize("case", ["defaults", "kms", "queued_defaults", "existing_vpc"])
def test_interface_endpoints_admit_this_accounts_principals_only(case: str) -> None:
    template = expansion(case)
    found = endpoints(template)
    assert set(found.values()) >= {"ecr.api", "ecr.dkr", "logs"}
    for name, service in found.items():
        props = template["Resources"][name]["Properties"]
        if service == "ecs-telemetry":
            assert "PolicyDocument" not in props
            continue
        policy = endpoint_policy(template, name)
        own = {"aws:PrincipalAccount": ACCOUNT}
        other = {"aws:PrincipalAccount": FOREIGN_ACCOUNT}
        prefix = "ecr" if service.startswith("ecr") else service
        mine = f"arn:{PARTITION}:{prefix}:{REGION}:{ACCOUNT}:thing/x"
        theirs = f"arn:{PARTITION}:{prefix}:{REGION}:{FOREIGN_ACCOUNT}:thing/x"
        assert allows(policy, f"{prefix}:AnyAction", mine, own), name
        assert not allows(policy, f"{prefix}:AnyAction", mine, other), name
        # Logs and queues are always this account's; a repository or a key may not be.
        assert allows(policy, f"{prefix}:AnyAction", theirs, own) == (
            service in ("ecr.api", "ecr.dkr", "ecs", "kms")
        ), name


def test_kms_and_sqs_endpoints_get_their_policies() -> None:
    assert "kms" in endpoints(expansion("kms")).values()
    assert "sqs" in endpoints(expansion("queued_defaults")).values()


@pytest.mark.parametrize("case", cases.success_names())
def test_the_endpoints_group_has_no_usable_egress(case: str) -> None:
    """Loopback only: traffic to 127.0.0.1 never leaves the endpoint's interface. No
    separate egress resource adds a rule to the group."""
    template = expansion(case)
    groups = [
        n
        for n, r in template["Resources"].items()
        if n.endswith("EndpointSecurityGroup") and r["Type"] == "AWS::EC2::SecurityGroup"
    ]
    for name in groups:
        rules = template["Resources"][name]["Properties"]["SecurityGroupEgress"]
        assert [(r["CidrIp"], r["IpProtocol"]) for r in rules] == [("127.0.0.1/32", "-1")]
        assert rules[0]["Description"]
        for other in template["Resources"].values():
            if other["Type"] == "AWS::EC2::SecurityGroupEgress":
                assert other["Properties"]["GroupId"] not in ({"Ref": name}, name)


# --- Size: the largest template the macro accepts ---


def test_the_largest_accepted_template_keeps_the_endpoint_policy_under_the_limit() -> None:
    """40 processors share the created network's S3 endpoint (CloudFormation's 500
    resources refuse 41). Each bucket ARN at its longest deployed length (a 63-character
    name in the longest partition), the longest logical IDs the descriptions allow."""
    ids = [f"P{i:02d}" + "x" * 146 for i in range(41)]
    body = {i: processor(Endpoints="Minimal") for i in ids}
    with pytest.raises(ExpansionError, match="resources"):
        expand(body)
    template = expand({i: body[i] for i in ids[:40]})
    resources = template["Resources"]
    types = {n: r["Type"] for n, r in resources.items()}
    document = resources[SHARED_NETWORK.s3_endpoint]["Properties"]["PolicyDocument"]
    size = len(json.dumps(deployed(document, types), separators=(",", ":")))
    assert len(document["Statement"][0]["Resource"]) == 80
    assert 40 * 2 * 83 < size < MAX_ENDPOINT_POLICY_CHARS  # 7,247 characters
    print(f"largest S3 endpoint policy: {size:,} of {MAX_ENDPOINT_POLICY_CHARS:,} characters")


# --- README: the policy for endpoints the user brings ---


def test_readme_policy_for_your_own_endpoints_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The network: what the endpoints allow", 1)[1].split("\n### ")[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    template = expansion("existing_vpc")
    generated = endpoint_policy(template, NetworkIds("Landing").s3_endpoint)
    shown = json.loads(block.replace("111122223333", ACCOUNT))
    assert shown == generated


def test_every_endpoint_service_has_a_decision() -> None:
    """A new interface endpoint service must be sorted into with or without a policy."""
    from private_s3_processor.endpoint_policies import supports_policy

    assert {s for s in ENDPOINT_WORDS if not supports_policy(s)} == {"ecs-telemetry"}
