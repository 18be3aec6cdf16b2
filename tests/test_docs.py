"""README and code cannot drift: the property table is the declaration's rendering."""

from __future__ import annotations

from private_s3_processor.properties import Properties, render_property_table

from tests.docs import PROPERTIES, README, section


def test_readme_property_table_is_generated_from_the_declaration() -> None:
    assert section(README.read_text(encoding="utf-8"), PROPERTIES) == render_property_table(), (
        "run `make docs`"
    )


def test_every_property_is_in_the_table() -> None:
    table = render_property_table()
    for name in Properties.model_fields:
        assert f"| `{name}` |" in table
