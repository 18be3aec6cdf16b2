"""The README's property table, generated from the declaration (``properties.py``); and
which fields the transform must know the value of."""

from __future__ import annotations

from pydantic import BaseModel

from .properties import NetworkSettings, Properties


def known_fields(model: type[BaseModel]) -> list[str]:
    """Names of the fields whose values the transform must know (so ``Ref`` is resolved)."""
    return [
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("known")
    ]


def property_rows() -> list[tuple[str, str, str, str]]:
    """(property, type, default, rule) for every property, in declaration order."""
    rows = []
    for name, field in Properties.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        rows.append(
            (f"`{name}`", str(extra["doc_type"]), str(extra["doc_default"]), str(extra["doc_rule"]))
        )
    return rows


def render_property_table() -> str:
    """The README's property table, generated from the declaration above."""
    lines = ["| property | type | default | rule |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in property_rows()]
    network_rows = []
    for name, field in NetworkSettings.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict)
        network_rows.append(
            f"| `Network.{name}` | {extra['doc_type']} | {extra['doc_default']} | "
            f"{extra['doc_rule']} |"
        )
    return "\n".join(lines + network_rows) + "\n"
