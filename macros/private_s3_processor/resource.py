"""``PrivateS3Processor`` as a troposphere resource, for templates written in Python.

Its properties come from the one declaration in ``properties.py``; the transform
validates their values, so here every value (literal or intrinsic) is accepted.
"""

from __future__ import annotations

from typing import Any, ClassVar

from troposphere import AWSObject

from .properties import Properties
from .rules import TYPE_NAME


class PrivateS3Processor(AWSObject):  # type: ignore[misc]
    resource_type = TYPE_NAME
    props: ClassVar[dict[str, tuple[Any, bool]]] = {
        name: (object, field.is_required()) for name, field in Properties.model_fields.items()
    }
