"""The rule patterns in the golden outputs, evaluated by moto's EventBridge matcher.

The oracle is SPEC semantics 1 written directly: a key triggers a processor iff it
starts with Prefix AND ends with Suffix. Keys come from the filters themselves
(the edge cases), a list of awkward keys, and hypothesis.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.events.models import EventPattern
from private_s3_processor.trigger import key_filter

from tests.conftest import load_event
from tests.golden import cases

AWKWARD = [
    "",
    "a",
    "inbound/",
    "inbound/a.csv",
    "other/a.csv",
    "inbound/a.txt",
    "inbound/a.csv.txt",
    "inbound.csv",
    "INBOUND/A.CSV",
    "in bound/ä ü.csv",
    "inbound/a+b=c%20(1)'\".csv",
    "report.csv",
    "report.csv.csv",
    "reportcsv",
    "report.cs",
    ".csv",
    "x" * 1024,
    "in*box\\\\${x}?/file.c*v",
    "in*box\\\\${x}?/file.csv",
    "inXbox\\\\${x}?/file.c*v",
    "in*box\\${x}?/a.c*v",
    "out$/a.c*v",
    "alpha/x.beta",
    "gamma/x.txt",
    "gamma-out/x.txt",
]


def _event(bucket: str, key: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("s3-object-created.json"))
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["key"] = key
    return event


def _rules() -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(case, processor, pattern with the bucket filled in, prefix, suffix) per rule."""
    found = []
    for name in cases.success_names():
        out = cases.expected(name)
        for logical_id, res in out["Resources"].items():
            if res["Type"] != "AWS::Events::Rule":
                continue
            if res["Properties"]["EventPattern"]["source"] != ["aws.s3"]:
                continue  # a failure rule (ECS task state), checked in test_semantics
            processor = logical_id.removesuffix("Rule")
            bucket_id = f"{processor}Bucket"
            props = out["Resources"][bucket_id]["Metadata"]["PrivateS3Processor"]
            assert props["Processor"] == processor
            pattern = json.loads(
                json.dumps(res["Properties"]["EventPattern"]).replace(
                    json.dumps({"Ref": bucket_id}), json.dumps(f"bucket-{processor.lower()}")
                )
            )
            source = cases.load_template(cases.INPUT / f"{name}.yaml")
            params = {k: v.get("Default") for k, v in source.get("Parameters", {}).items()}
            raw = source["Resources"][processor]["Properties"]
            prefix = _value(raw.get("Prefix", ""), params)
            suffix = _value(raw.get("Suffix", ""), params)
            found.append((name, processor, pattern, prefix, suffix))
    return found


def _value(value: Any, params: dict[str, Any]) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(params[value["Ref"]])
    return str(value)


RULES = _rules()


def test_every_golden_rule_is_checked() -> None:
    assert len(RULES) >= 20


@pytest.mark.parametrize(
    ("case", "processor", "pattern", "prefix", "suffix"),
    RULES,
    ids=[f"{r[0]}-{r[1]}" for r in RULES],
)
def test_rule_matches_exactly_prefix_and_suffix(
    case: str, processor: str, pattern: dict[str, Any], prefix: str, suffix: str
) -> None:
    matcher = EventPattern.load(json.dumps(pattern))
    bucket = f"bucket-{processor.lower()}"
    keys = set(AWKWARD) | {
        prefix,
        suffix,
        prefix + suffix,
        prefix + "x" + suffix,
        prefix + suffix[1:],
        prefix[:-1] + suffix,
        "x" + prefix + suffix,
        prefix + suffix + "x",
        suffix + prefix,
    }
    for key in sorted(keys):
        want = key.startswith(prefix) and key.endswith(suffix)
        got = matcher.matches_event(_event(bucket, key))
        assert got == want, f"{case}/{processor}: key {key!r} matched={got}, expected {want}"
    # Another bucket's events never match.
    assert not matcher.matches_event(_event("someone-else", prefix + "x" + suffix))


def test_other_event_types_do_not_match() -> None:
    _, processor, pattern, prefix, suffix = RULES[0]
    event = _event(f"bucket-{processor.lower()}", prefix + "x" + suffix)
    event["detail-type"] = "Object Deleted"
    assert not EventPattern.load(json.dumps(pattern)).matches_event(event)


FRAGMENT = st.text(alphabet=st.sampled_from(list("ab.*\\/?$ {}c")), max_size=6)


@settings(max_examples=300, deadline=None)
@given(prefix=FRAGMENT, suffix=FRAGMENT, middle=FRAGMENT, key=FRAGMENT)
def test_key_filter_is_prefix_and_suffix(prefix: str, suffix: str, middle: str, key: str) -> None:
    """Any prefix/suffix pair, including overlapping ones and wildcard metacharacters."""
    keys_filter = key_filter(prefix, suffix)
    pattern: dict[str, Any] = {"source": ["aws.s3"]}
    if keys_filter is not None:
        pattern["detail"] = {"object": {"key": keys_filter}}
    matcher = EventPattern.load(json.dumps(pattern))
    for candidate in {
        key,
        prefix + middle + suffix,
        prefix + suffix,
        (prefix + suffix)[1:],
        prefix[: len(prefix) // 2] + suffix,
    }:
        want = candidate.startswith(prefix) and candidate.endswith(suffix)
        assert matcher.matches_event(_event("b", candidate)) == want, (prefix, suffix, candidate)


def _queued_rule_targets() -> list[tuple[str, str, dict[str, Any]]]:
    """(case, rule, target) for the rule of every Queued processor of the golden outputs:
    a rule whose target is the processor's own queue."""
    found = []
    for name in cases.success_names():
        resources = cases.expected(name)["Resources"]
        for logical_id, res in resources.items():
            if res["Type"] != "AWS::Events::Rule":
                continue
            for target in res["Properties"]["Targets"]:
                queue = f"{logical_id.removesuffix('Rule')}Queue"
                if target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}:
                    found.append((name, logical_id, target))
    return found


QUEUED_TARGETS = _queued_rule_targets()


def test_every_queued_golden_case_is_checked() -> None:
    """Every golden case with a Queued processor (a work queue in its output, whatever the
    case is called) has its rule targets checked below."""
    with_queue = {
        n
        for n in cases.success_names()
        if any(r["Type"] == "AWS::ECS::Service" for r in cases.expected(n)["Resources"].values())
    }
    cases_seen = {case for case, _, _ in QUEUED_TARGETS}
    assert {n for n in cases.success_names() if n.startswith("queued_")} <= with_queue
    assert cases_seen == with_queue


@pytest.mark.parametrize(
    ("case", "rule", "target"), QUEUED_TARGETS, ids=[f"{c}-{r}" for c, r, _ in QUEUED_TARGETS]
)
def test_queued_rules_send_the_whole_event(case: str, rule: str, target: dict[str, Any]) -> None:
    """SPEC semantics 15: the message is the event as EventBridge received it, so every legal
    key arrives unchanged. An InputTransformer (which does not JSON-escape what it
    substitutes), a constant Input or an InputPath would each change or drop it; the rule
    keeps its retry policy and dead-letter queue, and takes no role (the queue policy
    admits it)."""
    assert not {"InputTransformer", "Input", "InputPath", "RoleArn"} & set(target), (case, rule)
    processor = rule.removesuffix("Rule")
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": [f"{processor}DeadLetterQueue", "Arn"]}
    }
    assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
