"""The Lambda handler speaks the macro contract and never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from private_s3_processor import handler
from private_s3_processor.context import static_prefix_list
from private_s3_processor.properties import Properties
from private_s3_processor_cli.templates import expand_document

LOOKUP = static_prefix_list("pl-6da54004")


def test_macro_request_succeeds_like_the_cli(macro_request: dict[str, Any]) -> None:
    response = handler.handle(macro_request, LOOKUP)
    assert response["status"] == "success"
    assert response["requestId"] == macro_request["requestId"]
    cli = expand_document(
        macro_request["fragment"],
        parameters=macro_request["templateParameterValues"],
        region=macro_request["region"],
        account_id=macro_request["accountId"],
        prefix_list_id="pl-6da54004",
    )
    assert response["fragment"] == cli
    assert "Invoices" not in response["fragment"]["Resources"]
    assert response["fragment"]["Outputs"]["Bucket"]["Value"] == {"Ref": "InvoicesBucket"}


def test_invalid_fragment_is_a_failure_with_the_message(macro_request: dict[str, Any]) -> None:
    macro_request["fragment"]["Resources"]["Invoices"]["Properties"]["Memory"] = 300
    response = handler.handle(macro_request, LOOKUP)
    assert response["status"] == "failure"
    assert response["errorMessage"] == (
        "Resource 'Invoices': property 'Memory' must be one of 512, 1024, 2048 when Cpu is 256 "
        "(got 300)"
    )
    # The fragment is given back unchanged: nothing the user wrote is lost.
    assert response["fragment"] == macro_request["fragment"]


def test_lookup_failure_is_reported(macro_request: dict[str, Any]) -> None:
    def broken(region: str) -> str:
        raise ConnectionError(f"cannot reach ec2.{region}")

    response = handler.handle(macro_request, broken)
    assert response["status"] == "failure"
    assert "S3 prefix list" in response["errorMessage"]
    assert "cannot reach ec2.eu-west-1" in response["errorMessage"]


def test_unexpected_error_becomes_failure_with_request_id(
    macro_request: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(handler, "expand", explode)
    response = handler.handle(macro_request, LOOKUP)
    assert response["status"] == "failure"
    assert macro_request["requestId"] in response["errorMessage"]
    assert "ZeroDivisionError: boom" in response["errorMessage"]
    assert any(macro_request["requestId"] in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        3,
        {"requestId": "r1"},
        {"requestId": "r2", "fragment": []},
        {"requestId": "r3", "fragment": {"Resources": {}}},
        {"requestId": "r4", "fragment": {"Resources": {"A": {}}}, "templateParameterValues": "x"},
    ],
)
def test_malformed_events_fail_cleanly(event: Any) -> None:
    response = handler.handle(event, LOOKUP)
    assert response["status"] == "failure"
    assert response["errorMessage"]


def test_lambda_handler_uses_pinned_prefix_list(
    macro_request: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_PREFIX_LIST_ID", "pl-0123abcd")
    monkeypatch.setattr(handler, "_LOOKUP", None)
    response = handler.lambda_handler(macro_request, None)
    assert response["status"] == "success"
    text = json.dumps(response["fragment"])
    assert '"DestinationPrefixListId": "pl-0123abcd"' in text


# Values of every JSON shape, plus intrinsics, plus the properties' own names: enough to
# reach every validation branch.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 200000),
    st.text(max_size=20),
    st.sampled_from(["Test", "ARM64", "Minimal", "inbound/", ".csv", "512"]),
)
VALUES = st.recursive(
    st.one_of(SCALARS, st.builds(lambda r: {"Ref": r}, st.sampled_from(["P", "AWS::Region", "X"]))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.one_of(st.sampled_from(list(Properties.model_fields)), st.text(max_size=10))
PROPERTIES = st.dictionaries(NAMES, VALUES, max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(props=PROPERTIES, with_image=st.booleans())
def test_handler_never_raises(props: dict[str, Any], with_image: bool) -> None:
    if with_image:
        props["Image"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1"
    event = {
        "requestId": "h",
        "region": "eu-west-1",
        "accountId": "123456789012",
        "templateParameterValues": {"P": "v"},
        "fragment": {"Resources": {"Proc": {"Type": "PrivateS3Processor", "Properties": props}}},
    }
    response = handler.handle(event, LOOKUP)
    assert response["requestId"] == "h"
    if response["status"] == "failure":
        assert response["errorMessage"].strip()
        assert "Internal error" not in response["errorMessage"], response["errorMessage"]
    else:
        assert response["status"] == "success"
        assert "Proc" not in response["fragment"]["Resources"]
        json.dumps(response["fragment"])
