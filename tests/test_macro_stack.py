"""The macro stack: template.py's outputs, cfn-lint, sam validate/build, the bundle,
and real clients (sam deploy, CloudFormation StackSets) against the moto server."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from private_s3_processor_cli.local.emulator import aws_env, moto_server
from private_s3_processor_cli.templates import load_template

import template as templates
from tests import docs
from tests.conftest import ROOT, cli, find_python313, load_event, tool
from tests.iam import as_list, statements, unknown_actions
from tests.macro_build import BUNDLE_ZIP, LOCK, lock_pins, make_bundle, normalize, sam_env

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


def sam(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    run = subprocess.run(
        [tool("sam"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env or sam_env(),
        cwd=cwd,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


def test_sam_validate_lint_reads_samconfig(build_dir: Path) -> None:
    """Plain `sam validate` from the root: samconfig.toml names build/macro.yaml and --lint."""
    out = sam("validate")
    assert f"{build_dir / 'macro.yaml'} is a valid SAM Template" in out


@pytest.fixture(scope="module")
def built() -> Path:
    """.aws-sam/build as `make build` (through `make bundle`) leaves it."""
    return make_bundle()


def test_the_build_is_x86_64_from_the_lock(built: Path) -> None:
    """The one architecture offered is the one built, and the bundle holds exactly the
    locked versions (`sam build` installed macros/requirements.txt, hashes checked)."""
    function = load_template(built / "template.yaml")["Resources"]["MacroFunction"]
    assert function["Properties"]["Architectures"] == ["x86_64"]
    bundle = built / "MacroFunction"
    assert (bundle / "private_s3_processor" / "handler.py").exists()
    assert [p.name for p in (bundle / "pydantic_core").glob("*.so")] == [
        "_pydantic_core.cpython-313-x86_64-linux-gnu.so"
    ]
    found = {}
    for info in bundle.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[normalize(name)] = version
    assert found == lock_pins(LOCK.read_text(encoding="utf-8"))


def test_the_zip_is_the_build(built: Path) -> None:
    """`make bundle` zips that same folder, nothing more, nothing less."""
    folder = built / "MacroFunction"
    on_disk = {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(BUNDLE_ZIP) as zf:
        zipped = {n for n in zf.namelist() if not n.endswith("/")}
    assert zipped == on_disk


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


def probe(bundle: Path, request: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The handler from ``bundle`` alone, in a fresh Python 3.13 that sees no
    site-packages (-I -S): the Lambda runtime's view of the zip."""
    return subprocess.run(
        [str(find_python313()), "-I", "-S", "-c", BUNDLE_PROBE, str(bundle)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )


def test_bundle_is_complete(built: Path, tmp_path: Path) -> None:
    """The zip StackSets deploy (and the folder sam deploy zips) answers the real-shaped
    request exactly like the CLI."""
    del built
    request = load_event("macro-request.json")
    with zipfile.ZipFile(BUNDLE_ZIP) as zf:
        zf.extractall(tmp_path / "bundle")
    run = probe(tmp_path / "bundle", request)
    assert run.returncode == 0, run.stderr
    response = json.loads(run.stdout.splitlines()[0])
    assert response["status"] == "success", response.get("errorMessage")
    params = [f"--parameter={k}={v}" for k, v in request["templateParameterValues"].items()]
    fragment = tmp_path / "fragment.json"
    # What CloudFormation sends the Lambda has no Transform section; a template the
    # command line reads must name the transform, as CloudFormation requires.
    fragment.write_text(json.dumps({**request["fragment"], "Transform": "PrivateS3Processor"}))
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


def test_the_probe_fails_without_the_dependencies(built: Path, tmp_path: Path) -> None:
    """The bundle test can fail: the package alone, without what the lock installs, does not
    import under -I -S."""
    shutil.copytree(
        built / "MacroFunction" / "private_s3_processor", tmp_path / "private_s3_processor"
    )
    run = probe(tmp_path, load_event("macro-request.json"))
    assert run.returncode != 0
    assert "ModuleNotFoundError" in run.stderr


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


def test_sam_deploy_from_samconfig_against_the_emulator(built: Path, emulator: str) -> None:
    """A real client end to end, as the README's later deploys run it: plain `sam deploy`
    from the root (samconfig's default environment, the template sam build left in
    .aws-sam/build) uploads the bundle and template and runs the change set on moto. moto
    does not apply the AWS::Serverless transform, so the function and the Macro are not
    created there (DESIGN.md records where it stops); what moto does create is checked."""
    del built
    s3 = _client("s3", emulator)
    s3.create_bucket(
        Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    env = {**sam_env(), **aws_env(emulator)}
    out = sam(
        "deploy",
        "--s3-bucket",
        "artifacts",
        "--no-resolve-s3",
        "--no-confirm-changeset",
        "--region",
        "eu-west-1",
        env=env,
    )
    assert "Successfully created/updated stack - private-s3-processor-macro" in out
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="artifacts")["Contents"]]
    assert any(
        k.startswith("private-s3-processor-macro/") and k.endswith(".template") for k in keys
    )
    # The code zip and the template, and the license and README the template's
    # AWS::ServerlessRepo::Application metadata names (sam package uploads them for
    # sam publish; their keys are the files' MD5 sums).
    assert len(keys) == 4, keys
    for name in ("LICENSE", "README.md"):
        digest = hashlib.md5((ROOT / name).read_bytes(), usedforsecurity=False).hexdigest()
        assert f"private-s3-processor-macro/{digest}" in keys, name
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
    built: Path, emulator: str, build_dir: Path
) -> None:
    """The plain-CloudFormation variant through a self-managed StackSet on moto: the
    function is created from the regional code bucket (<CodeBucket>-<region>)."""
    s3 = _client("s3", emulator)
    s3.create_bucket(
        Bucket="macro-code-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    del built
    s3.upload_file(str(BUNDLE_ZIP), "macro-code-eu-west-1", "private-s3-processor/macro.zip")
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
    # properties), so x86_64 is checked in the built template instead.
    assert [(f["Runtime"], f["Handler"], f["Timeout"], f["MemorySize"]) for f in mine] == [
        ("python3.13", "private_s3_processor.handler.lambda_handler", 30, 512)
    ]
    assert mine[0]["CodeSize"] == BUNDLE_ZIP.stat().st_size


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
