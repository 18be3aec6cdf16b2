"""The delivery seam (issue 13): every ``Delivery`` value has one mode module in
``private_s3_processor/delivery/``, and nothing else in the macro branches on the value."""

from __future__ import annotations

import ast
from pathlib import Path

import private_s3_processor
import pytest
from private_s3_processor.delivery import MODES, DeliveryMode
from private_s3_processor.rules import DELIVERY_MODES
from private_s3_processor_cli.templates import expand_document

MACRO = Path(private_s3_processor.__file__).parent
# Where the values are declared: the accepted values (rules.py) and the property's
# default and documentation (properties.py).
DECLARED_IN = {"rules.py", "properties.py"}


def mode_branches(package: Path, names: tuple[str, ...]) -> list[str]:
    """Places in ``package`` outside ``delivery/`` that name a delivery mode or read the
    ``Delivery`` property: each a branch on the mode that belongs in its module."""
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == "delivery" or str(relative) in DECLARED_IN:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.Attribute) and node.attr in ("Delivery", "orchestrated"):
                found.append(f"{relative}:{node.lineno}: .{node.attr}")
    return found


def test_every_accepted_delivery_value_has_its_mode() -> None:
    assert tuple(MODES) == DELIVERY_MODES
    assert all(isinstance(m, DeliveryMode) and MODES[m.name] is m for m in MODES.values())


def test_nothing_outside_the_delivery_package_branches_on_the_mode() -> None:
    assert mode_branches(MACRO, DELIVERY_MODES) == []


@pytest.mark.parametrize("name", DELIVERY_MODES)
def test_a_mode_has_an_events_role_exactly_when_its_rule_needs_permissions(name: str) -> None:
    """``events_role`` (which the resource count reads) and ``rule_permissions`` (which the
    expansion reads) agree, and the expansion has the role exactly then."""
    mode = MODES[name]
    template = {
        "Resources": {
            "P": {
                "Type": "PrivateS3Processor",
                "Properties": {
                    "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0",
                    "Delivery": name,
                },
            }
        }
    }
    resources = expand_document(template)["Resources"]
    assert ("PEventsRole" in resources) == mode.events_role
    role_arn = "RoleArn" in resources["PRule"]["Properties"]["Targets"][0]
    assert role_arn == mode.events_role
