"""The one declaration of the ``PrivateS3Processor`` properties.

Validation, the README's property table and the error messages all read the
models below; nothing else in the project lists the properties.

Each field carries a :class:`Doc` in ``json_schema_extra``: how the docs show
its type and default, the rule it follows, and whether the transform must
*know* its value (``known=True``: a ``Ref`` to a template parameter is
resolved first and any other intrinsic is an error) or may pass an intrinsic
through to CloudFormation untouched.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic_core import PydanticCustomError

from .rules import (
    ARCHITECTURES,
    BUCKET_NAME_RESERVED_PREFIXES,
    BUCKET_NAME_RESERVED_SUFFIXES,
    CPU_MEMORY,
    DEAD_LETTER_AGE_ALARM_S,
    DEAD_LETTER_RETENTION_S,
    DELIVERY_MODES,
    ENDPOINT_SETS,
    LOG_RETENTION_DAYS,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    MODES,
    RESERVED_ENVIRONMENT,
    TAG_SYMBOLS,
    smallest_memory,
)

INTRINSIC_KEYS = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::ImportValue",
        "Fn::FindInMap",
        "Fn::Base64",
        "Fn::Cidr",
        "Fn::GetAZs",
        "Fn::Length",
        "Fn::ToJsonString",
    }
)


def is_intrinsic(value: Any) -> bool:
    """True for an intrinsic function object: ``{"Ref": ...}`` or ``{"Fn::X": ...}``."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INTRINSIC_KEYS


def _intrinsic(value: Any) -> dict[str, Any]:
    if not is_intrinsic(value):
        raise PydanticCustomError("intrinsic", "must be a string or an intrinsic function")
    return dict(value)


Intrinsic = Annotated[dict[str, Any], BeforeValidator(_intrinsic)]
StrOrIntrinsic = Annotated[str | Intrinsic, Field(union_mode="left_to_right")]


class Doc:
    """How one property appears in the docs table, and whether its value must be known."""

    def __init__(self, type_: str, default: str, rule: str, *, known: bool = True) -> None:
        self.type = type_
        self.default = default
        self.rule = rule
        self.known = known

    def as_extra(self) -> dict[str, Any]:
        return {
            "doc_type": self.type,
            "doc_default": self.default,
            "doc_rule": self.rule,
            "known": self.known,
        }


def prop(default: Any, doc: Doc, **kwargs: Any) -> Any:
    """A pydantic ``Field`` carrying its :class:`Doc`."""
    return Field(default, json_schema_extra=doc.as_extra(), **kwargs)


def _choice(allowed: tuple[Any, ...]) -> Any:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise PydanticCustomError(
                "choice",
                "must be one of {allowed}",
                {"allowed": ", ".join(str(a) for a in allowed)},
            )
        return value

    return AfterValidator(check)


def _between(low: int, high: int) -> Any:
    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise PydanticCustomError(
                "range", "must be between {low} and {high}", {"low": low, "high": high}
            )
        return value

    return AfterValidator(check)


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode would read True as 1; a boolean is never a number here.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def bucket_name_problem(name: str) -> str | None:
    """What S3's naming rules say against ``name``, or None when it is valid."""
    if not BUCKET_NAME.match(name):
        return (
            "3-63 lowercase letters, digits, dots and hyphens, starting and ending with a "
            "letter or digit"
        )
    if ".." in name:
        return "no two adjacent dots"
    if IP_ADDRESS.match(name):
        return "not formatted as an IP address"
    for prefix in BUCKET_NAME_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"the prefix {prefix} is reserved"
    for suffix in BUCKET_NAME_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"the suffix {suffix} is reserved"
    return None


def tag_problem(text: str, what: str) -> str | None:
    """What AWS's tag restrictions say against a tag ``key`` or ``value``, or None."""
    if what == "key" and not 1 <= len(text) <= MAX_TAG_KEY_CHARS:
        return f"keys must be 1-{MAX_TAG_KEY_CHARS} characters"
    if what == "value" and len(text) > MAX_TAG_VALUE_CHARS:
        return f"values must be at most {MAX_TAG_VALUE_CHARS} characters"
    if text.lower().startswith("aws:"):
        return "must not use the reserved tag prefix aws:"
    for char in text:
        # Letters, numbers and spaces of any script (Unicode L, N and Z), and + - = . _ : / @.
        if not (unicodedata.category(char)[0] in "LNZ" or char in TAG_SYMBOLS):
            return (
                f"may hold letters, numbers, spaces and {' '.join(TAG_SYMBOLS)} only, "
                f"not {json.dumps(char)}"
            )
    return None


KMS_KEY_ARN = re.compile(r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
ARN = re.compile(r"^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(Strict):
    """``Network``: omitted for a created private VPC, or an existing VPC's IDs."""

    VpcCidr: str | None = prop(
        None,
        Doc(
            "string",
            "`10.42.0.0/16`",
            "created network only: IPv4 CIDR, /16 to /26, split into four equal subnets",
        ),
    )
    AvailabilityZones: Annotated[Int | None, _between(1, 3)] = prop(
        None, Doc("integer", "2", "created network only: 1-3 private subnets, one per AZ")
    )
    VpcId: StrOrIntrinsic | None = prop(
        None, Doc("string", "none", "existing VPC: its ID (intrinsic allowed)", known=False)
    )
    SubnetIds: list[StrOrIntrinsic] | Intrinsic | None = prop(
        None,
        Doc(
            "list of strings",
            "none",
            "existing VPC: private subnets for the tasks and the interface endpoints",
            known=False,
        ),
    )
    RouteTableIds: list[StrOrIntrinsic] | Intrinsic | None = prop(
        None,
        Doc(
            "list of strings",
            "none",
            "existing VPC: route tables that get the S3 gateway endpoint "
            "(required when CreateEndpoints is true)",
            known=False,
        ),
    )
    CreateEndpoints: bool = prop(
        True, Doc("boolean", "true", "existing VPC: create the S3 gateway and interface endpoints")
    )
    EndpointSecurityGroupId: StrOrIntrinsic | None = prop(
        None,
        Doc(
            "string",
            "none",
            "existing VPC with CreateEndpoints false: the security group of the existing "
            "interface endpoints (the task is given 443 to it)",
            known=False,
        ),
    )
    S3EndpointId: StrOrIntrinsic | None = prop(
        None,
        Doc(
            "string",
            "none",
            "existing VPC with CreateEndpoints false: the S3 gateway endpoint for "
            "`aws:sourceVpce` (without it the bucket policy uses `aws:SourceVpc`)",
            known=False,
        ),
    )

    @field_validator("VpcCidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise PydanticCustomError(
                "cidr", "must be an IPv4 network in CIDR form such as 10.42.0.0/16"
            ) from exc
        if not 16 <= net.prefixlen <= 26:
            raise PydanticCustomError("cidr", "must have a prefix length from /16 to /26")
        return value

    @property
    def existing(self) -> bool:
        return self.VpcId is not None


class Properties(Strict):
    """The properties of ``Type: PrivateS3Processor``."""

    Image: StrOrIntrinsic = prop(
        ...,
        Doc(
            "string",
            "— (required)",
            "container image URI (an Amazon ECR repository: the network has no internet); "
            "intrinsic allowed",
            known=False,
        ),
    )
    Prefix: str = prop("", Doc("string", '`""`', "key prefix filter"))
    Suffix: str = prop("", Doc("string", '`""`', "key suffix filter; with Prefix, both must hold"))
    Mode: Annotated[str, _choice(MODES)] = prop(
        "Production",
        Doc(
            "`Production` \\| `Test`",
            "`Production`",
            "`Test` = the original design's test block: the container only echoes "
            "the S3 values it received and sleeps (`TEST_SLEEP_SECONDS`, default 60)",
        ),
    )
    Command: list[str] | None = prop(
        None, Doc("list of strings", "image default", "container command (Production mode)")
    )
    Environment: dict[str, StrOrIntrinsic] = prop(
        {},
        Doc(
            "map string→string",
            "`{}`",
            "extra container environment; values may be any intrinsic",
            known=False,
        ),
    )
    Cpu: Annotated[Int, _choice(tuple(CPU_MEMORY))] = prop(
        256, Doc(", ".join(str(c) for c in CPU_MEMORY), "256", "Fargate CPU units")
    )
    Memory: Int | None = prop(
        None,
        Doc(
            "integer MiB",
            "512 (the smallest valid for Cpu)",
            "must be valid for `Cpu` (Fargate table)",
        ),
    )
    Architecture: Annotated[str, _choice(ARCHITECTURES)] = prop(
        "X86_64", Doc("`X86_64` \\| `ARM64`", "`X86_64`", "")
    )
    EphemeralStorageGiB: Annotated[Int, _between(21, 200)] = prop(
        21, Doc("integer", "21", "21-200")
    )
    OutputPrefix: str | None = prop(
        None,
        Doc(
            "string",
            "none",
            "if set, the task may write objects under it (same bucket); it must not be "
            "able to match the trigger filter",
        ),
    )
    BucketName: StrOrIntrinsic | None = prop(
        None, Doc("string", "generated", "explicit bucket name", known=False)
    )
    RestrictToVpcEndpoint: bool = prop(
        True, Doc("boolean", "`true`", "bucket policy with `aws:sourceVpce`")
    )
    AllowedPrincipalArns: list[StrOrIntrinsic] | Intrinsic = prop(
        [],
        Doc(
            "list of ARNs",
            "`[]`",
            "principals exempt from the VPC-endpoint restriction (uploaders, operators); "
            "a list, or an intrinsic such as a `Ref` to a `CommaDelimitedList` parameter",
            known=False,
        ),
    )
    Endpoints: Annotated[str, _choice(ENDPOINT_SETS)] = prop(
        "All",
        Doc(
            "`All` \\| `Minimal`",
            "`All`",
            "`All` = the five interface endpoints; `Minimal` = `ecr.api`, `ecr.dkr`, "
            "`logs` (what Fargate needs). Processors sharing a created network get the union "
            "of their sets: one `All` gives the network all five (a warning says so)",
        ),
    )
    Network: NetworkSettings = prop(
        NetworkSettings(),
        Doc(
            "map",
            "created",
            "omitted: a private VPC is created (`VpcCidr`, `AvailabilityZones`). "
            "Existing VPC: `VpcId`, `SubnetIds`, `RouteTableIds`, `CreateEndpoints` "
            "(and, without endpoints, `EndpointSecurityGroupId`, `S3EndpointId`)",
        ),
    )
    LogRetentionInDays: Annotated[Int, _choice(LOG_RETENTION_DAYS)] = prop(
        30, Doc("CloudWatch retention value", "30", "one of CloudWatch Logs' retention values")
    )
    RetryAttempts: Annotated[Int, _between(0, 185)] = prop(
        185, Doc("integer", "185", "0-185, EventBridge retry policy")
    )
    MaximumEventAgeInSeconds: Annotated[Int, _between(60, 86400)] = prop(
        86400, Doc("integer", "86400", "60-86400")
    )
    KmsKeyArn: StrOrIntrinsic | None = prop(
        None,
        Doc(
            "ARN",
            "none",
            "SSE-KMS for the bucket; the task gets decrypt/encrypt on that key; a `kms` "
            "interface endpoint is added",
            known=False,
        ),
    )
    Tags: dict[str, StrOrIntrinsic] = prop(
        {}, Doc("map string→string", "`{}`", "on every taggable generated resource", known=False)
    )
    Delivery: Annotated[str, _choice(DELIVERY_MODES)] = prop(
        "Direct",
        Doc(
            "`Direct` \\| `Orchestrated`",
            "`Direct`",
            "`Direct`: the rule's target is the ECS task; failed tasks land in the "
            "dead-letter queue too. `Orchestrated`: the rule starts a Step Functions state "
            "machine that runs the task with `ecs:runTask.sync`, retries launches with "
            "backoff and jitter, and sends what still fails, with the reason, to the "
            'dead-letter queue (README, "Delivery modes")',
        ),
    )
    AlarmTopicArn: StrOrIntrinsic | None = prop(
        None,
        Doc(
            "ARN",
            "none",
            "two alarms on the dead-letter queue notify this SNS topic: as soon as it holds "
            "a message, and when its oldest message has waited "
            f"{DEAD_LETTER_AGE_ALARM_S // 86400} days (SQS deletes it unread at "
            f"{DEAD_LETTER_RETENTION_S // 86400})",
            known=False,
        ),
    )

    @field_validator("Prefix", "Suffix", "OutputPrefix")
    @classmethod
    def _key_part(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > 1024:
            raise PydanticCustomError("key", "must be at most 1,024 bytes (S3's key limit)")
        return value

    @field_validator("OutputPrefix")
    @classmethod
    def _output_prefix(cls, value: str | None) -> str | None:
        if value == "":
            raise PydanticCustomError("empty", "must not be empty (omit it instead)")
        return value

    @field_validator("Command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise PydanticCustomError("empty", "must not be an empty list (omit it instead)")
        return value

    @field_validator("Environment")
    @classmethod
    def _environment(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not ENV_NAME.match(name):
                raise PydanticCustomError(
                    "env",
                    "has an invalid variable name {name} (letters, digits and _; not "
                    "starting with a digit)",
                    {"name": json.dumps(name)},
                )
            if name in RESERVED_ENVIRONMENT:
                raise PydanticCustomError(
                    "env",
                    "must not set {name}: the transform sets it (reserved: {reserved})",
                    {"name": name, "reserved": ", ".join(RESERVED_ENVIRONMENT)},
                )
        return value

    @field_validator("BucketName")
    @classmethod
    def _bucket_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            problem = bucket_name_problem(value)
            if problem:
                raise PydanticCustomError(
                    "bucket",
                    "must be a valid S3 bucket name: {problem}",
                    {"problem": problem},
                )
        return value

    @field_validator("KmsKeyArn")
    @classmethod
    def _kms(cls, value: Any) -> Any:
        if isinstance(value, str) and not KMS_KEY_ARN.match(value):
            raise PydanticCustomError(
                "arn", "must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)"
            )
        return value

    @field_validator("AllowedPrincipalArns")
    @classmethod
    def _principals(cls, value: list[Any] | dict[str, Any]) -> list[Any] | dict[str, Any]:
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str) and not ARN.match(item):
                raise PydanticCustomError(
                    "arn",
                    "must hold ARNs such as arn:<partition>:iam::<account>:role/<name> "
                    "(got {item})",
                    {"item": json.dumps(item)},
                )
        return value

    @field_validator("Tags")
    @classmethod
    def _tags(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_TAGS:
            raise PydanticCustomError(
                "tag", "must hold at most {n} tags (got {got})", {"n": MAX_TAGS, "got": len(value)}
            )
        for key, tag_value in value.items():
            problem = tag_problem(key, "key")
            if problem is None and isinstance(tag_value, str):
                problem = tag_problem(tag_value, "value")
                key = f"{key}: {tag_value}"
            if problem:
                raise PydanticCustomError(
                    "tag",
                    "{problem} (got {key})",
                    {"problem": problem, "key": json.dumps(key, ensure_ascii=False)},
                )
        return value

    @property
    def memory(self) -> int:
        """The memory the task gets: the declared value or the smallest valid for Cpu."""
        return self.Memory if self.Memory is not None else smallest_memory(self.Cpu)


def known_fields(model: type[BaseModel]) -> list[str]:
    """Names of the fields whose values the transform must know (so ``Ref`` is resolved)."""
    return [
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("known")
    ]


def property_rows() -> list[tuple[str, str, str, str]]:
    """(property, type, default, rule) for every property, in declaration order."""
    rows = []
    for name, field in Properties.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        rows.append(
            (f"`{name}`", str(extra["doc_type"]), str(extra["doc_default"]), str(extra["doc_rule"]))
        )
    return rows


def render_property_table() -> str:
    """The README's property table, generated from the declaration above."""
    lines = ["| property | type | default | rule |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in property_rows()]
    network_rows = []
    for name, field in NetworkSettings.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        network_rows.append(
            f"| `Network.{name}` | {extra['doc_type']} | {extra['doc_default']} | "
            f"{extra['doc_rule']} |"
        )
    return "\n".join(lines + network_rows) + "\n"
