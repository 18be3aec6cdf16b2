"""Small helpers shared by the resource modules: user values, ARNs, tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from troposphere import AWSHelperFn, BaseAWSObject, GetAtt, Ref, Sub, Tags

from .property_kinds import is_intrinsic


class Raw(AWSHelperFn):  # type: ignore[misc]
    """An intrinsic the user wrote, carried into a typed troposphere property as is."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)


def user(value: Any) -> Any:
    """A user's value (literal or intrinsic) in a form troposphere's type checks accept."""
    if is_intrinsic(value):
        return Raw(value)
    if isinstance(value, list):
        return [user(item) for item in value]
    return value


def arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> Sub:
    """A partition-neutral ARN: never a hard-coded ``arn:aws:``."""
    r = "${AWS::Region}" if region else ""
    a = "${AWS::AccountId}" if account else ""
    return Sub(f"arn:${{AWS::Partition}}:{service}:{r}:{a}:{resource}")


def bucket_arn(bucket_id: str, path: str = "") -> Sub:
    """ARN of a bucket made in this template (``path`` like ``/inbound/*``)."""
    return Sub(f"arn:${{AWS::Partition}}:s3:::${{{bucket_id}}}{_sub_escape(path)}")


def _sub_escape(text: str) -> str:
    # Literal "${" in a Fn::Sub string must be written "${!".
    return text.replace("${", "${!")


def tagged(values: Mapping[str, Any]) -> dict[str, Tags]:
    """``Tags=`` keyword for a taggable resource: nothing at all when there are none."""
    if not values:
        return {}
    return {"Tags": Tags(**{k: user(v) for k, v in sorted(values.items())})}


@dataclass(frozen=True)
class Target:
    """What a reference to a processor becomes: ``Ref`` of ``logical_id``, its ``GetAtt``
    attribute, or (``value`` set) a value the user gave, such as an existing VPC's ID."""

    logical_id: str = ""
    attribute: str | None = None
    value: Any = None

    def as_intrinsic(self) -> Any:
        if self.value is not None:
            return self.value
        if self.attribute is None:
            return {"Ref": self.logical_id}
        return {"Fn::GetAtt": [self.logical_id, self.attribute]}


def ref(logical_id: str) -> Ref:
    return Ref(logical_id)


def att(logical_id: str, attribute: str) -> GetAtt:
    return GetAtt(logical_id, attribute)


def plain(obj: Any) -> Any:
    """``obj.to_dict()`` for a troposphere object, as plain JSON-able data.

    Same result as troposphere's ``to_dict`` (the golden files pin it) and the same
    validation, in one walk: troposphere's ``encode_to_dict`` walks each nested
    object's already-encoded dict again at every level above it, which made it half
    of a 40-processor expansion (BENCHMARKS.md, "Transform").
    """
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:  # most nodes: leaves
        return obj
    # String leaves are answered inline: a call per leaf was a third of the walk.
    if kind is dict:
        return {k: v if type(v) is str else plain(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) is str else plain(v) for v in obj]
    if isinstance(obj, BaseAWSObject):
        if type(obj).to_dict is not BaseAWSObject.to_dict:
            return plain(obj.to_dict())  # a class with its own serialisation
        if obj.do_validation:
            obj._validate_props()
            obj.validate()
        if obj.properties:
            return plain(obj.resource)
        if hasattr(obj, "resource_type"):
            return {k: plain(v) for k, v in obj.resource.items() if k != "Properties"}
        return {}
    if isinstance(obj, AWSHelperFn):
        if type(obj).to_dict is AWSHelperFn.to_dict:
            return plain(obj.data)
        return plain(obj.to_dict())  # Tags and the like
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if hasattr(obj, "to_dict") or hasattr(obj, "JSONrepr"):
        return plain(obj.to_dict() if hasattr(obj, "to_dict") else obj.JSONrepr())
    return obj
