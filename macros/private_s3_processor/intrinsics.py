"""Resolving the property values the transform must know before it can expand.

Only ``Ref`` to a template parameter (or to ``AWS::Region``/``AWS::AccountId``) is
resolved, from ``templateParameterValues``; any other intrinsic in a property that
must be known is an error that names it. Properties documented as accepting
intrinsics are passed through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import shown
from .property_kinds import is_intrinsic

_UNRESOLVED = object()


class Unresolvable(Exception):
    """A value the transform must know is an intrinsic it cannot evaluate."""


def resolve(value: Any, parameters: Mapping[str, Any], pseudo: Mapping[str, str]) -> Any:
    """``value`` with ``Ref``s to parameters replaced by their values (lists too)."""
    if is_intrinsic(value):
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str):
            if arg in pseudo:
                return pseudo[arg]
            found = parameters.get(arg, _UNRESOLVED)
            if found is _UNRESOLVED:
                raise Unresolvable(
                    f"refers to {arg!r}, which is not a template parameter with a value; "
                    "the transform must know this value"
                )
            return found
        raise Unresolvable(
            f"is {shown(value)}, which the transform cannot resolve: it must be a literal or "
            "a Ref to a template parameter"
        )
    if isinstance(value, list):
        return [resolve(item, parameters, pseudo) for item in value]
    return value


def _as_cloudformation_value(raw: Any) -> Any:
    # Parameter values reach a macro as strings (or lists of strings).
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(raw)
    return raw


def parameter_values(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values as CloudFormation passes them: the given ones, else the defaults.

    List-typed parameters given as comma-separated strings become lists, as
    CloudFormation's ``templateParameterValues`` shows them.
    """
    declared = template.get("Parameters")
    values: dict[str, Any] = {}
    if isinstance(declared, dict):
        for name, decl in declared.items():
            if not isinstance(decl, dict):
                continue
            raw = given.get(name, decl.get("Default", _UNRESOLVED))
            if raw is _UNRESOLVED:
                continue
            kind = str(decl.get("Type", "String"))
            if (kind.startswith("List<") or kind == "CommaDelimitedList") and isinstance(raw, str):
                raw = [part.strip() for part in raw.split(",")] if raw else []
            values[name] = _as_cloudformation_value(raw)
    for name, raw in given.items():
        values.setdefault(name, raw)
    return values
