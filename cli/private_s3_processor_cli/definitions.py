"""A state machine's definition as an object, read from its template properties.

The macro writes ``DefinitionString`` (JSON text: CloudFormation refuses the
definition's ``"ResultPath": null`` in a ``Definition`` object, see
``private_s3_processor.delivery.workflow.definition_string``); a template written by
hand may use either form. Every reader of a definition (``cost``, the local flow, the
tests) goes through :func:`definition_of`, so none of them depends on the form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class DefinitionError(Exception):
    """A state machine whose definition cannot be read; the message says why."""


def definition_of(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of a state machine with these ``Properties``, ``${...}``
    DefinitionSubstitutions left as they are."""
    if "DefinitionString" in properties:
        text = properties["DefinitionString"]
        if not isinstance(text, str):
            # An intrinsic (Fn::Sub, Fn::Join) is only text once deployed.
            raise DefinitionError(
                "the state machine's DefinitionString is not a plain string (it is "
                f"{type(text).__name__}), so its definition cannot be read here"
            )
        try:
            loaded = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise DefinitionError(
                f"the state machine's DefinitionString is not JSON ({_first_line(exc)})"
            ) from None
        if not isinstance(loaded, dict):
            raise DefinitionError("the state machine's DefinitionString is not a JSON object")
        return loaded
    if "Definition" in properties:
        written = properties["Definition"]
        if not isinstance(written, Mapping):
            raise DefinitionError("the state machine's Definition is not an object")
        return dict(written)
    raise DefinitionError(
        "the state machine has no DefinitionString or Definition to read (a "
        "DefinitionS3Location is not read)"
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
