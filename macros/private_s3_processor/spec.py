"""From one ``Type: PrivateS3Processor`` resource to validated properties, or to errors.

Here: the logical ID's checks, the resolution of the ``Ref``s the transform must know,
the model's validation, the rules that join several properties, and the image's ECR
repository. The resource attributes are read in ``attributes.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from . import attributes
from .errors import from_validation, resource_error, shown
from .intrinsics import Unresolvable, resolve
from .properties import NetworkSettings, Properties
from .property_docs import known_fields
from .rules import CPU_MEMORY, MAX_LOGICAL_ID_CHARS

_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?$"
)


@dataclass(frozen=True)
class Repository:
    """Where the image is: an ECR repository (its parts), or unknown (an intrinsic)."""

    account: str | None = None
    region: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Processor:
    """One validated processor: its logical ID, properties and resource attributes."""

    logical_id: str
    props: Properties
    repository: Repository
    depends_on: tuple[str, ...] = ()
    deletion_policy: str | None = None
    update_replace_policy: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Property path -> the parameter Ref it was resolved from, kept in the output so
    # the deployed template says where each value came from (and the parameter stays used).
    resolved_from: Mapping[str, Any] = field(default_factory=dict)
    # The type of the template resource KmsKeyArn names by Ref or GetAtt, if any: Control
    # Tower's encryption rules accept a key only as a literal or such a reference.
    kms_key_type: str | None = None


def parse(
    logical_id: str,
    resource: Mapping[str, Any],
    parameters: Mapping[str, Any],
    pseudo: Mapping[str, str],
) -> Processor | list[str]:
    """Validate one resource. Returns the processor, or every error found in it."""
    errors = _logical_id_errors(logical_id)
    attrs = attributes.read(logical_id, resource, errors)

    raw = resource.get("Properties")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(
            resource_error(logical_id, None, f"'Properties' must be a map (got {shown(raw)})")
        )
        return errors

    resolved_from: dict[str, Any] = {}
    resolved = _resolve_known(logical_id, raw, parameters, pseudo, errors, resolved_from)
    props = _validated(logical_id, resolved, errors)
    errors += _cross_checks(logical_id, resolved)
    if errors:
        return errors
    assert props is not None
    return Processor(
        logical_id=logical_id,
        props=props,
        repository=_repository(raw.get("Image"), parameters, pseudo),
        depends_on=attrs.depends_on,
        deletion_policy=attrs.deletion_policy,
        update_replace_policy=attrs.update_replace_policy,
        metadata=attrs.metadata,
        resolved_from=resolved_from,
    )


def _logical_id_errors(logical_id: str) -> list[str]:
    """What CloudFormation refuses in a logical ID: characters other than A-Z, a-z, 0-9,
    and more than its quota's length."""
    errors: list[str] = []
    if not _LOGICAL_ID.match(logical_id):
        errors.append(
            resource_error(logical_id, None, "logical IDs must be alphanumeric (A-Z, a-z, 0-9)")
        )
    if len(logical_id) > MAX_LOGICAL_ID_CHARS:
        errors.append(
            resource_error(
                logical_id,
                None,
                f"the logical ID is {len(logical_id)} characters; CloudFormation allows "
                f"{MAX_LOGICAL_ID_CHARS} (CloudFormation quotas, Resource name)",
            )
        )
    return errors


def _validated(
    logical_id: str, resolved: Mapping[str, Any], errors: list[str]
) -> Properties | None:
    """The properties as the model reads them, or None with its errors appended."""
    try:
        return Properties.model_validate(resolved)
    except ValidationError as exc:
        errors += from_validation(
            logical_id,
            exc,
            {"": list(Properties.model_fields), "Network": list(NetworkSettings.model_fields)},
            _TAKES_INTRINSICS,
        )
        return None


_TAKES_INTRINSICS = set(Properties.model_fields) - set(known_fields(Properties)) | {
    f"Network.{n}" for n in NetworkSettings.model_fields
} - {f"Network.{n}" for n in known_fields(NetworkSettings)}


def _resolve_known(
    logical_id: str,
    raw: Mapping[str, Any],
    parameters: Mapping[str, Any],
    pseudo: Mapping[str, str],
    errors: list[str],
    resolved_from: dict[str, Any],
) -> dict[str, Any]:
    """Resolve ``Ref``s in the properties the transform must know; others pass as written."""

    def note(path: str, value: Any) -> None:
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] not in pseudo:
            resolved_from[path] = value

    known = set(known_fields(Properties))
    known_network = set(known_fields(NetworkSettings))
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "Network" and isinstance(value, dict):
            network: dict[str, Any] = {}
            for key, item in value.items():
                if key in known_network:
                    try:
                        network[key] = resolve(item, parameters, pseudo)
                        note(f"Network.{key}", item)
                    except Unresolvable as exc:
                        errors.append(resource_error(logical_id, f"Network.{key}", str(exc)))
                else:
                    network[key] = item
            out[name] = network
        elif name in known:
            try:
                out[name] = resolve(value, parameters, pseudo)
                note(name, value)
            except Unresolvable as exc:
                errors.append(resource_error(logical_id, name, str(exc)))
        else:
            out[name] = value
    return out


def _cross_checks(logical_id: str, raw: Mapping[str, Any]) -> list[str]:
    """Rules that join several properties. Each runs on the raw values when the ones it
    needs are individually valid, so one bad property does not hide another's error."""
    errors = _memory_check(logical_id, raw) + _output_prefix_check(logical_id, raw)
    network = raw.get("Network")
    if isinstance(network, dict):
        errors += _network_checks(logical_id, network)

    image = raw.get("Image")
    existing = isinstance(network, dict) and "VpcId" in network
    if isinstance(image, str) and not existing and not ECR_IMAGE.match(image):
        errors.append(
            resource_error(
                logical_id,
                "Image",
                f"must be an Amazon ECR image URI such as "
                f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo:tag, because the created "
                f"network has no internet access (got {shown(image)})",
            )
        )
    return errors


def _memory_check(logical_id: str, raw: Mapping[str, Any]) -> list[str]:
    """Memory must be one Fargate allows with the chosen Cpu."""
    cpu = raw.get("Cpu", 256)
    memory = raw.get("Memory")
    cpu_i = _as_int(cpu)
    memory_i = _as_int(memory)
    if (
        cpu_i in CPU_MEMORY
        and memory is not None
        and memory_i is not None
        and (memory_i not in CPU_MEMORY[cpu_i])
    ):
        allowed = CPU_MEMORY[cpu_i]
        choices = (
            "one of " + ", ".join(str(m) for m in allowed)
            if len(allowed) <= 4
            else f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}"
        )
        return [
            resource_error(
                logical_id, "Memory", f"must be {choices} when Cpu is {cpu_i} (got {memory_i})"
            )
        ]
    return []


def _output_prefix_check(logical_id: str, raw: Mapping[str, Any]) -> list[str]:
    """The outputs must not land where they would trigger the processor again."""
    prefix, output = raw.get("Prefix", ""), raw.get("OutputPrefix")
    if (
        isinstance(prefix, str)
        and isinstance(output, str)
        and output
        and (output.startswith(prefix) or prefix.startswith(output))
    ):
        suffix = raw.get("Suffix", "")
        # The longer of the two starts with both, so this key is output and a trigger.
        example = max(prefix, output, key=len) + "x" + (suffix if isinstance(suffix, str) else "")
        trigger = (
            f"Prefix {shown(prefix)}" if prefix else "Prefix is empty, so every key can trigger"
        )
        return [
            resource_error(
                logical_id,
                "OutputPrefix",
                f"{shown(output)} would make the processor trigger on its own "
                f"output: a key such as {shown(example)} is under OutputPrefix and matches the "
                f"trigger filter ({trigger}); choose a Prefix and an OutputPrefix that are not "
                "prefixes of one another",
            )
        ]
    return []


def _network_checks(logical_id: str, network: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []

    def err(prop: str, text: str) -> None:
        errors.append(resource_error(logical_id, f"Network.{prop}", text))

    existing = "VpcId" in network
    if existing:
        for key in ("VpcCidr", "AvailabilityZones"):
            if key in network:
                err(key, "applies only to a created network; remove it or remove VpcId")
        if "SubnetIds" not in network:
            err("SubnetIds", "is required with VpcId (the private subnets for the tasks)")
        # A Ref to a String parameter arrives as a string; read it as the model does.
        create = _as_bool(network.get("CreateEndpoints", True))
        if create is True and "RouteTableIds" not in network:
            err(
                "RouteTableIds",
                "is required with VpcId when CreateEndpoints is true (the S3 "
                "gateway endpoint is added to these route tables)",
            )
        if create is False and "EndpointSecurityGroupId" not in network:
            err(
                "EndpointSecurityGroupId",
                "is required when CreateEndpoints is false (the "
                "task security group may reach only the endpoints' security group)",
            )
        if create is True:
            for key in ("EndpointSecurityGroupId", "S3EndpointId"):
                if key in network:
                    err(key, "applies only when CreateEndpoints is false")
    else:
        for key in (
            "SubnetIds",
            "RouteTableIds",
            "CreateEndpoints",
            "EndpointSecurityGroupId",
            "S3EndpointId",
        ):
            if key in network:
                err(key, "applies only to an existing VPC; add VpcId, or remove it")
    return errors


_BOOL = TypeAdapter(bool)


def _as_bool(value: Any) -> bool | None:
    """``value`` read as the model reads a boolean (``"false"``, ``"no"``, ``0``, ...), so
    the cross-checks see what the expansion will use; None when it is not one."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _repository(image: Any, parameters: Mapping[str, Any], pseudo: Mapping[str, str]) -> Repository:
    """The ECR repository behind ``Image`` when it can be known, for a least-privilege
    pull policy; an image given by an unresolvable intrinsic yields an unknown one."""
    try:
        value = resolve(image, parameters, pseudo)
    except Unresolvable:
        return Repository()
    if not isinstance(value, str):
        return Repository()
    match = ECR_IMAGE.match(value)
    if not match:
        return Repository()
    return Repository(match["account"], match["region"], match["repo"])
