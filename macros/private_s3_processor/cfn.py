"""Small helpers shared by the resource modules: user values, ARNs, tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troposphere import AWSHelperFn, GetAtt, Ref, Sub, Tags

from .properties import is_intrinsic


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


def ref(logical_id: str) -> Ref:
    return Ref(logical_id)


def att(logical_id: str, attribute: str) -> GetAtt:
    return GetAtt(logical_id, attribute)
