"""The package as a new user installs it, without this checkout and without the network:
the wheel built from the source tree, installed into a fresh virtual environment that
holds only the wheel's base dependencies (no moto), then the README's walk: --version,
validate, expand --format yaml, cost; and `local` says which extra it needs.

The fresh environment sees no site-packages but its own. Its base dependencies are
copied, file by file as their RECORDs list them, from this environment's installed
distributions: the closure of the wheel's own Requires-Dist without extras, so a
dependency the wheel forgot to declare is missing there, and `pip check` in the fresh
environment proves the declared ones are satisfied."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from private_s3_processor.version import __version__

from tests.conftest import ROOT
from tests.macro_build import normalize

# What the wheel is built from: the files pyproject.toml names.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "macros", "cli", "worker")
EXAMPLE = ROOT / "examples" / "invoices.yaml"
# setuptools 77 reads the PEP 639 `license` string of pyproject.toml (the dev extra).
SETUPTOOLS = Version("77")


def build_wheel(out: Path, work: Path) -> Path:
    """``pip wheel`` of a copy of the source tree, without build isolation (offline): a
    build in the tree itself would write setuptools' build/lib into the project's build/."""
    have = Version(metadata.version("setuptools"))
    if have < SETUPTOOLS:
        pytest.fail(f"setuptools {have} cannot build the wheel (needs {SETUPTOOLS}+): make venv")
    src = work / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(
                path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--quiet", "-w", str(out), str(src)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return zf.read(name).decode("utf-8")


def base_closure(requires: list[str]) -> set[str]:
    """The distributions a plain ``pip install`` of these requirements brings, found among
    this environment's installed ones (markers evaluated here, extras only when asked)."""
    found: set[str] = set()
    todo = [(Requirement(r), "") for r in requires]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = normalize(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"the wheel requires {req}, which this environment lacks: make venv")
        assert dist.version in req.specifier or not req.specifier, (req, dist.version)
        wanted = ["", *sorted(req.extras)]
        if name in found and not req.extras:
            continue
        found.add(name)
        for sub in dist.requires or []:
            todo.extend((Requirement(sub), e) for e in wanted)
    return found


def install_copies(names: set[str], site: Path) -> None:
    """Each distribution's files, as its RECORD lists them, into ``site`` (hard links
    where the file system allows: it is the same bytes either way)."""
    for name in names:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # console scripts live outside site-packages; caches are rebuilt
            source = Path(str(dist.locate_file(file)))
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def fresh(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment (no system site-packages) with the wheel and its base
    dependencies; yields its bin/."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (site,) = venv.glob("lib/python3.*/site-packages")
    requires = re.findall(r"^Requires-Dist: (.+)$", wheel_metadata(wheel), flags=re.MULTILINE)
    install_copies(base_closure(requires), site)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run = in_venv(venv, [*pip, "install", "--no-deps", "--no-index", "--quiet", str(wheel)])
    assert run.returncode == 0, run.stderr
    check = in_venv(venv, [*pip, "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    yield venv / "bin"


def in_venv(venv: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Away from the checkout, whose folder holds the editable install's egg-info."""
    return subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=venv, env=fresh_env()
    )


def fresh_env() -> dict[str, str]:
    """The fresh environment alone: nothing of this one leaks in through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}


def run_fresh(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "private-s3-processor"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=fresh_env(),
        cwd=bin_dir.parent,  # not the checkout: nothing is imported from its folders
        timeout=300,
    )


def test_the_wheel_declares_moto_only_in_the_local_extra(wheel: Path) -> None:
    text = wheel_metadata(wheel)
    assert wheel.name == f"private_s3_processor-{__version__}-py3-none-any.whl"
    assert re.search(rf"^Version: {re.escape(__version__)}$", text, flags=re.MULTILINE)
    assert "Provides-Extra: local" in text.splitlines()
    moto = [line for line in text.splitlines() if line.startswith("Requires-Dist: moto")]
    assert moto == ['Requires-Dist: moto[server]>=5.1; extra == "local"'], moto
    assert "License-Expression: Apache-2.0" in text.splitlines()


def test_the_base_install_has_no_moto(fresh: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('moto'), u.find_spec('flask'))"
    run = subprocess.run(
        [str(fresh / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env=fresh_env(),
    )
    assert run.stdout.split() == ["None", "None"], run.stdout + run.stderr


def test_version(fresh: Path) -> None:
    run = run_fresh(fresh, "--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"private-s3-processor {__version__}"


def test_validate(fresh: Path) -> None:
    run = run_fresh(fresh, "validate", str(EXAMPLE))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_expand_as_yaml(fresh: Path) -> None:
    run = run_fresh(fresh, "expand", str(EXAMPLE), "--format", "yaml")
    assert run.returncode == 0, run.stderr
    assert "AWS::ECS::TaskDefinition" in run.stdout
    assert not run.stdout.lstrip().startswith("{")  # YAML, not JSON


def test_cost(fresh: Path) -> None:
    run = run_fresh(fresh, "cost", str(EXAMPLE), "--files", "1000")
    assert run.returncode == 0, run.stderr
    assert "$" in run.stdout


def test_diagram(fresh: Path) -> None:
    run = run_fresh(fresh, "diagram", str(EXAMPLE))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("flowchart LR\n")


def test_redrive_runs_without_moto(fresh: Path) -> None:
    """redrive shares the emulator's credentials with the local flow; on the base install
    it gets as far as the (here unreachable) endpoint and says so in one line."""
    run = run_fresh(
        fresh,
        "redrive",
        "--stack",
        "s",
        "--processor",
        "Invoices",
        "--endpoint-url",
        "http://localhost:9",
    )
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], run.stderr
    assert "moto" not in run.stderr


def test_local_names_the_extra(fresh: Path) -> None:
    run = run_fresh(fresh, "local", str(EXAMPLE))
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "private-s3-processor local: the local flow runs on the moto server, which this "
        "install lacks: install 'private-s3-processor[local]'"
    ]
