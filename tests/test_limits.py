"""SPEC 14: what CloudFormation, IAM or EventBridge would refuse, the transform refuses first,
with the documented limit in the message. Each limit is also tested at its boundary: the
largest template that fits expands, one step more does not."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_processor import ExpansionError, rules
from private_s3_processor.context import Context, static_prefix_list
from private_s3_processor.expand import expand
from private_s3_processor.handler import handle
from private_s3_processor.limits_pattern import wildcard_complexity

from tests.conftest import cli
from tests.golden import cases

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"


def processor(**props: Any) -> dict[str, Any]:
    return {"Type": "PrivateS3Processor", "Properties": {"Image": IMAGE, **props}}


def run(resources: dict[str, Any], **template: Any) -> tuple[dict[str, Any], list[str]]:
    ctx = Context("eu-west-1", "123456789012", static_prefix_list("pl-1"))
    out = expand({"Resources": resources, **template}, ctx)
    return out, ctx.warnings


def refused(resources: dict[str, Any], **template: Any) -> list[str]:
    with pytest.raises(ExpansionError) as caught:
        run(resources, **template)
    return caught.value.messages


def test_the_limits_are_the_documented_ones() -> None:
    """The figures rules.py cites (CloudFormation, IAM, EventBridge, S3, tag quotas)."""
    assert rules.MAX_RESOURCES == 500
    assert rules.MAX_LOGICAL_ID_CHARS == 255
    assert rules.MAX_TEMPLATE_BYTES == 1_000_000
    assert rules.MAX_ROLE_INLINE_POLICY_CHARS == 10_240
    assert (rules.DEFAULT_EVENT_PATTERN_QUOTA, rules.MAX_EVENT_PATTERN_CHARS) == (2048, 4096)
    assert rules.MAX_WILDCARD_RULES == 30
    assert rules.MAX_DESCRIPTION_CHARS[("AWS::EC2::SecurityGroup", "GroupDescription")] == 255
    assert (rules.MAX_TAGS, rules.MAX_TAG_KEY_CHARS, rules.MAX_TAG_VALUE_CHARS) == (50, 128, 256)


# Each golden error case of SPEC 14 and the documented figure its message must name.
FIGURES = {
    "error_too_many_resources": ["508 resources", "allows 500 per template"],
    "error_template_size": ["allows 1,000,000"],
    "error_logical_id_too_long": ["300 characters", "allows 255"],
    "error_description_too_long": ["256 characters", "allows 255", "at most 149"],
    "error_policy_size": ["StarsTaskRole", "allows 10,240 per role"],
    "error_wildcard_explosion": ["EventBridge allows 4,096", "allows 1,000,000", "score 1001"],
    "error_wildcard_complexity": ["score 13", "allows 10"],
    "error_wildcard_rules": ["31 processors", "allows 30 rules"],
    "error_tags_and_bucket_names": ["team<x>", "192.168.5.4", "sthree-", "amzn-s3-demo-"],
    "error_processor_collisions": ["'InvTaskDefinition'", "'PrivateS3Vpc'"],
    "error_create_endpoints_parameter": ["EndpointSecurityGroupId"],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_golden_limit_messages_name_the_limit(name: str) -> None:
    message = cases.run(name)["errorMessage"]
    for figure in FIGURES[name]:
        assert figure in message, message
    assert "\n" not in message


def test_30_wildcard_rules_fit_31_do_not() -> None:
    both = {f"P{i}": processor(Prefix=f"in{i}/", Suffix=".csv") for i in range(30)}
    run(both)
    [message] = refused({**both, "P30": processor(Prefix="in30/", Suffix=".csv")})
    assert "31 processors" in message
    # A prefix alone or a suffix alone is no wildcard: they do not count.
    run({**both, "Only": processor(Prefix="only/"), "Tail": processor(Suffix=".txt")})


def test_logical_id_boundaries() -> None:
    run({"P" * 149: processor()})  # the task security group's description: 255 exactly
    [message] = refused({"P" * 150: processor()})
    assert "would be 256 characters" in message and "at most 149" in message


def test_role_policy_boundary() -> None:
    """The deployed size grows with the prefixes; the check fires where IAM would."""
    sizes = []
    for n in range(300, 1000, 50):
        try:
            run({"A": processor(Prefix="*" * n, OutputPrefix="o" + "*" * n)})
            sizes.append((n, True))
        except ExpansionError as exc:
            assert "allows 10,240 per role" in str(exc)
            sizes.append((n, False))
    fits = [ok for _, ok in sizes]
    assert fits[0] and not fits[-1]
    assert fits == sorted(fits, reverse=True)  # once too large, larger stays too large


def test_event_pattern_over_the_default_quota_warns_under_the_maximum() -> None:
    """2,048 characters is EventBridge's default (adjustable) quota, 4,096 its maximum."""
    # Pseudo-random hex: long, but its start seldom repeats (a low wildcard score).
    long_suffix = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(16))[:1000]
    assert wildcard_complexity(f"p*{long_suffix}") <= rules.MAX_WILDCARD_COMPLEXITY
    _, warnings = run({"A": processor(Prefix="p" * 1000, Suffix=long_suffix)})
    assert any("above EventBridge's default quota of 2,048" in w for w in warnings), warnings
    _, none = run({"A": processor(Prefix="p" * 500, Suffix=long_suffix[:500])})
    assert none == []


@pytest.mark.parametrize(
    ("wildcard", "score"),
    [("in/*.csv", 2), ("*", 1), ("p*", 1), ("*aaaa", 5), ("a*ababab", 4), ("x\\**.csv", 2)],
)
def test_wildcard_complexity(wildcard: str, score: int) -> None:
    assert wildcard_complexity(wildcard) == score


def _brute_force(suffix: str) -> int:
    """Most states of the ``*<suffix>`` automaton active at once, over every input of up
    to ``len(suffix) + 2`` characters drawn from the suffix's own alphabet (plus one
    other): the quantity event-ruler's MachineComplexityEvaluator bounds."""
    data = suffix.encode()
    alphabet = [*sorted(set(data)), 0]
    best = 1
    for length in range(len(data) + 3):
        for text in itertools.product(alphabet, repeat=length):
            active = 1 + sum(1 for k in range(1, len(data) + 1) if bytes(text).endswith(data[:k]))
            best = max(best, active)
    return best


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab.", min_size=1, max_size=6))
def test_wildcard_complexity_matches_the_automaton(suffix: str) -> None:
    assert wildcard_complexity(f"in/*{suffix}") == _brute_force(suffix)


def test_wildcard_complexity_boundary() -> None:
    run({"A": processor(Prefix="r/", Suffix="0" * 9)})  # score 10
    [message] = refused({"A": processor(Prefix="r/", Suffix="0" * 10)})
    assert "score 11" in message


def test_tags_within_aws_restrictions_pass() -> None:
    tags = {f"k{i}": "v" for i in range(48)} | {"Team Ünïcode +-=._:/@": "ok value 1"}
    run({"A": processor(Tags=tags)})
    # 50 is AWS's limit per resource, but the shared VPC also carries the Name the
    # transform adds: 50 Tags would give it 51.
    [vpc] = refused({"A": processor(Tags={**tags, "fiftieth": "x"})})
    assert "PrivateS3Vpc would carry 51 tags" in vpc and "AWS allows 50" in vpc
    # A Name Tag replaces the VPC's, but each task definition also carries the owner tag
    # its tasks are told apart by (roles may stop only their processor's tasks).
    [task] = refused({"A": processor(Tags={**tags, "Name": "mine"})})
    assert "ATaskDefinition would carry 51 tags" in task
    # In any case: IAM matches aws:ResourceTag/<key> ignoring case, so a second key
    # differing only in case would make the owner condition ambiguous.
    for key in ("private-s3-processor:processor", "Private-S3-Processor:Processor"):
        [owner] = refused({"A": processor(Tags={key: "x"})})
        assert "must not set private-s3-processor:processor" in owner
    [message] = refused({"A": processor(Tags={**tags, "x": "1", "y": "2"})})
    assert "at most 50 tags" in message
    [value] = refused({"A": processor(Tags={"owner": "aws:me"})})
    assert "reserved tag prefix aws:" in value


def test_create_endpoints_from_a_string_parameter_is_read_as_a_boolean() -> None:
    network = {
        "VpcId": "vpc-1",
        "SubnetIds": ["subnet-1"],
        "RouteTableIds": ["rtb-1"],
        "CreateEndpoints": {"Ref": "Create"},
    }
    ctx = Context(
        "eu-west-1", "123456789012", static_prefix_list("pl-1"), parameters={"Create": "true"}
    )
    out = expand({"Resources": {"A": processor(Network=network)}}, ctx)
    assert out["Resources"]["AS3Endpoint"]["Type"] == "AWS::EC2::VPCEndpoint"


def test_mixed_endpoint_sets_on_a_shared_network_warn() -> None:
    out, warnings = run({"Small": processor(Endpoints="Minimal"), "Full": processor()})
    assert [w for w in warnings if "'Small': property 'Endpoints'" in w]
    assert "PrivateS3EcsEndpoint" in out["Resources"]
    _, quiet = run({"Small": processor(Endpoints="Minimal")})
    assert quiet == []


def test_principals_from_a_list_parameter_and_account_wide_patterns() -> None:
    out, warnings = run({"A": processor(AllowedPrincipalArns={"Ref": "Uploaders"})})
    deny = out["Resources"]["ABucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]
    assert deny["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": {"Ref": "Uploaders"}}
    assert warnings == []
    _, wide = run({"A": processor(AllowedPrincipalArns=["arn:aws:iam::123456789012:*"])})
    assert any("every principal of account 123456789012" in w for w in wide), wide
    _, role = run({"A": processor(AllowedPrincipalArns=["arn:aws:iam::123456789012:role/up"])})
    assert role == []


def test_the_handler_logs_warnings_and_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    request = {
        "requestId": "r-1",
        "region": "eu-west-1",
        "accountId": "123456789012",
        "fragment": {"Resources": {"Small": processor(Endpoints="Minimal"), "Full": processor()}},
    }
    with caplog.at_level(logging.WARNING, logger="private_s3_processor"):
        response = handle(request, static_prefix_list("pl-1"))
    assert response["status"] == "success"
    logged = [json.loads(r.getMessage()) for r in caplog.records if "warnings" in r.getMessage()]
    assert logged and logged[0]["requestId"] == "r-1"


def test_deep_nesting_is_refused_by_the_handler_too() -> None:
    value: Any = "x"
    for _ in range(600):
        value = {"Fn::Join": ["", [value]]}
    response = handle(
        {
            "requestId": "r-2",
            "region": "eu-west-1",
            "accountId": "123456789012",
            "fragment": {"Resources": {"A": processor(Environment={"X": value})}},
        },
        static_prefix_list("pl-1"),
    )
    assert response["status"] == "failure"
    assert "more than 100 levels deep" in response["errorMessage"]


def test_expand_prints_warnings_on_stderr_and_succeeds(tmp_path: Path) -> None:
    template = {
        "Transform": "PrivateS3Processor",
        "Resources": {
            "Small": processor(Prefix="a/", Endpoints="Minimal"),
            "Full": processor(Prefix="b/"),
        },
    }
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(template))
    run_ = cli("expand", str(path), "--s3-prefix-list-id", "pl-1")
    assert run_.returncode == 0, run_.stderr
    assert json.loads(run_.stdout)["Resources"]["PrivateS3EcsEndpoint"]
    [warning] = run_.stderr.splitlines()
    assert warning.startswith("warning: Resource 'Small': property 'Endpoints' is Minimal")
