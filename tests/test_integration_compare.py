"""The comparisons `make integration` relies on can fail: each accepts exactly what its
documented cause explains (DESIGN.md, "The second engine"), and nothing next to it."""

from __future__ import annotations

from integration.compare import (
    ENGINE_TRANSFORM_BYTES,
    differences,
    unexplained,
    without_engine_transform,
)
from integration.resolve import subset_problems


def template(**resources: dict[str, object]) -> dict[str, object]:
    return {"Resources": resources}


def test_differences_name_every_changed_missing_and_added_value() -> None:
    left = {"Resources": {"A": {"Type": "X", "Properties": {"N": 1, "L": [1, 2]}}}}
    right = {"Resources": {"A": {"Type": "X", "Properties": {"N": 2, "L": [1], "E": True}}}}
    found = {d.path for d in differences(left, right)}
    assert found == {
        "/Resources/A/Properties/N",
        "/Resources/A/Properties/L",
        "/Resources/A/Properties/E",
    }
    assert differences(left, left) == []
    # 1 and True are different JSON values, and so are 1 and "1".
    assert differences({"V": 1}, {"V": True}) and differences({"V": 1}, {"V": "1"})


def test_only_a_reordered_depends_on_is_explained() -> None:
    mine = template(A={"Type": "X", "DependsOn": ["B", "C"]})
    same = template(A={"Type": "X", "DependsOn": ["C", "B"]})
    other = template(A={"Type": "X", "DependsOn": ["C", "D"]})
    left, explained = unexplained(mine, same)
    assert left == [] and len(explained) == 1
    left, explained = unexplained(mine, other)
    assert left and explained == []


def test_the_sam_explanation_covers_only_what_sam_derives_from_its_own_resources() -> None:
    mine = {
        "Transform": "AWS::Serverless-2016-10-31",
        **template(Fn={"Type": "AWS::Serverless::Function"}, B={"Type": "X"}),
    }
    engine = template(
        Fn={"Type": "AWS::Lambda::Function"}, FnRole={"Type": "AWS::IAM::Role"}, B={"Type": "X"}
    )
    left, explained = unexplained(mine, engine)
    assert left == [] and explained
    # A resource SAM did not make, or a change to the macro's own, stays unexplained.
    engine_more = template(
        Fn={"Type": "AWS::Lambda::Function"}, Other={"Type": "Y"}, B={"Type": "Z"}
    )
    left, _ = unexplained(mine, engine_more)
    assert {d.path for d in left} == {"/Resources/Other", "/Resources/B/Type"}
    # Without the later transform nothing is explained.
    left, explained = unexplained(template(Fn={"Type": "AWS::Serverless::Function"}), engine)
    assert left and explained == []


def test_the_size_count_is_corrected_by_exactly_the_transform_section() -> None:
    assert ENGINE_TRANSFORM_BYTES == len('"Transform":"PrivateS3Processor",') == 33
    message = "Template: the processed template is 1,290,450 bytes of JSON; CloudFormation allows"
    assert without_engine_transform(message) == message.replace("1,290,450", "1,290,417")
    assert without_engine_transform("no size here") == "no size here"


def test_subset_comparison_finds_a_wrong_missing_or_extra_value() -> None:
    assert subset_problems({"A": "1", "B": [1, 2]}, {"a": 1, "b": [2, 1], "c": "x"}, "P") == []
    assert subset_problems({"A": "1"}, {"A": "2"}, "P")
    assert subset_problems({"A": "1"}, {}, "P") == ["P/A: missing on the engine"]
    assert subset_problems({"B": [1, 2]}, {"B": [1, 2, 3]}, "P")
    assert subset_problems({"B": [1, 1]}, {"B": [1, 2]}, "P")
    assert subset_problems({"A": {"X": 1}}, {"A": "flat"}, "P")
    assert subset_problems(True, False, "P") and subset_problems(False, "true", "P")
