"""No JSON null in a processed template: CloudFormation refuses one anywhere ("'null'
values are not allowed in templates"), so the Orchestrated state machine's definition,
whose ``"ResultPath": null`` discards a state's result, is written as DefinitionString
text, and the expansion refuses a null wherever it would appear (``nulls.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from private_s3_processor import Context, ExpansionError, expand, static_prefix_list
from private_s3_processor.nulls import null_errors, null_paths
from private_s3_processor_cli.definitions import definition_of
from private_s3_processor_cli.templates import load_template

from tests.golden import cases


def nulls_in(value: Any, path: str = "") -> list[str]:
    """Written out here, not the module's walk, so the two check each other."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls_in(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls_in(v, f"{path}/{i}")]
    return []


@pytest.mark.parametrize("name", cases.success_names())
def test_no_expansion_holds_a_null(name: str) -> None:
    result = cases.run(name)
    assert "errorMessage" not in result, result.get("errorMessage")
    assert nulls_in(result) == []


def machines(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]


@pytest.mark.parametrize(
    "name",
    [n for n in cases.success_names() if machines(cases.expected(n))],
)
def test_the_state_machine_is_definition_string_and_still_discards_results(name: str) -> None:
    """The text is the definition: ResultPath null keeps its meaning (discard the
    result) on the states that had it, and the substitutions are unchanged."""
    for props in machines(cases.run(name)):
        assert "Definition" not in props
        text = props["DefinitionString"]
        assert isinstance(text, str) and "\n" not in text
        states = definition_of(props)["States"]
        assert states["RunTask"]["ResultPath"] is None
        assert states["DeadLetter"]["ResultPath"] is None
        placeholders = {k for k in props["DefinitionSubstitutions"] if f"${{{k}}}" in text}
        assert placeholders == set(props["DefinitionSubstitutions"])


def test_the_definition_string_is_the_same_on_every_run() -> None:
    texts = {json.dumps(machines(cases.run("orchestrated"))) for _ in range(3)}
    assert len(texts) == 1


def template_with(resource: dict[str, Any]) -> dict[str, Any]:
    template = load_template(cases.INPUT / "orchestrated.yaml")
    template["Resources"]["Other"] = resource
    return template


def context() -> Context:
    return Context(cases.REGION, cases.ACCOUNT, static_prefix_list(cases.PREFIX_LIST))


def test_a_null_passed_through_is_refused_naming_where_it_is() -> None:
    """A null in a resource the transform only copies would fail the stack just the same."""
    template = template_with(
        {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "a", "Value": None}]}}
    )
    with pytest.raises(ExpansionError) as raised:
        expand(template, context())
    assert "/Resources/Other/Properties/Tags/0/Value" in str(raised.value)
    assert "'null' values are not allowed in templates" in str(raised.value)


def test_null_paths_are_json_pointers_in_document_order() -> None:
    value = {"a/b": [1, None, {"~": None}], "c": None, "d": {"e": [None]}}
    assert list(null_paths(value)) == ["/a~1b/1", "/a~1b/2/~0", "/c", "/d/e/0"]
    assert list(null_paths(None)) == ["/"]
    assert list(null_paths({"a": [0, "", False, {}, []]})) == []


def test_many_nulls_are_one_line_naming_the_first_few() -> None:
    (error,) = null_errors({"k": [None] * 12})
    assert error.startswith("Template: /k/0, /k/1, /k/2, /k/3, /k/4 and 7 more would be null")
    assert "\n" not in error


def test_a_deep_template_is_walked_without_recursion() -> None:
    """Deeper than Python's recursion limit (1,000)."""
    deep: Any = None
    for _ in range(5_000):
        deep = [deep]
    assert list(null_paths(deep)) == ["/" + "/".join(["0"] * 5_000)]
