"""The delivery seam (issue 13): every ``Delivery`` value has one mode module in
``private_s3_processor/delivery/``, and nothing else in the macro branches on the value."""

from __future__ import annotations

import ast
from pathlib import Path

import private_s3_processor
from private_s3_processor.delivery import MODES, DeliveryMode
from private_s3_processor.rules import DELIVERY_MODES

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
