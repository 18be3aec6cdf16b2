"""The CloudFormation registry schema of ``PrivateS3Processor``, from the one declaration.

``cfn-lint --registry-schemas`` reads it, and the rule in ``cfn-lint-rules/`` validates a
template's processors against it before any expansion (cfn-lint 1.58 loads a registry
schema but does not check properties against it by itself; DESIGN.md says why).

Types, required properties and the choices/ranges come from the pydantic models in
:mod:`.properties`; the checks its field validators make in Python are restated here in
JSON Schema, from the same constants, where JSON Schema can say them. Checks that join
several processors or need a parameter's value at deploy time stay with the transform.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from .names import OWNER_TAG
from .properties import (
    ORCHESTRATED_DELIVERY,
    QUEUED_DELIVERY,
    QUEUED_PROPERTIES,
    NetworkSettings,
    Properties,
)
from .property_kinds import (
    ARN,
    BUCKET_NAME,
    CONTAINER_USER,
    ENV_NAME,
    IP_ADDRESS,
    KMS_KEY_ARN,
    Intrinsic,
)
from .references import ATTRIBUTES
from .rules import (
    ALARM_PERIOD_S,
    BUCKET_NAME_RESERVED_PREFIXES,
    BUCKET_NAME_RESERVED_SUFFIXES,
    CPU_MEMORY,
    MAX_KEY_BYTES,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    RESERVED_ENVIRONMENT,
    TAG_SYMBOLS,
    TYPE_NAME,
)
from .spec import ECR_IMAGE

# The transform resolves a Ref to a template parameter (or to these pseudo parameters) in a
# property it must know; any other intrinsic there is an error.
KNOWN_PSEUDO_PARAMETERS = ("AWS::Region", "AWS::AccountId", "AWS::Partition")

_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", bool: "boolean"}

_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# VpcCidr: an IPv4 network from /16 to /26 (that the host bits are zero stays the transform's).
_VPC_CIDR = rf"^({_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}/(1[6-9]|2[0-6])$"
# spec.py's ECR image URI (needed when the transform creates the network: it has no
# internet), without its group names, which JSON Schema's regular expressions lack.
_ECR_IMAGE_PATTERN = re.sub(r"\(\?P<\w+>", "(", ECR_IMAGE.pattern)

# Tag keys and values: letters, numbers and spaces of any script, and TAG_SYMBOLS (cfn-lint
# matches with the `regex` module, which knows \p{...}); "aws:" in any case is reserved.
_TAG_TEXT = (
    "^[\\p{L}\\p{N}\\p{Z}" + "".join("\\" + c if c in "\\]^-" else c for c in TAG_SYMBOLS) + "]*$"
)
_TAG_RESERVED = "^[aA][wW][sS]:"
# The owner tag in any case (IAM matches aws:ResourceTag/<key> ignoring case).
_OWNER_TAG = (
    "^"
    + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in OWNER_TAG)
    + "$"
)


def _literal(text: str) -> str:
    """``text`` as a regular expression that matches only itself."""
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\" else c for c in text)


def _type_of(annotation: Any) -> dict[str, Any] | None:
    """JSON Schema for a field's Python type; None for an intrinsic (cfn-lint knows those)."""
    if annotation == Intrinsic:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_of(args[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        found = [s for s in map(_type_of, options) if s is not None]
        # str | Intrinsic is a string (an intrinsic standing for one); list | Intrinsic a list.
        if len(found) != 1:
            raise TypeError(f"no JSON Schema for {annotation!r}")
        return found[0]
    if origin is list:
        return {"type": "array", "items": _type_of(args[0]) or {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_of(args[1]) or {}}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"$ref": f"#/definitions/{annotation.__name__}"}
    if annotation in _PRIMITIVES:
        return {"type": _PRIMITIVES[annotation]}
    raise TypeError(f"no JSON Schema for {annotation!r}")


def _constraints(field: FieldInfo) -> dict[str, Any]:
    """``enum``/``minimum``/``maximum`` from the field's ``_choice``/``_between`` validators."""
    found: dict[str, Any] = {}
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):  # Annotated[...] | None keeps it inside
        metadata += getattr(arg, "__metadata__", ())
    for item in metadata:
        if not isinstance(item, AfterValidator):
            continue
        bound = inspect.getclosurevars(item.func).nonlocals
        if "allowed" in bound:
            found["enum"] = list(bound["allowed"])
        elif {"low", "high"} <= set(bound):
            found.update(minimum=bound["low"], maximum=bound["high"])
        else:
            raise TypeError(f"no JSON Schema for the validator {item.func.__qualname__}")
    return found


def _known(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("known"))


def _only_parameter_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A property the transform must know: a literal, or a Ref to a parameter (cfn-lint
    then checks the parameter's default and allowed values against ``schema``)."""
    return {
        "cfnContext": {
            "functions": ["Ref"],
            "references": ["Parameters"],
            "pseudoParameters": list(KNOWN_PSEUDO_PARAMETERS),
            "schema": schema,
        }
    }


def _object(model: type[BaseModel], checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        schema = _type_of(field.annotation)
        assert schema is not None, name
        schema.update(_constraints(field))
        schema.update(checks.get(name, {}))
        extra = field.json_schema_extra
        if isinstance(extra, dict):
            schema["description"] = str(extra["doc_rule"])
        # A map of settings (Network) has its own rule per setting.
        plain = "$ref" in schema or not _known(field)
        properties[name] = schema if plain else _only_parameter_refs(schema)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": [n for n, f in model.model_fields.items() if f.is_required()],
    }


def _property_checks() -> dict[str, dict[str, Any]]:
    """What Properties' field validators check, said in JSON Schema."""
    key_part = {"maxLength": MAX_KEY_BYTES}  # characters: the byte count stays the transform's
    return {
        "Prefix": key_part,
        "Suffix": key_part,
        "OutputPrefix": {**key_part, "minLength": 1},
        "Command": {"minItems": 1},
        "Environment": {
            "additionalProperties": False,
            "patternProperties": {ENV_NAME.pattern: {"type": "string"}},
            "propertyNames": {"not": {"enum": list(RESERVED_ENVIRONMENT)}},
        },
        "BucketName": {
            "pattern": BUCKET_NAME.pattern,
            "allOf": [
                {"not": {"pattern": pattern}}
                for pattern in (
                    r"\.\.",
                    IP_ADDRESS.pattern,
                    *(f"^{_literal(p)}" for p in BUCKET_NAME_RESERVED_PREFIXES),
                    *(f"{_literal(s)}$" for s in BUCKET_NAME_RESERVED_SUFFIXES),
                )
            ],
        },
        "KmsKeyArn": {"pattern": KMS_KEY_ARN.pattern},
        # JSON Schema's (ECMA 262) $ is the end, as the model's \Z.
        "User": {
            "pattern": CONTAINER_USER.pattern.replace("\\Z", "$"),
            "not": {"pattern": "(^|:)root(:|$)"},
        },
        "IdleSeconds": {"multipleOf": ALARM_PERIOD_S},
        "AllowedPrincipalArns": {"items": {"type": "string", "pattern": ARN.pattern}},
        "Tags": {
            "maxProperties": MAX_TAGS,
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_TAG_VALUE_CHARS,
                "pattern": _TAG_TEXT,
                "not": {"pattern": _TAG_RESERVED},
            },
            "propertyNames": {
                "minLength": 1,
                "maxLength": MAX_TAG_KEY_CHARS,
                "pattern": _TAG_TEXT,
                "not": {"anyOf": [{"pattern": _TAG_RESERVED}, {"pattern": _OWNER_TAG}]},
            },
        },
    }


def _network_checks() -> dict[str, dict[str, Any]]:
    return {"VpcCidr": {"pattern": _VPC_CIDR}}


def _cross_checks() -> list[dict[str, Any]]:
    """spec.py's rules that join properties of one processor, as if/then."""
    memory: list[dict[str, Any]] = []
    default_cpu = Properties.model_fields["Cpu"].default
    for cpu, allowed in CPU_MEMORY.items():
        condition: dict[str, Any] = {"properties": {"Cpu": {"const": cpu}}}
        if cpu != default_cpu:  # an omitted Cpu is the default one
            condition["required"] = ["Cpu"]
        memory.append(
            {"if": condition, "then": {"properties": {"Memory": {"enum": list(allowed)}}}}
        )
    created_network = {
        "if": {"required": ["Network"], "properties": {"Network": {"required": ["VpcId"]}}},
        "else": {"properties": {"Image": {"pattern": _ECR_IMAGE_PATTERN}}},
    }
    # With an empty Prefix every key triggers, so any OutputPrefix would be written under
    # the trigger filter (that two non-empty prefixes nest is the transform's check).
    output_needs_prefix = {
        "if": {"required": ["OutputPrefix"], "properties": {"OutputPrefix": {"minLength": 1}}},
        "then": {"required": ["Prefix"], "properties": {"Prefix": {"minLength": 1}}},
    }
    # The Queued properties belong to Delivery: Queued (an omitted Delivery is Direct).
    queued_only = {
        "if": {"required": ["Delivery"], "properties": {"Delivery": {"const": QUEUED_DELIVERY}}},
        "else": {"properties": {name: False for name in QUEUED_PROPERTIES}},
    }
    # KmsScope: All encrypts with KmsKeyArn; Tracing traces a state machine.
    scope_needs_key = {
        "if": {"required": ["KmsScope"], "properties": {"KmsScope": {"const": "All"}}},
        "then": {"required": ["KmsKeyArn"]},
    }
    tracing_orchestrated = {
        "if": {"required": ["Tracing"], "properties": {"Tracing": {"const": True}}},
        "then": {
            "required": ["Delivery"],
            "properties": {"Delivery": {"const": ORCHESTRATED_DELIVERY}},
        },
    }
    return [
        *memory,
        created_network,
        output_needs_prefix,
        queued_only,
        scope_needs_key,
        tracing_orchestrated,
    ]


def _network_cross_checks() -> dict[str, Any]:
    existing_only = [
        "SubnetIds",
        "RouteTableIds",
        "CreateEndpoints",
        "EndpointSecurityGroupId",
        "S3EndpointId",
    ]
    return {
        "dependentRequired": {
            "VpcId": ["SubnetIds"],
            **{name: ["VpcId"] for name in existing_only},
        },
        "dependentExcluded": {"VpcId": ["VpcCidr", "AvailabilityZones"]},
        "allOf": [
            {
                "if": {
                    "required": ["VpcId", "CreateEndpoints"],
                    "properties": {"CreateEndpoints": {"enum": [False, "false"]}},
                },
                "then": {"required": ["EndpointSecurityGroupId"]},
                "else": {
                    "if": {"required": ["VpcId"]},
                    "then": {
                        "required": ["RouteTableIds"],
                        "dependentExcluded": {"VpcId": ["EndpointSecurityGroupId", "S3EndpointId"]},
                    },
                },
            }
        ],
    }


def registry_schema() -> dict[str, Any]:
    """The registry schema cfn-lint loads with ``--registry-schemas``."""
    resource = _object(Properties, _property_checks())
    network = _object(NetworkSettings, _network_checks())
    network.update(_network_cross_checks())
    properties = dict(resource["properties"])
    # `!GetAtt P.BucketName` is also a property a template may set: it stays writable.
    attributes = [a for a in ATTRIBUTES if a not in properties]
    properties.update({a: {"type": "string"} for a in attributes})
    return {
        "typeName": TYPE_NAME,
        "description": "Expanded by the PrivateS3Processor transform into a private "
        "S3 -> EventBridge -> Fargate pipeline",
        "additionalProperties": False,
        "definitions": {NetworkSettings.__name__: network},
        "properties": properties,
        "required": resource["required"],
        "allOf": _cross_checks(),
        "readOnlyProperties": [f"/properties/{a}" for a in attributes],
        "primaryIdentifier": ["/properties/BucketName"],
    }
