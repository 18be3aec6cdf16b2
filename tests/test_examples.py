"""examples/: every template a user can start from, as the README's "Examples" table
describes it: expanded with the parameters the table says a user gives, cfn-lint clean
before expansion (the registry schema and the rule in cfn-lint-rules/) and after it (no
error, no warning), and priced by `private-s3-processor cost` at the table's figure.

Each lint run also reads a broken copy, so a run that checks nothing cannot pass.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from private_s3_processor.rules import TYPE_NAME
from private_s3_processor.schema import registry_schema
from private_s3_processor_cli.templates import load_template

from tests.conftest import ROOT, cli, tool

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
README = ROOT / "README.md"
RULES = ROOT / "cfn-lint-rules"
IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0"
# A value shaped as a user gives it, for every parameter the README's table names.
VALUES = {
    "WorkerImage": IMAGE,
    "ImagesImage": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/thumbnails:1.0",
    "DocumentsImage": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/ocr:1.0",
    "VpcId": "vpc-0abc1234def567890",
    "PrivateSubnetIds": "subnet-0aaa1111bbb22222a,subnet-0ccc3333ddd44444b",
    "PrivateRouteTableIds": "rtb-0123456789abcdef0,rtb-0fedcba9876543210",
    "AlarmEmail": "ops@example.com",
}
_ROW = re.compile(r"^\| `(examples/[^`]+)` \|(.*)\|(.*)\|(.*)\|$")


@functools.cache
def table() -> dict[str, tuple[list[str], str]]:
    """The README's examples table: template -> (parameters a user gives, fixed a month)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n### Examples\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[list[str], str]] = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            path, _, parameters, fixed = found.groups()
            rows[path] = (re.findall(r"`(\w+)`", parameters), fixed.strip())
    return rows


def name(path: Path) -> str:
    return f"examples/{path.name}"


def parameters(path: Path) -> list[str]:
    """``KEY=VALUE`` for each parameter the table says a user gives for ``path``."""
    assert name(path) in table(), f"{name(path)} has no row in the README's examples table"
    given, _ = table()[name(path)]
    missing = sorted(set(given) - set(VALUES))
    assert not missing, f"add a value for {missing} to VALUES"
    return [f"{key}={VALUES[key]}" for key in given]


def with_parameters(path: Path) -> list[str]:
    return [arg for pair in parameters(path) for arg in ("--parameter", pair)]


def processors(path: Path) -> set[str]:
    resources = load_template(path).get("Resources", {})
    return {k for k, r in resources.items() if r.get("Type") == TYPE_NAME}


def test_there_are_examples_to_check() -> None:
    assert len(EXAMPLES) >= 5, [p.name for p in EXAMPLES]


def test_every_example_has_a_row_in_the_readme_table() -> None:
    """A new examples/*.yaml fails here until the table, and so these tests, cover it."""
    assert set(table()) == {name(p) for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_table_names_every_parameter_a_user_must_give(path: Path) -> None:
    declared = load_template(path).get("Parameters", {})
    assert name(path) in table(), f"{name(path)} has no row in the README's examples table"
    given, _ = table()[name(path)]
    required = {k for k, v in declared.items() if "Default" not in v}
    assert required <= set(given), f"{path.name}: give {sorted(required - set(given))}"
    assert set(given) <= set(declared), f"{path.name}: no parameter {set(given) - set(declared)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_runs_as_the_worker_images_user(path: Path) -> None:
    """``User: "10001"`` on every processor, not only somewhere in the file."""
    resources = load_template(path)["Resources"]
    assert processors(path)
    for logical_id in processors(path):
        assert resources[logical_id]["Properties"].get("User") == "10001", logical_id


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example expanded by the command line, as a user runs it: stem -> JSON file."""
    folder = tmp_path_factory.mktemp("expanded")
    out = {}
    for path in EXAMPLES:
        run = cli("expand", str(path), *with_parameters(path))
        assert run.returncode == 0, f"{path.name}: {run.stderr}"
        template = json.loads(run.stdout)
        assert processors(path) and not processors_in(template), path.name
        out[path.stem] = folder / f"{path.stem}.json"
        out[path.stem].write_text(json.dumps(template), encoding="utf-8")
    return out


def processors_in(template: dict[str, Any]) -> set[str]:
    return {k for k, r in template["Resources"].items() if r.get("Type") == TYPE_NAME}


def lint(*args: str) -> dict[str, list[str]]:
    """cfn-lint's findings (``rule line``) by file stem."""
    run = subprocess.run(
        [tool("cfn-lint"), "--format", "json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert not run.returncode & 1, run.stderr  # 1: cfn-lint failed; 2, 4, 8: findings
    found: dict[str, list[str]] = {}
    for match in json.loads(run.stdout):
        where = match["Location"]["Start"]["LineNumber"]
        found.setdefault(Path(match["Filename"]).stem, []).append(
            f"{match['Rule']['Id']} line {where}: {match['Message']}"
        )
    return found


def test_the_expansions_pass_cfn_lint(expanded: dict[str, Path], tmp_path: Path) -> None:
    broken = json.loads(expanded["invoices"].read_text(encoding="utf-8"))
    bucket = broken["Resources"]["InvoicesBucket"]["Properties"]
    bucket["VersioningConfiguration"] = {"Status": "Sometimes"}
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    found = lint(*map(str, expanded.values()), str(tmp_path / "broken.json"))
    assert found.pop("broken", None), "cfn-lint found nothing in the broken copy"
    assert found == {}


def test_the_templates_pass_cfn_lint_with_the_registry_schema(tmp_path: Path) -> None:
    """As the README's "Deploying" tells a user to lint a template before expansion."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "privates3processor.json").write_text(json.dumps(registry_schema()))
    broken = copy.deepcopy(load_template(ROOT / "examples" / "invoices.yaml"))
    props = broken["Resources"]["Invoices"]["Properties"]
    props["Sufix"] = props.pop("Suffix")
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    files = [*map(str, EXAMPLES), str(tmp_path / "broken.json")]
    found = lint("--registry-schemas", str(schemas), "--append-rules", str(RULES), "--", *files)
    assert any(f.startswith("E3002") for f in found.pop("broken", [])), "no E3002 for Sufix"
    assert found == {}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_cost_prices_each_example_at_the_tables_figure(path: Path) -> None:
    run = cli("cost", str(path), *with_parameters(path), "--json", "--files", "1000")
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    _, fixed = table()[name(path)]
    stated = re.match(r"\$([\d,]+\.\d\d)", fixed)
    assert stated, f"{path.name}: no dollar figure in {fixed!r}"
    assert report["fixed_monthly"] > 0
    assert f"{report['fixed_monthly']:,.2f}" == stated.group(1)
    priced = {p["processor"]: p["per_file"] for p in report["per_file"]}
    assert set(priced) == processors(path)
    assert all(cost > 0 for cost in priced.values()), priced
    assert report["all_in_per_file"] > 0
