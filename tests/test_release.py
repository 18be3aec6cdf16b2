"""The release: `make release`'s artefacts (tools/release.py), the Serverless Application
Repository metadata `sam publish` sends, and the version in the macro's log lines."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from cfn_flip import load as load_cfn
from private_s3_processor import handler
from private_s3_processor.context import static_prefix_list
from private_s3_processor.version import __version__
from private_s3_processor_cli.local.emulator import aws_env
from samcli.vendor.serverlessrepo.publish import publish_application  # type: ignore[import-untyped]

import template as templates
from tests.conftest import ROOT, tool
from tests.macro_build import LOCK, make_bundle, sam_env
from tools import release

ZIP = f"private-s3-processor-macro-{__version__}-x86_64.zip"
LOOKUP = static_prefix_list("pl-6da54004")


# -- the version in the macro's log lines ------------------------------------------------


def _json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == handler.LOG.name]


def test_every_outcome_logs_the_version(
    macro_request: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A log line tells which release answered: success, refusal, and an internal error."""
    caplog.set_level(logging.INFO, logger=handler.LOG.name)
    assert handler.handle(macro_request, LOOKUP)["status"] == "success"
    bad = json.loads(json.dumps(macro_request))
    bad["fragment"]["Resources"]["Invoices"]["Properties"]["Memory"] = 300
    assert handler.handle(bad, LOOKUP)["status"] == "failure"
    lines = _json_lines(caplog)
    assert [(line["outcome"], line["version"]) for line in lines] == [
        ("expanded", __version__),
        ("invalid", __version__),
    ]
    assert {line["requestId"] for line in lines} == {macro_request["requestId"]}


def test_an_internal_error_logs_the_version(
    macro_request: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*args: object) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(handler, "expand", explode)
    assert handler.handle(macro_request, LOOKUP)["status"] == "failure"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"version {__version__}" in record.getMessage()


# -- tools/release.py on a prepared build ------------------------------------------------

PINS = {"pydantic": "2.13.5", "pydantic-core": "2.46.4"}
SO = "_pydantic_core.cpython-313-{machine}-linux-gnu.so"


def prepared_build(root: Path, architecture: str = "x86_64", machine: str = "x86_64") -> Path:
    """What `sam build` leaves, in small: the template and the function folder with a
    compiled module for ``machine`` and the dist-info folders of the pins."""
    build = root / "build"
    function = build / "MacroFunction"
    (function / "private_s3_processor").mkdir(parents=True)
    (function / "private_s3_processor" / "handler.py").write_text("# handler\n")
    (function / "pydantic_core").mkdir()
    (function / "pydantic_core" / SO.format(machine=machine)).write_bytes(b"\x7fELF")
    (function / "private_s3_processor" / "__pycache__").mkdir()
    (function / "private_s3_processor" / "__pycache__" / "handler.cpython-313.pyc").write_bytes(
        b"cache"
    )
    for name, version in PINS.items():
        (function / f"{name.replace('-', '_')}-{version}.dist-info").mkdir()
    (build / "template.yaml").write_text(
        "Resources:\n  MacroFunction:\n    Type: AWS::Lambda::Function\n    Properties:\n"
        f"      CodeUri: MacroFunction\n      Architectures:\n        - {architecture}\n"
    )
    return build


def prepared_lock(root: Path, pins: dict[str, str] = PINS) -> Path:
    lock = root / "requirements.txt"
    lock.write_text(
        "".join(f"{n}=={v} \\\n    --hash=sha256:{'0' * 64}\n" for n, v in pins.items())
    )
    return lock


def run_release(build: Path, lock: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The script as `make release` runs it."""
    return subprocess.run(
        [
            *(sys.executable, str(ROOT / "tools" / "release.py")),
            *("--build", str(build), "--lock", str(lock), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def check_release(folder: Path, function: Path, lock: Path) -> None:
    """Names, checksums, the lock, and a StackSet template whose key and architecture
    are those of a zip beside it, holding exactly the built function's files."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["SHA256SUMS", "requirements.txt", "macro-stackset-x86_64.yaml", ZIP]
    )
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split("  ")
        listed[name] = digest
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert sorted(listed) == sorted(p.name for p in folder.iterdir() if p.name != "SHA256SUMS")
    assert (folder / "requirements.txt").read_bytes() == lock.read_bytes()
    stackset, _ = load_cfn((folder / "macro-stackset-x86_64.yaml").read_text())
    key = stackset["Parameters"]["CodeKey"]["Default"]
    assert key == f"private-s3-processor/{__version__}/{ZIP}"
    assert (folder / key.rsplit("/", 1)[1]).is_file()
    assert stackset["Resources"]["MacroFunction"]["Properties"]["Architectures"] == ["x86_64"]
    on_disk = {
        str(p.relative_to(function))
        for p in function.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(folder / ZIP) as zf:
        assert {n for n in zf.namelist() if not n.endswith("/")} == on_disk
        assert zf.testzip() is None


def test_release_of_a_prepared_build(tmp_path: Path) -> None:
    build, lock = prepared_build(tmp_path), prepared_lock(tmp_path)
    run = run_release(build, lock, tmp_path / "dist")
    assert run.returncode == 0, run.stderr
    check_release(tmp_path / "dist" / __version__, build / "MacroFunction", lock)


def test_the_zip_is_reproducible(tmp_path: Path) -> None:
    """The same build gives the same bytes: the checksum names the build, not the time."""
    build, lock = prepared_build(tmp_path), prepared_lock(tmp_path)
    assert run_release(build, lock, tmp_path / "a").returncode == 0
    (build / "MacroFunction" / "private_s3_processor" / "handler.py").touch()
    assert run_release(build, lock, tmp_path / "b").returncode == 0
    sums = [(tmp_path / d / __version__ / "SHA256SUMS").read_text() for d in ("a", "b")]
    assert sums[0] == sums[1]


@pytest.mark.parametrize(
    ("offered", "machine"), [("arm64", "x86_64"), ("x86_64", "aarch64")], ids=["arm", "x86"]
)
def test_a_bundle_built_for_another_architecture_is_refused(
    tmp_path: Path, offered: str, machine: str
) -> None:
    build, lock = prepared_build(tmp_path, offered, machine), prepared_lock(tmp_path)
    run = run_release(build, lock, tmp_path / "dist")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"make release: pydantic_core/{SO.format(machine=machine)}: compiled for another "
        f"machine than {offered} ({release.MACHINE[offered]}), which the template offers: "
        "run `make build`"
    ]
    assert not (tmp_path / "dist" / __version__).exists()


def test_a_bundle_not_built_from_the_lock_is_refused(tmp_path: Path) -> None:
    build = prepared_build(tmp_path)
    lock = prepared_lock(tmp_path, {**PINS, "pydantic": "2.14.0"})
    run = run_release(build, lock, tmp_path / "dist")
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "make release: the bundle is not built from requirements.txt: pydantic is 2.13.5 in "
        "the bundle, 2.14.0 in the lock (run `make build`)"
    ]
    assert not (tmp_path / "dist" / __version__).exists()


@pytest.mark.parametrize("broken", ["no template", "no folder", "bad yaml"])
def test_a_missing_or_broken_build_is_one_line(tmp_path: Path, broken: str) -> None:
    build, lock = prepared_build(tmp_path), prepared_lock(tmp_path)
    if broken == "no template":
        (build / "template.yaml").unlink()
    elif broken == "no folder":
        shutil.rmtree(build / "MacroFunction")
    else:
        (build / "template.yaml").write_text("Resources: [\n")
    run = run_release(build, lock, tmp_path / "dist")
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("make release: ")


def test_release_of_the_real_build(tmp_path: Path) -> None:
    """The build `make bundle` made (shared with tests/test_macro_stack.py in one run: it
    is built once per session), released: the StackSet template is template.py's."""
    built = make_bundle()
    run = run_release(built, LOCK, tmp_path / "dist")
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "dist" / __version__
    check_release(folder, built / "MacroFunction", LOCK)
    assert (folder / "macro-stackset-x86_64.yaml").read_text() == templates.render()[
        "macro-stackset.yaml"
    ]


# -- the Serverless Application Repository ------------------------------------------------

# AWS SAM Developer Guide, "AWS SAM template Metadata section properties" (and the
# Serverless Application Repository API's CreateApplication): the patterns and lengths.
SAR_RULES = {
    "Name": r"[a-zA-Z0-9\-]{1,140}",
    "Author": r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?",
    "Description": r"(?s).{1,256}",
}
LABEL = r"[a-zA-Z0-9+\-_:/@]{1,127}"


def test_the_metadata_is_what_sam_publish_requires() -> None:
    meta = templates.macro_template().to_dict()["Metadata"][templates.SERVERLESS_REPO]
    for field, pattern in SAR_RULES.items():
        assert re.fullmatch(pattern, meta[field]), field
    assert len(meta["Author"]) <= 127
    assert 1 <= len(meta["Labels"]) <= 10
    assert all(re.fullmatch(LABEL, label) for label in meta["Labels"])
    assert meta["SemanticVersion"] == __version__
    assert meta["SpdxLicenseId"] == "Apache-2.0"
    # Local paths, relative to build/macro.yaml, that sam package uploads.
    build = ROOT / "build"
    assert (build / meta["LicenseUrl"]).resolve() == ROOT / "LICENSE"
    assert (build / meta["ReadmeUrl"]).resolve() == ROOT / "README.md"
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_sam_publish_sends_the_packaged_metadata(tmp_path: Path, emulator: str) -> None:
    """`sam package` of the built macro stack on the emulator uploads the license and the
    README and writes their S3 URIs; then SAM CLI's own publish code (what `sam publish`
    runs) builds its CreateApplication request from the packaged template, checked by a
    botocore Stubber against the service's API model. No request reaches AWS."""
    built = make_bundle()
    env = {**sam_env(), **aws_env(emulator)}
    boto3.client(
        "s3",
        endpoint_url=emulator,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(
        Bucket="sar-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    packaged = tmp_path / "packaged.yaml"
    run = subprocess.run(
        [
            *(tool("sam"), "package", "--template-file", str(built / "template.yaml")),
            *("--s3-bucket", "sar-artifacts", "--output-template-file", str(packaged)),
            *("--region", "eu-west-1"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    text = packaged.read_text()
    meta = load_cfn(text)[0]["Metadata"][templates.SERVERLESS_REPO]
    assert meta["LicenseUrl"].startswith("s3://sar-artifacts/")
    assert meta["ReadmeUrl"].startswith("s3://sar-artifacts/")
    function = load_cfn(text)[0]["Resources"]["MacroFunction"]["Properties"]
    assert function["CodeUri"].startswith("s3://sar-artifacts/")
    sar = boto3.client(
        "serverlessrepo",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stub = Stubber(sar)
    app = "arn:aws:serverlessrepo:eu-west-1:123456789012:applications/private-s3-processor-macro"
    expected = {
        "Author": "private-s3-processor",
        "Description": meta["Description"],
        "Labels": meta["Labels"],
        "LicenseUrl": meta["LicenseUrl"],
        "Name": "private-s3-processor-macro",
        "ReadmeUrl": meta["ReadmeUrl"],
        "SemanticVersion": __version__,
        "SpdxLicenseId": "Apache-2.0",
        "TemplateBody": ANY,  # the packaged template without the Metadata key
    }
    stub.add_response("create_application", {"ApplicationId": app}, expected)
    with stub:
        result = publish_application(text, sar_client=sar)
    stub.assert_no_pending_responses()
    assert result["application_id"] == app
    assert result["actions"] == ["CREATE_APPLICATION"]


# -- make image ----------------------------------------------------------------------------

IMAGE = f"private-s3-processor-worker:{__version__}"


ENGINES = ("docker", "podman", "buildah")


def make_image(tmp_path: Path, engines: list[str]) -> subprocess.CompletedProcess[str]:
    """`make image` with this PATH less every folder holding a container engine, plus a
    folder of stand-ins for the given engines that record their command lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for engine in engines:
        script = bin_dir / engine
        script.write_text(f'#!/bin/sh\necho "{engine} $*" >> "{tmp_path}/calls"\n')
        script.chmod(0o755)
    path = [
        d
        for d in os.environ["PATH"].split(os.pathsep)
        if not any((Path(d) / e).exists() for e in ENGINES)
    ]
    return subprocess.run(
        ["make", "--no-print-directory", "image"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PATH": os.pathsep.join([str(bin_dir), *path])},
    )


def test_make_image_without_an_engine_says_so(tmp_path: Path) -> None:
    run = make_image(tmp_path, [])
    assert run.returncode != 0
    assert not (tmp_path / "calls").exists()
    assert run.stderr.splitlines()[0] == (
        "make image: no container engine found (docker, podman or buildah); install one, "
        "or build worker/Dockerfile elsewhere"
    )


@pytest.mark.parametrize(
    ("engines", "call"),
    [
        (["podman"], f"podman build -t {IMAGE} worker/"),
        (["buildah"], f"buildah bud -t {IMAGE} worker/"),
        (["buildah", "podman", "docker"], f"docker build -t {IMAGE} worker/"),
    ],
    ids=["podman", "buildah", "docker first"],
)
def test_make_image_uses_the_engine_there_is(tmp_path: Path, engines: list[str], call: str) -> None:
    run = make_image(tmp_path, engines)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "calls").read_text().splitlines() == [call]
