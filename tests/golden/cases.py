"""Golden cases: ``input/<case>.yaml`` -> ``output/<case>.json``.

A case whose name starts with ``error_`` expects ``{"errorMessage": ...}``. Cases
are discovered from the folder; ``python -m tests.golden.regenerate [CASE ...]``
(or ``make golden``) rewrites expected outputs for a reviewer to read in the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from private_s3_processor import ExpansionError
from private_s3_processor_cli.templates import expand_document, load_template

HERE = Path(__file__).parent
INPUT = HERE / "input"
OUTPUT = HERE / "output"

# The request every golden case is expanded in (as CloudFormation would send it).
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PREFIX_LIST = "pl-6da54004"


def names() -> list[str]:
    return sorted(p.stem for p in INPUT.glob("*.yaml"))


def success_names() -> list[str]:
    return [n for n in names() if not n.startswith("error_")]


def error_names() -> list[str]:
    return [n for n in names() if n.startswith("error_")]


def run(name: str) -> dict[str, Any]:
    """What the expansion produces for a case now."""
    template = load_template(INPUT / f"{name}.yaml")
    try:
        return expand_document(
            template, region=REGION, account_id=ACCOUNT, prefix_list_id=PREFIX_LIST
        )
    except ExpansionError as exc:
        return {"errorMessage": str(exc)}


def expected(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((OUTPUT / f"{name}.json").read_text(encoding="utf-8"))
    return result


def write(name: str, result: dict[str, Any]) -> Path:
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
