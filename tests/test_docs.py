"""README and code cannot drift: the property table is the declaration's rendering."""

from __future__ import annotations

from private_s3_processor.properties import Properties
from private_s3_processor.property_docs import render_property_table

from tests.docs import COST, PROPERTIES, README, cost_table, section


def test_readme_property_table_is_generated_from_the_declaration() -> None:
    assert section(README.read_text(encoding="utf-8"), PROPERTIES) == render_property_table(), (
        "run `make docs`"
    )


def test_every_property_is_in_the_table() -> None:
    table = render_property_table()
    for name in Properties.model_fields:
        assert f"| `{name}` |" in table


def test_readme_cost_table_is_what_the_cost_command_computes() -> None:
    assert section(README.read_text(encoding="utf-8"), COST) == cost_table(), "run `make docs`"
