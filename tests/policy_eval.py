"""A small IAM policy evaluator for the policy documents of an expanded template.

It answers "would this document allow this request?" for the statements the templates
hold (endpoint and bucket policies, roles' inline policies), offline, so that tests can
ask it about sample ARNs instead of reading the JSON by eye. It follows:

- "Policy evaluation logic", IAM user guide: an applicable Deny wins over any Allow; with
  no applicable statement the request is implicitly denied
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
  and "The difference between explicit and implicit denies",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html);
- "IAM JSON policy elements: Condition operators"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
  a key missing from the request makes a condition false, except for the negated
  operators (true), ``...IfExists`` (true) and ``Null``; ArnEquals/ArnLike compare the six
  colon-separated parts of an ARN, each with ``*`` and ``?``; ``ForAllValues:`` holds for a
  missing key, ``ForAnyValue:`` does not;
- "Creating a condition with multiple keys or values": several operators or keys are
  AND, several values of one key are OR (for a negated operator: matches none of them).

Why not a library: moto's ``moto/iam/access_control.py`` evaluates Action and Resource but
knows only ``StringEquals`` and *ignores* any other operator (its ``verify_condition``
returns True for an unknown one), and turns an unmet condition into an explicit deny;
policy_sentry and parliament describe or lint policies but do not evaluate requests. A
test built on an evaluator that silently passes unknown conditions could not fail.

Anything this module does not understand (an operator, a policy element, an intrinsic
function, a pseudo parameter, a resource type behind Ref/GetAtt) raises
``Unsupported``: it never guesses, so it never allows by accident.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.iam import as_list


class Unsupported(Exception):
    """A policy or template construct this evaluator does not implement."""


# -- intrinsics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """Where the template is imagined deployed: what pseudo parameters resolve to."""

    partition: str = "aws"
    region: str = "eu-west-1"
    account: str = "111122223333"
    stack: str = "perimeter"
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pseudo(self) -> dict[str, str]:
        return {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": "amazonaws.com",
        }


def _suffix(logical_id: str, length: int = 12) -> str:
    """The random-looking part CloudFormation appends to a generated name, made stable."""
    return hashlib.sha256(logical_id.encode()).hexdigest()[:length]


# Resource type -> (property naming it, what Ref returns, ARN pattern of GetAtt .Arn).
# From each type's "Return values" in the CloudFormation template reference.
_TYPES: dict[str, tuple[str | None, str, str | None]] = {
    "AWS::S3::Bucket": ("BucketName", "name", "arn:{p}:s3:::{name}"),
    "AWS::ECS::Cluster": ("ClusterName", "name", "arn:{p}:ecs:{r}:{a}:cluster/{name}"),
    "AWS::IAM::Role": ("RoleName", "name", "arn:{p}:iam::{a}:role/{name}"),
    "AWS::SQS::Queue": ("QueueName", "url", "arn:{p}:sqs:{r}:{a}:{name}"),
    "AWS::Events::Rule": ("Name", "name", "arn:{p}:events:{r}:{a}:rule/{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "name", "arn:{p}:logs:{r}:{a}:log-group:{name}:*"),
    "AWS::StepFunctions::StateMachine": (
        "StateMachineName",
        "arn",
        "arn:{p}:states:{r}:{a}:stateMachine:{name}",
    ),
    "AWS::SNS::Topic": ("TopicName", "arn", "arn:{p}:sns:{r}:{a}:{name}"),
    "AWS::EC2::VPCEndpoint": (None, "id", None),
    "AWS::EC2::SecurityGroup": (None, "id", None),
}


class Resolver:
    """Resolves the intrinsic functions of one template against a ``Deployment``."""

    def __init__(self, template: Mapping[str, Any], where: Deployment | None = None) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.parameters: Mapping[str, Any] = template.get("Parameters", {})
        self.where = where or Deployment()

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                return self.join(arg)
            if key.startswith("Fn::") or (key == "Condition" and isinstance(arg, str)):
                raise Unsupported(f"intrinsic function {key}")
        return {k: self(v) for k, v in value.items()}

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            if name not in self.where.pseudo:
                raise Unsupported(f"pseudo parameter {name}")
            return self.where.pseudo[name]
        if name in self.parameters:
            return self.parameter(name)
        kind, _ = self._resource(name)
        ref = _TYPES[kind][1]
        if ref == "name":
            return self.name(name)
        if ref == "arn":
            return self.get_att(name, "Arn")
        if ref == "url":
            w = self.where
            return f"https://sqs.{w.region}.amazonaws.com/{w.account}/{self.name(name)}"
        return f"{kind.split('::')[-1].lower()}-{_suffix(name, 17)}"  # an ID: vpce-..., sg-...

    def parameter(self, name: str) -> Any:
        declared = self.parameters[name]
        if name in self.where.parameters:
            value = self.where.parameters[name]
        elif "Default" in declared:
            value = declared["Default"]
        else:
            raise Unsupported(f"parameter {name} has no Default and no value was given")
        kind = str(declared.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return value if isinstance(value, list) else str(value).split(",")
        return value

    def _resource(self, name: str) -> tuple[str, Mapping[str, Any]]:
        if name not in self.resources:
            raise Unsupported(f"reference to {name}, which the template does not declare")
        res = self.resources[name]
        kind = res.get("Type")
        if kind not in _TYPES:
            raise Unsupported(f"Ref/GetAtt of a resource of type {kind} ({name})")
        return kind, res.get("Properties", {})

    def name(self, logical_id: str) -> str:
        """The physical name: the naming property if the template sets it, else a
        generated one shaped like CloudFormation's (stack-logicalid-suffix)."""
        kind, props = self._resource(logical_id)
        prop = _TYPES[kind][0]
        if prop is not None and prop in props:
            return str(self(props[prop]))
        generated = f"{self.where.stack}-{logical_id}-{_suffix(logical_id).upper()}"
        # Bucket names are lowercase, at most 63 characters.
        return generated.lower()[:63] if kind == "AWS::S3::Bucket" else generated

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, _ = self._resource(logical_id)
        pattern = _TYPES[kind][2]
        if attribute == "Arn" and pattern is not None:
            w = self.where
            return pattern.format(
                p=w.partition, r=w.region, a=w.account, name=self.name(logical_id)
            )
        if attribute == "Name" and kind == "AWS::StepFunctions::StateMachine":
            return self.name(logical_id)
        raise Unsupported(f"Fn::GetAtt {logical_id}.{attribute} ({kind})")

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match[str]) -> str:
            var = match.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"  # ${!Literal} is the literal ${Literal}
            if var in variables:
                value = self(variables[var])
            elif var.startswith("AWS::") or "." not in var:
                value = self.ref(var)
            else:
                logical_id, attribute = var.split(".", 1)
                value = self.get_att(logical_id, attribute)
            if not isinstance(value, str):
                raise Unsupported(f"Fn::Sub variable {var} is not a string ({value!r})")
            return value

        return re.sub(r"\$\{([^}]*)\}", one, text)

    def join(self, arg: Any) -> str:
        delimiter, values = arg[0], self(arg[1])
        if not all(isinstance(v, str) for v in as_list(values)):
            raise Unsupported(f"Fn::Join of a non-string: {values!r}")
        return str(delimiter).join(as_list(values))


# -- evaluation ---------------------------------------------------------------------------


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    """One API request: who, what, on which ARN, with which condition keys."""

    action: str
    resource: str
    principal: str = "arn:aws:iam::111122223333:role/caller"
    context: Mapping[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> tuple[bool, list[str]]:
        """Whether the request holds ``key`` (key names are case-insensitive), and its
        values as strings."""
        for k, v in self.context.items():
            if k.lower() == key.lower():
                return True, [_text(x) for x in as_list(v)]
        return False, []


_STATEMENT_KEYS = frozenset(
    ("Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition")
)
_NEGATED = frozenset(
    ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike")
)
_POSITIVE = frozenset(
    ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool")
)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        raise Unsupported(f"a value that is not a string or boolean: {value!r}")
    if "${" in value:
        raise Unsupported(f"policy variable or unresolved substitution in {value!r}")
    return value


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character; nothing else
    (fnmatch's ``[...]`` is not IAM syntax, so brackets are escaped)."""
    pattern = re.sub(r"([\[\]])", r"[\1]", pattern)
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def arn_matches(pattern: str, arn: str) -> bool:
    """The six colon-separated parts compared one by one, each with wildcards (the last
    part, the resource, keeps any further colons)."""
    if pattern == "*":
        return True
    wanted, got = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(got) != 6:
        return False
    return all(_glob(w, g) for w, g in zip(wanted, got, strict=True))


def _compare(base: str, wanted: str, got: str) -> bool:
    """The positive form of ``base``: does request value ``got`` match policy value
    ``wanted``?"""
    base = base.replace("Not", "", 1) if base in _NEGATED else base
    if base == "StringEquals":
        return got == wanted
    if base == "StringEqualsIgnoreCase":
        return got.lower() == wanted.lower()
    if base == "StringLike":
        return _glob(wanted, got)
    if base in ("ArnEquals", "ArnLike"):
        return arn_matches(wanted, got)
    if base == "Bool":
        return got.lower() == wanted.lower()
    raise Unsupported(f"condition operator {base}")


def _parse_operator(operator: str) -> tuple[str | None, str, bool]:
    """(set qualifier, base operator, IfExists) of a condition operator."""
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise Unsupported(f"condition set operator {qualifier}")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _POSITIVE | _NEGATED | {"Null"}:
        raise Unsupported(f"condition operator {operator}")
    if base == "Null" and (if_exists or qualifier):
        raise Unsupported(f"{operator}: Null takes neither IfExists nor a set operator")
    return qualifier or None, base, if_exists


def _key_holds(operator: str, key: str, wanted: list[str], request: Request) -> bool:
    qualifier, base, if_exists = _parse_operator(operator)
    present, got = request.value(key)
    if base == "Null":
        return any((w.lower() == "true") != present for w in wanted)
    if not present:
        if if_exists or qualifier == "ForAllValues":
            return True
        return base in _NEGATED
    negated = base in _NEGATED
    results = [any(_compare(base, w, g) for w in wanted) != negated for g in got]
    if qualifier == "ForAllValues":
        return all(results)
    if qualifier == "ForAnyValue":
        return any(results)
    if len(got) != 1:
        raise Unsupported(f"{operator} on multivalued key {key} needs ForAnyValue/ForAllValues")
    return results[0]


def conditions_hold(condition: Mapping[str, Any], request: Request) -> bool:
    """Every operator, and every key under it, must hold (AND); values of a key are OR."""
    return all(
        _key_holds(operator, key, [_text(v) for v in as_list(values)], request)
        for operator, block in condition.items()
        for key, values in block.items()
    )


def _principal_matches(principal: Any, caller: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        raise Unsupported(f"Principal {principal!r}")
    for kind, values in principal.items():
        if kind == "Service" and caller in as_list(values):
            return True
        if kind not in ("AWS", "Service"):
            raise Unsupported(f"Principal type {kind}")
        for value in [_text(v) for v in as_list(values)] if kind == "AWS" else []:
            account = value if value.isdigit() else None
            if value.endswith(":root"):
                account = value.split(":")[4]
            caller_account = caller.split(":")[4] if caller.startswith("arn:") else None
            if value == "*" or value == caller or (account and account == caller_account):
                return True
    return False


def _check(statement: Mapping[str, Any], kind: str) -> None:
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise Unsupported(f"statement element(s) {sorted(unknown)}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise Unsupported(f"Effect {statement.get('Effect')!r}")
    for one, other in (("Action", "NotAction"), ("Resource", "NotResource")):
        if (one in statement) == (other in statement):
            raise Unsupported(f"a statement needs exactly one of {one} and {other}")
    if (kind == "resource") != ("Principal" in statement):
        raise Unsupported(f"Principal in a {kind} policy statement: {statement}")
    for operator in statement.get("Condition", {}):
        _parse_operator(operator)


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Principal" in statement and not _principal_matches(
        statement["Principal"], request.principal
    ):
        return False
    if "Action" in statement:
        action = any(_glob(a, request.action, False) for a in as_list(statement["Action"]))
    else:
        action = not any(_glob(a, request.action, False) for a in as_list(statement["NotAction"]))
    if not action:
        return False
    if "Resource" in statement:
        resource = any(
            arn_matches(_text(r), request.resource) for r in as_list(statement["Resource"])
        )
    else:
        resource = not any(
            arn_matches(_text(r), request.resource) for r in as_list(statement["NotResource"])
        )
    return resource and conditions_hold(statement.get("Condition", {}), request)


def evaluate(document: Mapping[str, Any], request: Request, kind: str = "resource") -> Decision:
    """The decision of one resolved policy document (``kind`` "resource" for endpoint,
    bucket and queue policies, whose statements name a Principal; "identity" for a
    role's policies, whose statements do not)."""
    statements = as_list(document.get("Statement", []))
    for statement in statements:
        _check(statement, kind)  # validate all: an unknown operator never goes unseen
    applicable = [s for s in statements if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applicable):
        return Decision.EXPLICIT_DENY
    if applicable:
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY


def evaluate_all(documents: list[Mapping[str, Any]], request: Request, kind: str) -> Decision:
    """Several documents of one principal (a role's inline policies) evaluated together."""
    merged = {"Statement": [s for d in documents for s in as_list(d.get("Statement", []))]}
    return evaluate(merged, request, kind)
