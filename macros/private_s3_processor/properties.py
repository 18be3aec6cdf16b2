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
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .names import OWNER_TAG
from .property_kinds import (
    ARN,
    CONTAINER_USER,
    ENV_NAME,
    KMS_KEY_ARN,
    Doc,
    Int,
    Intrinsic,
    StrOrIntrinsic,
    between,
    bucket_name_problem,
    choice,
    prop,
    span,
    tag_problem,
)
from .rules import (
    ALARM_PERIOD_S,
    ARCHITECTURES,
    CONCURRENCY_RANGE,
    CPU_MEMORY,
    DEAD_LETTER_AGE_ALARM_S,
    DEAD_LETTER_RETENTION_S,
    DELIVERY_MODES,
    ENDPOINT_SETS,
    IDLE_SECONDS_RANGE,
    KMS_SCOPES,
    LOG_RETENTION_DAYS,
    MAX_RECEIVE_COUNT_RANGE,
    MAX_TAGS,
    MAX_TASKS_RANGE,
    MODES,
    QUEUED_DEFAULTS,
    RESERVED_ENVIRONMENT,
    VISIBILITY_TIMEOUT_RANGE,
    smallest_memory,
)

# The Delivery value the Queued properties belong to, and those properties (the schema
# restates the rule, schema.py).
QUEUED_DELIVERY = "Queued"
QUEUED_PROPERTIES = tuple(QUEUED_DEFAULTS)
# The Delivery value Tracing belongs to (a state machine is what is traced).
ORCHESTRATED_DELIVERY = "Orchestrated"


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
    AvailabilityZones: Annotated[Int | None, between(1, 3)] = prop(
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
    Mode: Annotated[str, choice(MODES)] = prop(
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
    Cpu: Annotated[Int, choice(tuple(CPU_MEMORY))] = prop(
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
    Architecture: Annotated[str, choice(ARCHITECTURES)] = prop(
        "X86_64", Doc("`X86_64` \\| `ARM64`", "`X86_64`", "")
    )
    EphemeralStorageGiB: Annotated[Int, between(21, 200)] = prop(21, Doc("integer", "21", "21-200"))
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
    Endpoints: Annotated[str, choice(ENDPOINT_SETS)] = prop(
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
    LogRetentionInDays: Annotated[Int, choice(LOG_RETENTION_DAYS)] = prop(
        30, Doc("CloudWatch retention value", "30", "one of CloudWatch Logs' retention values")
    )
    RetryAttempts: Annotated[Int, between(0, 185)] = prop(
        185, Doc("integer", "185", "0-185, EventBridge retry policy")
    )
    MaximumEventAgeInSeconds: Annotated[Int, between(60, 86400)] = prop(
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
    Delivery: Annotated[str, choice(DELIVERY_MODES)] = prop(
        "Direct",
        Doc(
            "`Direct` \\| `Orchestrated` \\| `Queued`",
            "`Direct`",
            "`Direct`: the rule's target is the ECS task; failed tasks land in the "
            "dead-letter queue too. `Orchestrated`: the rule starts a Step Functions state "
            "machine that runs the task with `ecs:runTask.sync`, retries launches with "
            "backoff and jitter, and sends what still fails, with the reason, to the "
            "dead-letter queue. `Queued`: the rule sends the whole event to the processor's "
            "SQS queue; an ECS service of workers, scaled from 0 to `MaxTasks` on the queue's "
            "backlog, drains it; a message that fails `MaxReceiveCount` times goes to the "
            'dead-letter queue (README, "Delivery modes")',
        ),
    )
    # Delivery: Queued. None means "not written": the default applies (the accessors
    # below), and writing one with another Delivery is an error (_queued_only).
    MaxTasks: Annotated[Int | None, between(*MAX_TASKS_RANGE)] = prop(
        None,
        Doc(
            "integer",
            str(QUEUED_DEFAULTS["MaxTasks"]),
            f"`Queued` only: {span(MAX_TASKS_RANGE)}, the most worker tasks at once",
        ),
    )
    Concurrency: Annotated[Int | None, between(*CONCURRENCY_RANGE)] = prop(
        None,
        Doc(
            "integer",
            str(QUEUED_DEFAULTS["Concurrency"]),
            f"`Queued` only: {span(CONCURRENCY_RANGE)}, objects in flight per task",
        ),
    )
    IdleSeconds: Annotated[Int | None, between(*IDLE_SECONDS_RANGE)] = prop(
        None,
        Doc(
            "integer",
            str(QUEUED_DEFAULTS["IdleSeconds"]),
            f"`Queued` only: {span(IDLE_SECONDS_RANGE)}, a multiple of {ALARM_PERIOD_S}: "
            "nothing visible, in flight or arriving this long scales the workers to 0",
        ),
    )
    MaxReceiveCount: Annotated[Int | None, between(*MAX_RECEIVE_COUNT_RANGE)] = prop(
        None,
        Doc(
            "integer",
            str(QUEUED_DEFAULTS["MaxReceiveCount"]),
            f"`Queued` only: {span(MAX_RECEIVE_COUNT_RANGE)}, deliveries of a message "
            "before it goes to the dead-letter queue",
        ),
    )
    VisibilityTimeoutSeconds: Annotated[Int | None, between(*VISIBILITY_TIMEOUT_RANGE)] = prop(
        None,
        Doc(
            "integer",
            str(QUEUED_DEFAULTS["VisibilityTimeoutSeconds"]),
            f"`Queued` only: {span(VISIBILITY_TIMEOUT_RANGE)}, the queue's visibility "
            "timeout; the worker extends it while an object is in flight",
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
            f"{DEAD_LETTER_RETENTION_S // 86400}); with `Delivery: Queued` a third when "
            "the work queue's oldest message has waited a day (no worker is taking it). "
            "CloudWatch cannot publish to a topic encrypted with the AWS managed key "
            "`alias/aws/sns` (the notification is dropped): use a customer managed key that "
            "admits `cloudwatch.amazonaws.com`; such a topic of the same template is refused",
            known=False,
        ),
    )

    User: str | None = prop(
        None,
        Doc(
            "string",
            "image default",
            "the container's user: `name`, `uid`, `name:group` or `uid:gid` (IDs positive, as "
            "ECS requires); never root. The shipped worker image already runs as `10001`; set "
            "it for an image of your own, so a compromised processor is not root in its task "
            "(Control Tower CT.ECS.PR.3, checkov)",
        ),
    )
    KmsScope: Annotated[str, choice(KMS_SCOPES)] = prop(
        "Bucket",
        Doc(
            "`Bucket` \\| `All`",
            "`Bucket`",
            "with `KmsKeyArn`: `All` also encrypts the queues and the log groups with that key; "
            "its key policy must then admit CloudWatch Logs and EventBridge (README, "
            '"Encryption with your key")',
        ),
    )
    Tracing: bool = prop(
        False,
        Doc(
            "boolean",
            "`false`",
            "`Orchestrated` only: X-Ray tracing of the state machine (X-Ray bills each trace "
            'recorded beyond its free tier; README, "Tracing")',
        ),
    )

    @field_validator(*QUEUED_PROPERTIES)
    @classmethod
    def _queued_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Delivery is declared before these fields, so it is in info.data when valid.
        delivery = info.data.get("Delivery")
        if value is not None and delivery is not None and delivery != QUEUED_DELIVERY:
            raise PydanticCustomError(
                "delivery",
                "applies only with Delivery: Queued (this processor's Delivery is "
                "{delivery}); remove it, or set Delivery: Queued",
                {"delivery": delivery},
            )
        return value

    @field_validator("User")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not CONTAINER_USER.fullmatch(value):
            raise PydanticCustomError(
                "user", "must be name, uid, name:group or uid:gid, with positive IDs"
            )
        if "root" in value.split(":"):
            raise PydanticCustomError(
                "user",
                "must not be root, as user or group: omit User to keep the image's user, or "
                "name a non-root one",
            )
        return value

    @field_validator("KmsScope")
    @classmethod
    def _kms_scope(cls, value: str, info: ValidationInfo) -> str:
        if value != "Bucket" and info.data.get("KmsKeyArn", "absent") is None:
            raise PydanticCustomError(
                "kms",
                "is {value}, which needs KmsKeyArn: set the key, or omit KmsScope",
                {"value": value},
            )
        return value

    @field_validator("Tracing")
    @classmethod
    def _tracing(cls, value: bool, info: ValidationInfo) -> bool:
        delivery = info.data.get("Delivery")
        if value and delivery is not None and delivery != ORCHESTRATED_DELIVERY:
            raise PydanticCustomError(
                "delivery",
                "applies only with Delivery: Orchestrated (this processor's Delivery is "
                "{delivery}): only a state machine is traced",
                {"delivery": delivery},
            )
        return value

    @field_validator("IdleSeconds")
    @classmethod
    def _whole_minutes(cls, value: int | None) -> int | None:
        if value is not None and value % ALARM_PERIOD_S:
            raise PydanticCustomError(
                "minutes",
                "must be a multiple of {period}: the idle alarm counts whole "
                "{period}-second periods",
                {"period": ALARM_PERIOD_S},
            )
        return value

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
            # IAM matches the key of aws:ResourceTag/<key> ignoring case.
            if key.lower() == OWNER_TAG:
                raise PydanticCustomError(
                    "tag",
                    "must not set {key} (in any letter case): the transform tags each processor's "
                    "tasks with it",
                    {"key": OWNER_TAG},
                )
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

    def queued(self, name: str) -> int:
        """A Queued property's value: as written, or its default (``QUEUED_DEFAULTS``)."""
        value = getattr(self, name)
        return int(value) if value is not None else QUEUED_DEFAULTS[name]
