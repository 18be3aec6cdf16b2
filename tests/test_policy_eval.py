"""The offline IAM policy evaluator the perimeter test relies on (tests/policy_eval.py),
on answers known from the IAM documentation: if it were wrong, the perimeter test would
prove nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_eval import (
    Decision,
    Deployment,
    Request,
    Resolver,
    Unsupported,
    evaluate,
)

# -- the evaluator, on answers known from the IAM documentation ---------------------------


def allow(statement: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Statement": [{"Effect": "Allow", "Principal": "*", **statement}, *extra.get("more", [])]
    }


GET = Request("s3:GetObject", "arn:aws:s3:::bucket-one/key", context={"aws:ResourceAccount": "1"})


def test_explicit_deny_wins_and_nothing_is_an_implicit_deny() -> None:
    grant = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    deny = {**grant, "Effect": "Deny", "Action": "s3:GetObject"}
    assert evaluate({"Statement": [grant]}, GET) is Decision.ALLOW
    assert evaluate({"Statement": [deny, grant]}, GET) is Decision.EXPLICIT_DENY
    assert (
        evaluate({"Statement": [grant]}, Request("sqs:SendMessage", "*")) is Decision.IMPLICIT_DENY
    )
    assert evaluate({"Statement": []}, GET) is Decision.IMPLICIT_DENY


def test_actions_ignore_case_resources_do_not() -> None:
    assert evaluate(allow({"Action": "S3:getobj*", "Resource": "*"}), GET) is Decision.ALLOW
    assert evaluate(allow({"Action": "s3:Get?bject", "Resource": "*"}), GET) is Decision.ALLOW
    assert evaluate(allow({"Action": "s3:Put*", "Resource": "*"}), GET) is Decision.IMPLICIT_DENY
    for resource, decision in [
        ("arn:aws:s3:::bucket-one/*", Decision.ALLOW),
        ("arn:aws:s3:::bucket-*/k?y", Decision.ALLOW),
        ("arn:aws:s3:::Bucket-One/*", Decision.IMPLICIT_DENY),
        ("arn:aws:s3:::bucket-one", Decision.IMPLICIT_DENY),
        ("arn:aws:s3:::bucket-one[x]/*", Decision.IMPLICIT_DENY),
    ]:
        assert evaluate(allow({"Action": "s3:*", "Resource": resource}), GET) is decision, resource
    not_action = allow({"NotAction": "s3:Put*", "Resource": "*"})
    assert evaluate(not_action, GET) is Decision.ALLOW
    not_resource = allow({"Action": "*", "NotResource": "arn:aws:s3:::bucket-one/*"})
    assert evaluate(not_resource, GET) is Decision.IMPLICIT_DENY


def test_principals() -> None:
    role = "arn:aws:iam::111122223333:role/r"
    doc = allow({"Action": "*", "Resource": "*"})
    for principal, decision in [
        ({"AWS": "111122223333"}, Decision.ALLOW),
        ({"AWS": "arn:aws:iam::111122223333:root"}, Decision.ALLOW),
        ({"AWS": [role]}, Decision.ALLOW),
        ({"AWS": "*"}, Decision.ALLOW),
        ({"AWS": "999988887777"}, Decision.IMPLICIT_DENY),
        ({"Service": "states.amazonaws.com"}, Decision.IMPLICIT_DENY),
    ]:
        doc["Statement"][0]["Principal"] = principal
        assert evaluate(doc, Request("s3:GetObject", "*", role)) is decision, principal


def conditional(condition: dict[str, Any]) -> dict[str, Any]:
    return allow({"Action": "*", "Resource": "*", "Condition": condition})


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        # several values of a key: OR; several keys, several operators: AND
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a", "j": "c"}, False),
        ({"StringEquals": {"k": "a"}, "StringLike": {"j": "b*"}}, {"k": "a", "j": "bc"}, True),
        ({"StringEquals": {"k": "a"}}, {"K": "a"}, True),  # key names ignore case
        ({"StringEquals": {"k": "a"}}, {"k": "A"}, False),  # values do not
        ({"StringEquals": {"k": "a"}}, {}, False),  # missing key: false...
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # ...except for a negated operator
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),  # matches none of them
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"StringLike": {"k": "a?c*"}}, {"k": "abcdef"}, True),
        ({"StringNotLike": {"k": "a*"}}, {"k": "abc"}, False),
        (
            {"ArnEquals": {"k": "arn:aws:ecs:*:1:cluster/c"}},
            {"k": "arn:aws:ecs:r:1:cluster/c"},
            True,
        ),
        ({"ArnLike": {"k": "arn:aws:ecs:*:1:*"}}, {"k": "arn:aws:ecs:r:2:cluster/c"}, False),
        ({"ArnLike": {"k": "arn:aws:*"}}, {"k": "arn:aws:ecs:r:2:cluster/c"}, False),  # per part
        ({"ArnNotEquals": {"k": "arn:aws:sqs:r:1:q"}}, {"k": "arn:aws:sqs:r:1:p"}, True),
        ({"ArnNotLike": {"k": "arn:aws:sqs:r:1:*"}}, {"k": "arn:aws:sqs:r:1:p"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": False}, True),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": True}, False),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "true"}}, {"k": "a"}, False),
        ({"Null": {"k": "false"}}, {"k": "a"}, True),
        ({"ForAnyValue:StringEquals": {"k": ["a", "b"]}}, {"k": ["c", "b"]}, True),
        ({"ForAnyValue:StringEquals": {"k": "a"}}, {}, False),
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "c"]}, False),
        ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "b"]}, True),
        ({"ForAllValues:StringEquals": {"k": "a"}}, {}, True),  # holds when the key is missing
        ({"ForAllValues:StringNotLike": {"k": "x*"}}, {"k": ["a", "xb"]}, False),
    ],
)
def test_condition_operators(
    condition: dict[str, Any], context: dict[str, Any], allowed: bool
) -> None:
    decision = evaluate(conditional(condition), Request("s3:GetObject", "*", context=context))
    assert (decision is Decision.ALLOW) is allowed


@pytest.mark.parametrize(
    "document",
    [
        conditional({"NumericLessThan": {"k": "1"}}),  # an operator it does not implement
        conditional({"StringEqualsIfExist": {"k": "a"}}),  # a misspelt one
        conditional({"NullIfExists": {"k": "true"}}),
        conditional({"ForSomeValues:StringEquals": {"k": "a"}}),
        conditional({"StringEquals": {"k": "${aws:username}"}}),  # a policy variable
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}},
                },
            ]
        },  # even in a statement that would not otherwise be read first
        allow({"Action": "*", "Resource": "*", "NotPrincipal": {"AWS": "1"}}),
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},  # no Principal
        {"Statement": [{"Effect": "allow", "Principal": "*", "Action": "*", "Resource": "*"}]},
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "*", "Resource": "*"}
            ]
        },
    ],
)
def test_what_it_does_not_know_raises(document: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        evaluate(document, Request("s3:GetObject", "*", context={"k": "a"}))


def test_multivalued_key_without_set_operator_raises() -> None:
    with pytest.raises(Unsupported):
        evaluate(
            conditional({"StringEquals": {"k": "a"}}),
            Request("x:Y", "*", context={"k": ["a", "b"]}),
        )


TEMPLATE = {
    "Parameters": {
        "Names": {"Type": "CommaDelimitedList", "Default": "a,b"},
        "Bare": {"Type": "String"},
    },
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket"},
        "Named": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Fn::Sub": "x-${AWS::Region}"}},
        },
        "Jobs": {"Type": "AWS::ECS::Cluster"},
        "Work": {"Type": "AWS::SQS::Queue"},
        "Thing": {"Type": "AWS::Lambda::Function"},
    },
}


def test_intrinsics_resolve_against_the_deployment() -> None:
    resolve = Resolver(TEMPLATE, Deployment(region="us-west-2", account="123", stack="s"))
    name = resolve({"Ref": "Data"})
    assert name.startswith("s-data-") and name == name.lower() and len(name) <= 63
    assert resolve({"Fn::GetAtt": ["Data", "Arn"]}) == f"arn:aws:s3:::{name}"
    assert resolve({"Fn::GetAtt": "Named.Arn"}) == "arn:aws:s3:::x-us-west-2"
    assert resolve(
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Jobs}/*"}
    ) == (f"arn:aws:ecs:us-west-2:123:task/{resolve({'Ref': 'Jobs'})}/*")
    assert resolve({"Fn::Sub": "${Data.Arn}/${!Literal}"}) == f"arn:aws:s3:::{name}/${{Literal}}"
    assert resolve({"Fn::Sub": ["${v}-${AWS::StackName}", {"v": {"Ref": "Data"}}]}) == f"{name}-s"
    assert (
        resolve({"Fn::Join": ["", [{"Fn::GetAtt": ["Data", "Arn"]}, "/*"]]})
        == f"arn:aws:s3:::{name}/*"
    )
    assert resolve({"Ref": "Names"}) == ["a", "b"]
    assert resolve({"Fn::GetAtt": ["Work", "Arn"]}).startswith("arn:aws:sqs:us-west-2:123:s-Work-")


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::If": ["C", "a", "b"]},
        {"Fn::Select": [0, ["a"]]},
        {"Ref": "AWS::NoValue"},
        {"Ref": "Bare"},  # no default, no value
        {"Ref": "Missing"},
        {"Ref": "Thing"},  # a type whose Ref it does not know
        {"Fn::GetAtt": ["Data", "DomainName"]},
        {"Fn::Sub": "${Thing.Arn}"},
    ],
)
def test_unknown_intrinsics_raise(value: Any) -> None:
    with pytest.raises(Unsupported):
        Resolver(TEMPLATE)(value)
