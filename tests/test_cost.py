"""`private-s3-processor cost`: the arithmetic on small cases computed by hand."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from private_s3_processor_cli.commands import parser
from private_s3_processor_cli.cost import (
    DEFAULT_STARTUP_S,
    CostError,
    Estimate,
    Prices,
    Volume,
    estimate,
)
from private_s3_processor_cli.cost_report import TaskCost
from private_s3_processor_cli.templates import expand_document

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


def machine_properties(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"]["InvoicesStateMachine"]["Properties"]
    return props


def edited(props: dict[str, Any], change: Any) -> None:
    """Apply ``change`` to the definition the macro wrote as DefinitionString."""
    definition = json.loads(props["DefinitionString"])
    change(definition)
    props["DefinitionString"] = json.dumps(definition)


def as_object(props: dict[str, Any], definition: Any) -> None:
    """The definition as a ``Definition`` object, as a template written by hand may."""
    del props["DefinitionString"]
    props["Definition"] = definition


def test_the_count_follows_the_definition() -> None:
    """A state added to the happy path is priced without touching the cost command."""
    template = cases.expected("orchestrated")

    def extra_state(machine: dict[str, Any]) -> None:
        machine["States"]["Extra"] = {"Type": "Pass", "Next": "RunTask"}
        machine["States"]["CheckTypes"]["Choices"][0]["Next"] = "Extra"

    edited(machine_properties(template), extra_state)
    (task,) = [t for t in estimate(template, PRICES).tasks if t.orchestrated]
    assert task.state_transitions == 5


def test_a_definition_object_written_by_hand_is_counted_the_same() -> None:
    """A template may give the definition as a Definition object instead."""
    template = cases.expected("orchestrated")
    props = machine_properties(template)
    as_object(props, json.loads(props["DefinitionString"]))
    (task,) = [t for t in estimate(template, PRICES).tasks if t.orchestrated]
    assert task.state_transitions == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("DefinitionString"), "no DefinitionString or Definition"),
        (lambda p: edited(p, lambda d: d.update(StartAt="Nowhere")), "cannot count"),
        (
            lambda p: edited(p, lambda d: d["States"]["RunTask"].update(TimeoutSeconds=5)),
            "cannot count",
        ),
        (lambda p: edited(p, lambda d: d.update(StartAt="Failed")), "does not succeed"),
        (lambda p: p.update(DefinitionString="{not json"), "DefinitionString is not JSON"),
        (lambda p: p.update(DefinitionString="[" * 100_000), "DefinitionString is not JSON"),
        (lambda p: p.update(DefinitionString="[]"), "DefinitionString is not a JSON object"),
        (lambda p: p.update(DefinitionString={"Fn::Sub": "{}"}), "not a plain string"),
        (lambda p: as_object(p, ["x"]), "Definition is not an object"),
    ],
)
def test_a_state_machine_it_cannot_count_is_a_clear_error(change: Any, message: str) -> None:
    template = cases.expected("orchestrated")
    change(machine_properties(template))
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
    """Any value anywhere in the definition, or as the whole DefinitionString: priced,
    or refused with CostError."""
    template = cases.expected("orchestrated")
    props = machine_properties(template)
    if not path:
        props["DefinitionString"] = value
    else:
        node: Any = json.loads(props["DefinitionString"])
        root = node
        for step in path[:-1]:
            if isinstance(node, list) and step.isdigit() and int(step) < len(node):
                node = node[int(step)]
            elif isinstance(node, dict) and step in node:
                node = node[step]
            else:
                return
        if isinstance(node, dict):
            node[path[-1]] = value
        props["DefinitionString"] = json.dumps(root)
    try:
        estimate(template, PRICES)
    except CostError as exc:
        assert "InvoicesStateMachine" in str(exc)


# --- Delivery: Queued ----------------------------------------------------------------------


def queued_template(
    concurrency: int = 4, max_tasks: int = 10, idle_s: int = 300, visibility_s: int = 300
) -> dict[str, Any]:
    """One Queued processor as the macro expands it: ``cost`` reads the expanded
    template, so every figure below comes from the macro's own resources."""
    props = {
        "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0",
        "Delivery": "Queued",
        "Concurrency": concurrency,
        "MaxTasks": max_tasks,
        "IdleSeconds": idle_s,
        "VisibilityTimeoutSeconds": visibility_s,
    }
    out: dict[str, Any] = expand_document(
        {"Resources": {"Uploads": {"Type": "PrivateS3Processor", "Properties": props}}},
        region=cases.REGION,
        account_id=cases.ACCOUNT,
        prefix_list_id=cases.PREFIX_LIST,
    )
    return out


RATE_S = (0.25 * 0.04048 + 0.5 * 0.004445) / 3600  # $ per task-second, 0.25 vCPU, 0.5 GB
MONTH_S = 730 * 3600
SQS = 0.40 / 1_000_000


def queued_parts(
    template: dict[str, Any], files: int | None, bursts: int = 0, d: float = 0.1
) -> tuple[dict[str, float], TaskCost, Estimate]:
    e = estimate(template, PRICES, duration_s=d, volume=Volume(files, bursts, 30.0))
    (task,) = e.tasks
    assert task.delivery == "Queued"
    return {p.item: p.amount for p in task.parts}, task, e


def test_queued_fixed_cost_adds_the_sqs_endpoint_and_alarm_metrics() -> None:
    """Six interface endpoints (the sqs one too) in two AZs, and two metric-math alarms of
    three metrics each: CloudWatch bills each metric an alarm reads."""
    e = estimate(queued_template(), PRICES)
    assert e.fixed_monthly == pytest.approx(6 * 2 * 7.3 + 6 * 0.10)
    (alarms,) = [line for line in e.fixed if line.item == "CloudWatch alarms"]
    assert alarms.quantity.startswith("2 alarms, 6 alarm metrics")


def test_queued_in_bursts_computed_by_hand() -> None:
    """1,000,000 files in 30 bursts: the backlog alarm sees (33,333 visible + 33,333 arrived)
    / 4, so the steps ask for MaxTasks (10); each task runs 30 s start-up + its share of
    the processing + 300 s idle tail."""
    parts, task, _ = queued_parts(queued_template(), 1_000_000, 30)
    work_s = 1_000_000 * 0.1 / 4
    overhead_s = 30 * 10 * (30 + work_s / 30 / 10 + 300) - work_s
    assert parts["Fargate, processing"] == pytest.approx(0.1 / 4 * RATE_S)
    assert parts["Fargate, start-up, idle"] == pytest.approx(overhead_s * RATE_S / 1e6)
    assert parts["SQS requests"] == pytest.approx(3 * SQS)  # send, receive, delete
    assert parts["SQS empty long polls"] == pytest.approx(30 * 10 * 300 / 20 * SQS / 1e6)
    assert task.per_file == pytest.approx(sum(parts.values()))


def test_queued_spread_evenly_keeps_the_tasks_the_policy_asks_for() -> None:
    """22.8 files a minute of 0.1 s each: the queue holds about 0.04 messages, the
    expression gives 0.04 / 4 (the minute's arrivals count only when the queue reports
    none), the step [0, 1) asks for one task, and a file comes every few seconds, so it
    never scales in."""
    parts, _, _ = queued_parts(queued_template(), 1_000_000)
    work_s = 1_000_000 * 0.1 / 4
    assert parts["Fargate, start-up, idle"] == pytest.approx((MONTH_S - work_s) * RATE_S / 1e6)
    # Fewer files a minute, fewer tasks: 2 files a minute -> 0.5 -> one task.
    parts, _, _ = queued_parts(queued_template(), 87_600)
    assert parts["Fargate, start-up, idle"] == pytest.approx(
        (MONTH_S - 87_600 * 0.025) * RATE_S / 87_600
    )


def test_queued_files_further_apart_than_the_idle_window_pay_it_each() -> None:
    """1,000 files a month, 44 minutes apart: each starts a task that runs 30 s + 0.025 s
    + 300 s; a Queued file costs more than a Direct one here, and the table says so."""
    parts, task, _ = queued_parts(queued_template(), 1000)
    assert parts["Fargate, start-up, idle"] == pytest.approx((30 + 300) * RATE_S)
    direct = estimate(cases.expected("defaults"), PRICES, duration_s=0.1).tasks[0]
    assert task.per_file > direct.per_file


def test_queued_reads_every_figure_from_the_expanded_template() -> None:
    """Concurrency from the worker's environment, MaxTasks from the scalable target,
    IdleSeconds from the idle alarm, the visibility timeout from the queue."""
    parts, _, _ = queued_parts(queued_template(concurrency=16), 1_000_000, 30)
    assert parts["Fargate, processing"] == pytest.approx(0.1 / 16 * RATE_S)
    small = queued_template(max_tasks=3, idle_s=600)
    parts, _, _ = queued_parts(small, 1_000_000, 30)
    work_s = 1_000_000 * 0.1 / 4
    overhead_s = 30 * 3 * (30 + work_s / 30 / 3 + 600) - work_s
    assert parts["Fargate, start-up, idle"] == pytest.approx(overhead_s * RATE_S / 1e6)
    # 400 s objects with a 300 s visibility timeout: extended every 150 s, twice.
    parts, _, _ = queued_parts(queued_template(), 1000, 10, d=400)
    assert parts["SQS requests"] == pytest.approx(5 * SQS)


def test_queued_without_files_prices_the_file_and_states_the_burst() -> None:
    parts, _, e = queued_parts(queued_template(), None)
    assert set(parts) == {"Fargate, processing", "SQS requests"}
    (note,) = [n for n in e.notes if "each scale-out burst adds" in n]
    assert f"${330 * RATE_S:.6f}" in note
    assert any("CPU-bound" in n and f"${0.1 * RATE_S:.9f}" in n for n in e.notes)


def test_queued_more_work_than_max_tasks_can_do_is_refused() -> None:
    with pytest.raises(CostError, match="10 tasks cannot keep up"):
        queued_parts(queued_template(), 1_000_000, d=20_000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("UploadsScalableTarget"), "no AWS::ApplicationAutoScaling::Scalable"),
        (lambda r: r["UploadsIdleAlarm"]["Properties"].pop("Metrics"), "no Period"),
        (
            lambda r: r["UploadsBacklogAlarm"]["Properties"]["Metrics"][3].update(
                Expression="SQRT(visible)"
            ),
            "cannot model the metric math",
        ),
        (
            lambda r: r["UploadsBacklogAlarm"]["Properties"]["Metrics"][0]["MetricStat"][
                "Metric"
            ].update(MetricName="CPUUtilization"),
            "cannot model the metric",
        ),
        (
            lambda r: r["UploadsScaleOutPolicy"]["Properties"][
                "StepScalingPolicyConfiguration"
            ].update(AdjustmentType="PercentChangeInCapacity"),
            "cannot model AdjustmentType",
        ),
        (
            lambda r: r["UploadsTaskDefinition"]["Properties"]["ContainerDefinitions"][0][
                "Environment"
            ][1].update(Value="many"),
            "QUEUE_CONCURRENCY of Uploads must be a number",
        ),
        (
            lambda r: r["UploadsQueue"]["Properties"].update(ReceiveMessageWaitTimeSeconds=0),
            "short",
        ),
        (
            lambda r: r["UploadsScaleOutPolicy"]["Properties"].update(
                PolicyType="TargetTrackingScaling"
            ),
            "cannot model PolicyType 'TargetTrackingScaling'",
        ),
        (
            lambda r: r["UploadsScalableTarget"]["Properties"].update(MinCapacity=20),
            "MinCapacity 20 must be 0 to MaxCapacity 10",
        ),
        (
            lambda r: r["UploadsBacklogAlarm"]["Properties"]["Metrics"][0]["MetricStat"].update(
                Period=300
            ),
            "cannot model a Period of 300",
        ),
    ],
)
def test_a_queued_template_it_cannot_model_is_a_clear_error(change: Any, message: str) -> None:
    template = queued_template()
    change(template["Resources"])
    with pytest.raises(CostError, match=message):
        estimate(template, PRICES, duration_s=0.1, volume=Volume(1_000_000, 0, 30.0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bursts", "-1"], "--bursts must be 0 or more"),
        (["--bursts", "5"], "--bursts needs --files"),
        (["--files", "4", "--bursts", "5"], "--bursts (5) cannot exceed --files (4)"),
        (["--startup", "nan"], "--startup must be 0 seconds or more"),
        (["--startup", "-1"], "--startup must be 0 seconds or more"),
    ],
)
def test_bad_queued_options_are_one_line_errors(args: list[str], message: str) -> None:
    run = cli("cost", str(cases.OUTPUT / "defaults.json"), *args)
    assert run.returncode == 1 and run.stdout == "", run.stderr
    (line,) = run.stderr.splitlines()
    assert message in line


def test_the_options_say_what_they_do_and_the_default_start_up_is_the_models() -> None:
    (sub,) = (a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {o: a for a in sub.choices["cost"]._actions for o in a.option_strings}
    assert options["--startup"].default == DEFAULT_STARTUP_S
    assert all(options[o].help for o in ("--bursts", "--startup", "--files", "--duration"))


# --- the three modes at 1,000,000 files a month of 100 ms each -----------------------------

MODES_ARGS = ["--duration", "0.1", "--files", "1000000"]
AMOUNT = re.compile(r"\$([0-9.,]+)")


def _blocks(stdout: str) -> list[tuple[list[float], float, tuple[float, float, float, float]]]:
    """Each processor's printed lines: the amounts of its parts, its per-file figure, and
    the all-in line (fixed, variable, total, per file)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Per processed file"))
    out = []
    parts: list[float] = []
    for line in lines[start + 1 :]:
        amounts = [float(a.replace(",", "")) for a in AMOUNT.findall(line)]
        if line.startswith("    per file"):
            out.append((parts, amounts[0], (0.0, 0.0, 0.0, 0.0)))
            parts = []
        elif line.startswith("  All in"):
            fixed, variable, total, per_file = amounts
            out = [(p, f, (fixed, variable, total, per_file)) for p, f, _ in out]
            break
        elif line.startswith("    "):
            (amount,) = amounts
            parts.append(amount)
    return out


def test_the_three_modes_at_a_million_100_ms_files(tmp_path: Path) -> None:
    """From the command line, as the README gives it: each per-file figure is the sum of
    its printed lines, the all-in figure is fixed + variable over the files, and Queued <
    Direct < Orchestrated."""
    figures = {}
    for mode in ("Direct", "Orchestrated"):
        path = tmp_path / f"{mode}.yaml"
        path.write_text(ONE_PROCESSOR.format(delivery=mode))
        figures[mode] = _cost(path)
    queued = tmp_path / "queued.json"
    queued.write_text(json.dumps(queued_template()))
    figures["Queued"] = _cost(queued)
    figures["Queued, 30 bursts"] = _cost(queued, "--bursts", "30")
    for name, (parts, per_file, (fixed, variable, total, all_in)) in figures.items():
        assert per_file == pytest.approx(sum(parts), abs=1e-9 * len(parts)), name
        assert variable == pytest.approx(per_file * 1e6, abs=0.01), name
        assert total == pytest.approx(fixed + variable, abs=0.01), name
        # The monthly figures are printed to the cent, the per-file ones to 1e-9 dollar.
        assert all_in == pytest.approx(total / 1e6, abs=0.005 / 1e6 + 1e-9), name
    variable_per_file = {name: f[1] for name, f in figures.items()}
    all_in_per_file = {name: f[2][3] for name, f in figures.items()}
    for each in (variable_per_file, all_in_per_file):
        assert each["Queued, 30 bursts"] < each["Queued"] < each["Direct"] < each["Orchestrated"]
    assert variable_per_file["Direct"] == pytest.approx(60 * RATE_S, abs=1e-9)
    assert variable_per_file["Orchestrated"] == pytest.approx(60 * RATE_S + 4 * 0.000025, abs=1e-9)


ONE_PROCESSOR = """\
Transform: PrivateS3Processor
Resources:
  Uploads:
    Type: PrivateS3Processor
    Properties:
      Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0
      Delivery: {delivery}
"""


def _cost(path: Path, *more: str) -> tuple[list[float], float, tuple[float, float, float, float]]:
    run = cli("cost", str(path), *MODES_ARGS, *more)
    assert run.returncode == 0, run.stderr
    (block,) = _blocks(run.stdout)
    return block
