"""`private-s3-processor cost`: the arithmetic on small cases computed by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_processor_cli.cost import CostError, Prices, estimate

from tests.conftest import cli
from tests.golden import cases

PRICES = Prices.load()


def test_the_bundled_price_table() -> None:
    assert (PRICES.region, PRICES.hours_per_month, PRICES.endpoint_az_hour) == (
        "us-east-1",
        730,
        0.01,
    )
    assert PRICES.fargate["X86_64"] == {"per_vcpu_hour": 0.04048, "per_gb_hour": 0.004445}
    assert PRICES.fargate["ARM64"] == {"per_vcpu_hour": 0.03238, "per_gb_hour": 0.00356}


@pytest.mark.parametrize(
    ("case", "endpoint_azs", "alarms"),
    [
        ("defaults", 5 * 2, 0),  # five interface endpoints in two AZs
        ("minimal_endpoints", 3 * 1, 0),  # and AvailabilityZones: 1
        ("three_azs", 5 * 3, 0),
        ("parameters", 5 * 1, 0),  # AvailabilityZones: 1
        ("kms", 6 * 2, 0),  # the kms endpoint too
        ("alarms", 5 * 2, 2),  # the dead-letter alarm and its age alarm
        ("existing_vpc", 5 * 2, 0),  # SubnetIds: a List parameter's two defaults
        ("existing_vpc_endpoints", 0, 0),  # the user's endpoints: not this template's cost
    ],
)
def test_fixed_cost(case: str, endpoint_azs: int, alarms: int) -> None:
    e = estimate(cases.expected(case), PRICES)
    assert e.fixed_monthly == pytest.approx(endpoint_azs * 730 * 0.01 + alarms * 0.10)


def test_per_file_x86_default_size_and_the_one_minute_minimum() -> None:
    # 0.25 vCPU, 0.5 GB for 60 s: (0.25 * 0.04048 + 0.5 * 0.004445) / 60.
    expected = (0.25 * 0.04048 + 0.5 * 0.004445) / 60
    for seconds in (1, 30, 60):  # billed 60 s
        (task,) = estimate(cases.expected("defaults"), PRICES, duration_s=seconds).tasks
        assert task.per_file == pytest.approx(expected)
    (task,) = estimate(cases.expected("defaults"), PRICES, duration_s=150).tasks
    assert task.per_file == pytest.approx(expected * 150 / 60)


def test_per_file_follows_the_architecture_and_size() -> None:
    tasks = {t.processor: t for t in estimate(cases.expected("arm64_sizing"), PRICES).tasks}
    heavy, small = tasks["Heavy"], tasks["Smallest"]
    assert (heavy.architecture, heavy.vcpu, heavy.gb) == ("ARM64", 2, 8)
    assert heavy.per_file == pytest.approx((2 * 0.03238 + 8 * 0.00356) / 60)
    assert (small.architecture, small.vcpu, small.gb) == ("X86_64", 1, 2)
    assert small.per_file == pytest.approx((1 * 0.04048 + 2 * 0.004445) / 60)


def test_orchestrated_adds_the_transitions_of_its_definition() -> None:
    """Counted by running the template's own definition: CheckEvent, CheckTypes, RunTask,
    Processed for an upload processed first time."""
    e = estimate(cases.expected("orchestrated"), PRICES)
    tasks = {t.processor: t for t in e.tasks}
    assert tasks["Invoices"].orchestrated and not tasks["Receipts"].orchestrated
    assert (tasks["Invoices"].state_transitions, tasks["Receipts"].state_transitions) == (4, 0)
    assert tasks["Invoices"].transitions == pytest.approx(4 * 0.000025)
    assert tasks["Invoices"].per_file - tasks["Receipts"].per_file == pytest.approx(0.0001)
    # A retried launch: RetryLaunch, FirstRetry, Backoff, WaitToRetry, RunTask (5); a task
    # that never started also passes StoppedTask, ReadStoppedTask, HasExitCode, StopCode.
    assert "5 to 9 more transitions for each launch the state machine retries" in " ".join(e.notes)


def test_the_count_follows_the_definition() -> None:
    """A state added to the happy path is priced without touching the cost command."""
    template = cases.expected("orchestrated")
    machine = template["Resources"]["InvoicesStateMachine"]["Properties"]["Definition"]
    machine["States"]["Extra"] = {"Type": "Pass", "Next": "RunTask"}
    machine["States"]["CheckTypes"]["Choices"][0]["Next"] = "Extra"
    (task,) = [t for t in estimate(template, PRICES).tasks if t.orchestrated]
    assert task.state_transitions == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("Definition"), "no Definition object"),
        (lambda p: p["Definition"].update(StartAt="Nowhere"), "cannot count"),
        (lambda p: p["Definition"]["States"]["RunTask"].update(TimeoutSeconds=5), "cannot count"),
        (lambda p: p["Definition"].update(StartAt="Failed"), "does not succeed"),
    ],
)
def test_a_state_machine_it_cannot_count_is_a_clear_error(change: Any, message: str) -> None:
    template = cases.expected("orchestrated")
    change(template["Resources"]["InvoicesStateMachine"]["Properties"])
    with pytest.raises(CostError, match=f"InvoicesStateMachine: .*{message}"):
        estimate(template, PRICES)


def test_original_design_is_five_endpoints_in_two_azs_per_pipeline() -> None:
    three = estimate(cases.expected("three_processors"), PRICES)
    assert three.original_monthly(3) == pytest.approx(3 * 73.0)
    # Three processors here share one network (five endpoints + kms, two AZs).
    assert three.fixed_monthly == pytest.approx(6 * 2 * 7.3)


@pytest.mark.parametrize("case", cases.success_names())
def test_every_golden_template_is_priced(case: str) -> None:
    # The one List parameter without a default gets its value as on the command line.
    e = estimate(cases.expected(case), PRICES, parameters={"Subnets": "subnet-a,subnet-b"})
    assert e.tasks and all(t.per_file > 0 for t in e.tasks)


def test_command_on_the_example_and_an_expanded_template(tmp_path: Path) -> None:
    import template

    example = tmp_path / "example.json"  # what template.py writes to build/example.yaml
    example.write_text(json.dumps(template.example_template().to_dict()))
    run = cli(
        "cost",
        str(example),
        "--parameter",
        "WorkerImage=123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1",
        "--files",
        "1000",
    )
    assert run.returncode == 0, run.stderr
    assert "$73.00" in run.stdout and "1,000 files/month: $0.21" in run.stdout
    out = tmp_path / "o.json"
    out.write_text(json.dumps(cases.expected("orchestrated")))
    run = cli("cost", str(out), "--json", "--duration", "90")
    assert run.returncode == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    assert data["fixed_monthly"] == pytest.approx(73.0 + 2 * 0.10)  # two DLQ alarms
    assert data["original_design_fixed_monthly"] == pytest.approx(146.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "more than 0 seconds"),
        (["--files", "-1"], "--files must be 0 or more"),
        (["--prices", "nope.json"], "price table nope.json"),
    ],
)
def test_bad_options_are_clear_errors(args: list[str], message: str) -> None:
    run = cli("cost", str(cases.OUTPUT / "defaults.json"), *args)
    assert run.returncode == 1 and message in run.stderr and run.stdout == ""


def test_a_broken_price_table_and_unpriceable_templates(tmp_path: Path) -> None:
    broken = tmp_path / "p.json"
    broken.write_text('{"region": "x"}')
    with pytest.raises(CostError, match="missing or invalid entry"):
        Prices.load(broken)
    template = cases.expected("defaults")
    template["Resources"]["UploadsTaskDefinition"]["Properties"]["Cpu"] = {"Ref": "Size"}
    with pytest.raises(CostError, match="Ref Size, which has no value"):
        estimate(template, PRICES)
    assert estimate(template, PRICES, parameters={"Size": "512"}).tasks[0].vcpu == 0.5
    with pytest.raises(CostError, match="no Resources"):
        estimate({}, PRICES)
    run = cli("cost", str(cases.INPUT / "error_cpu_memory.yaml"))
    assert run.returncode == 1 and "Memory" in run.stderr


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    path=st.lists(
        st.sampled_from(
            [
                "States",
                "RunTask",
                "Retry",
                "Choices",
                "0",
                "Next",
                "CheckEvent",
                "Backoff",
                "Parameters",
                "StartAt",
            ]
        ),
        max_size=4,
    ),
    value=_JSON,
)
def test_a_broken_definition_is_a_cost_error_never_a_traceback(path: list[str], value: Any) -> None:
    """Any value anywhere in the definition: priced, or refused with CostError."""
    template = cases.expected("orchestrated")
    node: Any = template["Resources"]["InvoicesStateMachine"]["Properties"]
    steps = ["Definition", *path]
    for step in steps[:-1]:
        if isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return
    if isinstance(node, dict):
        node[steps[-1]] = value
    try:
        estimate(template, PRICES)
    except CostError as exc:
        assert "InvoicesStateMachine" in str(exc)
