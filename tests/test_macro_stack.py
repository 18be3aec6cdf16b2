"""The macro stack: template.py's outputs, cfn-lint, sam validate/build, the bundle,
and real clients (sam deploy, CloudFormation StackSets) against the moto server."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_s3_processor_cli.emulator import aws_env, moto_server
from private_s3_processor_cli.templates import load_template

import template as templates
from tests import docs
from tests.conftest import ROOT, cli, find_python313, load_event, tool
from tests.iam import as_list, statements, unknown_actions

SNAPSHOTS = ROOT / "tests" / "snapshots"
BUILD = ROOT / "build"


def test_snapshots_match_template_py() -> None:
    """template.py's output is reviewed: `make snapshots` rewrites tests/snapshots/."""
    rendered = templates.render()
    stored = {
        str(p.relative_to(SNAPSHOTS)): p.read_text(encoding="utf-8")
        for p in SNAPSHOTS.rglob("*")
        if p.is_file()
    }
    assert set(stored) == set(rendered)
    for name, text in rendered.items():
        assert stored[name] == text, f"{name} changed: run `make snapshots` and review the diff"


@pytest.fixture(scope="module")
def build_dir() -> Path:
    """build/ written by template.py (the CodeUri ../macros is relative to it)."""
    assert templates.main([str(BUILD)]) == 0
    return BUILD


def test_build_templates_pass_cfn_lint(build_dir: Path) -> None:
    files = [str(build_dir / n) for n in templates.TEMPLATES]
    run = subprocess.run(
        [tool("cfn-lint"), *files, "--registry-schemas", str(build_dir / "cfn-lint-schemas")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_the_example_expands_and_passes_cfn_lint(build_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "example.json"
    run = cli(
        "expand",
        str(build_dir / "example.yaml"),
        "-o",
        str(out),
        "--parameter",
        "WorkerImage=123456789012.dkr.ecr.eu-west-1.amazonaws.com/w:1",
        "--s3-prefix-list-id",
        "pl-6da54004",
    )
    assert run.returncode == 0, run.stderr
    lint = subprocess.run([tool("cfn-lint"), str(out)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout


def _sam_env() -> dict[str, str]:
    """sam needs the Lambda runtime's Python (3.13) on PATH to build for it."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    python313 = find_python313()
    if python313 is None:
        pytest.fail(
            "no working python3.13 found: sam build for the python3.13 runtime needs "
            "it (the Makefile looks on PATH and in pyenv; set PY313=/path/to/it)"
        )
    env["PATH"] = f"{Path(python313).parent}{os.pathsep}{env['PATH']}"
    return env


def sam(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    run = subprocess.run(
        [tool("sam"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env or _sam_env(),
        cwd=cwd,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def test_sam_validate_lint(build_dir: Path) -> None:
    out = sam("validate", "--lint", "--template-file", str(build_dir / "macro.yaml"))
    assert "is a valid SAM Template" in out


@pytest.fixture(scope="module")
def sam_builds(build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`sam build` for the default architecture (arm64) and for this machine's."""
    builds = {}
    for arch in ("arm64", "x86_64"):
        out = tmp_path_factory.mktemp(f"sam-{arch}")
        sam(
            "build",
            "--template-file",
            str(build_dir / "macro.yaml"),
            "--build-dir",
            str(out),
            "--parameter-overrides",
            f"FunctionArchitecture={arch}",
        )
        builds[arch] = out
    return builds


def test_sam_build_bundles_the_dependencies_for_arm64(sam_builds: dict[str, Path]) -> None:
    bundle = sam_builds["arm64"] / "MacroFunction"
    assert (bundle / "private_s3_processor" / "handler.py").exists()
    assert (bundle / "troposphere" / "__init__.py").exists()
    assert list((bundle / "pydantic_core").glob("*aarch64-linux-gnu.so"))
    assert not list((bundle / "pydantic_core").glob("*x86_64-linux-gnu.so"))


BUNDLE_PROBE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
os.environ["S3_PREFIX_LIST_ID"] = "pl-6da54004"
from private_s3_processor.handler import lambda_handler
print(json.dumps(lambda_handler(json.load(sys.stdin), None)))
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if "site-packages" in path:
        raise SystemExit(f"loaded from outside the bundle: {name} {path}")
"""


def test_bundle_is_complete(sam_builds: dict[str, Path], tmp_path: Path) -> None:
    """The handler runs from the built bundle alone, in a fresh Python 3.13 that sees no
    site-packages (-I -S), and answers the real-shaped request like the CLI."""
    request = load_event("macro-request.json")
    bundle = sam_builds["x86_64"] / "MacroFunction"
    run = subprocess.run(
        [str(find_python313()), "-I", "-S", "-c", BUNDLE_PROBE, str(bundle)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    response = json.loads(run.stdout.splitlines()[0])
    assert response["status"] == "success", response.get("errorMessage")
    params = [f"--parameter={k}={v}" for k, v in request["templateParameterValues"].items()]
    fragment = tmp_path / "fragment.json"
    fragment.write_text(json.dumps(request["fragment"]))
    expanded = cli(
        "expand",
        str(fragment),
        "--region",
        request["region"],
        "--account-id",
        request["accountId"],
        "--s3-prefix-list-id",
        "pl-6da54004",
        *params,
    )
    assert expanded.returncode == 0, expanded.stderr
    assert response["fragment"] == json.loads(expanded.stdout)
    assert response["requestId"] == request["requestId"]


def bundle_zip(sam_build: Path, out: Path) -> Path:
    """The zip sam deploy would upload, for the StackSet code bucket."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((sam_build / "MacroFunction").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(sam_build / "MacroFunction"))
    return out


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def _client(service: str, endpoint: str) -> Any:
    env = aws_env(endpoint)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_sam_deploy_from_samconfig_against_the_emulator(
    sam_builds: dict[str, Path], emulator: str
) -> None:
    """A real client end to end: `sam deploy` (non-guided, samconfig's default environment)
    uploads the bundle and template and runs the change set on moto. moto does not apply
    the AWS::Serverless transform, so the function and the Macro are not created there
    (DESIGN.md records where it stops); what moto does create is checked."""
    s3 = _client("s3", emulator)
    s3.create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    env = {**_sam_env(), **aws_env(emulator)}
    out = sam(
        "deploy",
        "--config-file",
        str(ROOT / "samconfig.toml"),
        "--config-env",
        "default",
        "--template-file",
        str(sam_builds["x86_64"] / "template.yaml"),
        "--s3-bucket",
        "artifacts",
        "--no-resolve-s3",
        "--no-confirm-changeset",
        "--region",
        "eu-west-1",
        env=env,
        cwd=sam_builds["x86_64"],
    )
    assert "Successfully created/updated stack - private-s3-processor-macro" in out
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="artifacts")["Contents"]]
    assert any(
        k.startswith("private-s3-processor-macro/") and k.endswith(".template") for k in keys
    )
    assert len(keys) == 2, keys  # the code zip and the template
    cfn = _client("cloudformation", emulator)
    stack = cfn.describe_stacks(StackName="private-s3-processor-macro")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    created = {
        r["LogicalResourceId"]: r["ResourceType"]
        for r in cfn.list_stack_resources(StackName="private-s3-processor-macro")[
            "StackResourceSummaries"
        ]
    }
    assert {"MacroFunctionRole", "MacroLogRole", "MacroFunctionLogGroup", "MacroLogGroup"} <= set(
        created
    )


def test_stackset_variant_deploys_through_stacksets_on_the_emulator(
    sam_builds: dict[str, Path], emulator: str, tmp_path: Path, build_dir: Path
) -> None:
    """The plain-CloudFormation variant through a self-managed StackSet on moto: the
    function is created from the regional code bucket (<CodeBucket>-<region>)."""
    s3 = _client("s3", emulator)
    s3.create_bucket(
        Bucket="macro-code-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    bundle = bundle_zip(sam_builds["arm64"], tmp_path / "macro.zip")
    s3.upload_file(str(bundle), "macro-code-eu-west-1", "private-s3-processor/macro.zip")
    cfn = _client("cloudformation", emulator)
    cfn.create_stack_set(
        StackSetName="private-s3-processor-macro",
        TemplateBody=(build_dir / "macro-stackset.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "CodeBucket", "ParameterValue": "macro-code"},
            {"ParameterKey": "CodeKey", "ParameterValue": "private-s3-processor/macro.zip"},
        ],
        Capabilities=["CAPABILITY_IAM"],
        PermissionModel="SELF_MANAGED",
    )
    op = cfn.create_stack_instances(
        StackSetName="private-s3-processor-macro", Accounts=["123456789012"], Regions=["eu-west-1"]
    )
    status = cfn.describe_stack_set_operation(
        StackSetName="private-s3-processor-macro", OperationId=op["OperationId"]
    )
    assert status["StackSetOperation"]["Status"] == "SUCCEEDED"
    functions = _client("lambda", emulator).list_functions()["Functions"]
    mine = [f for f in functions if "MacroFunction" in f["FunctionName"]]
    # moto's CloudFormation drops Architectures (its Lambda model reads only a few
    # properties), so the arm64 default is checked in the template snapshot instead.
    assert [(f["Runtime"], f["Handler"], f["Timeout"], f["MemorySize"]) for f in mine] == [
        ("python3.13", "private_s3_processor.handler.lambda_handler", 30, 512)
    ]
    assert mine[0]["CodeSize"] == bundle.stat().st_size


def test_readme_diagram_is_the_expanded_example(build_dir: Path) -> None:
    run = cli(
        "diagram",
        str(build_dir / "example.yaml"),
        "--parameter",
        f"WorkerImage={docs.EXAMPLE_IMAGE}",
    )
    assert run.returncode == 0, run.stderr
    readme = docs.README.read_text(encoding="utf-8")
    assert docs.section(readme, docs.DIAGRAM) == docs.fenced(run.stdout), "run `make docs`"


@pytest.mark.parametrize("name", ["macro.yaml", "macro-stackset.yaml"])
def test_macro_stack_iam_is_real_and_narrow(name: str) -> None:
    stack = load_template(SNAPSHOTS / name)
    found = list(statements(stack))
    actions = [a for _, _, st in found for a in as_list(st["Action"])]
    assert unknown_actions(actions) == []
    stars = [
        as_list(st["Action"])
        for _, kind, st in found
        if kind == "identity" and "*" in as_list(st["Resource"])
    ]
    assert stars == [["ec2:DescribeManagedPrefixLists"]]
