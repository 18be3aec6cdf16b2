"""A cfn-lint rule: validate the properties of types loaded with ``--registry-schemas``.

cfn-lint 1.x (seen in 1.58) loads a registry schema so the type exists (no E3006), but
E3002 takes the schemas to validate from the bundled per-region provider lists, which
never hold a registry type: the properties of such a resource are not checked at all.
This rule runs E3002's own validation with the registry schema for exactly those
resources, so findings carry the usual ids and lines (E3002 unknown property, E3003
missing, E3012 type, E3030 allowed values, E3031 pattern, E3034 range, ...); a check
no cfn-lint rule owns (a ``not`` in the schema, such as a reserved name) is this rule's.

Load it together with the schemas::

    cfn-lint --registry-schemas build/cfn-lint-schemas --append-rules cfn-lint-rules -- T.yaml

If a later cfn-lint validates registry types itself, this rule finds no such resource
and reports nothing, so nothing is reported twice.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

# The module, not the class: cfn-lint instantiates every rule class a rule file names.
from cfnlint.rules.resources.properties import Properties as _builtin
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError


def _writable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its read-only properties: those are attributes (``!GetAtt``),
    not something a template may set, so setting one is an unknown property (E3002)."""
    pointers = schema.get("readOnlyProperties", [])
    read_only = {p.split("/")[2] for p in pointers if p.count("/") == 2}
    properties = {k: v for k, v in schema.get("properties", {}).items() if k not in read_only}
    return {**schema, "properties": properties}


class RegistrySchemaProperties(_builtin.Properties):  # type: ignore[misc]
    """E3002's checks for resource types that only a ``--registry-schemas`` file declares."""

    id = "E9301"
    shortdesc = "Resource properties of a registry-schema type are invalid"
    description = (
        "Validates the properties of resources whose type comes from --registry-schemas "
        "against that schema, which E3002 skips"
    )
    source_url = "https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/cfn-schema-specification.md#properties"
    tags: ClassVar[list[str]] = ["resources", "registry"]

    def validate(self, validator: Any, _: Any, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        t = instance.get("Type")
        if not validator.is_type(t, "string") or t.startswith(("AWS::", "Custom::")):
            return
        regions = list(validator.context.regions)
        # E3002 already validates every type it has a provider schema for.
        if any(True for _ in PROVIDER_SCHEMA_MANAGER.get_resource_schemas_by_regions(t, regions)):
            return
        try:
            registry = PROVIDER_SCHEMA_MANAGER.get_resource_schema(regions[0], t)
        except ResourceNotFoundError:
            return  # an unknown type: E3006 says so
        properties = instance.get("Properties", {})
        if not validator.is_type(properties, "object"):
            return  # E3002 reports a Properties that is not an object for every type
        validator = validator.evolve(
            context=validator.context.evolve(
                functions=list(_builtin.FUNCTIONS),
                strict_types=False,
                regions=regions,
                path=validator.context.path.evolve(
                    cfn_path=deque(["Resources", t, "Properties"]),
                ).descend(path="Properties"),
            ),
            function_filter=validator.function_filter.evolve(add_cfn_lint_keyword=True),
        )
        validator = self.extend_validator(
            validator, _writable(registry.schema), validator.context.evolve()
        )
        for err in self._validate(validator, properties):
            err.path.appendleft("Properties")
            yield err
