"""The local flow's imports run one way: command -> session -> delivery -> services ->
emulator -> model (``cli/private_s3_processor_cli/local/``), read from the source with
ast; and ``cost``'s path to the state-machine runner, and the simulated account and
scaling the benchmark shares, never reach the local package (moto stays out of them)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CLI = ROOT / "cli" / "private_s3_processor_cli"
LOCAL = CLI / "local"

# Top to bottom: a module imports only from layers below its own.
LAYERS: list[tuple[str, ...]] = [
    ("",),  # the package itself imports nothing, so that local.emulator loads alone
    ("command",),
    ("serve",),
    ("session", "report", "stop"),
    ("delivery",),
    ("delivery.direct", "delivery.orchestrated", "delivery.queued"),
    ("delivery.base", "delivery.dead_letters"),
    # stepfunctions' runTask.sync runs the task through ecs; a Queued service's tasks
    # start through ecs and report to agent; autoscaling resolves like stack.
    ("stepfunctions", "service", "autoscaling"),
    ("eventbridge", "ecs", "stack"),
    ("agent", "launches"),
    ("emulator", "forked"),
    ("forkserver", "moto_server"),
    ("model",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# What `cost` runs (transitions.py counts with the runner) and what redrive shares.
WITHOUT_LOCAL = (
    "cost",
    "cost_prices",
    "cost_template",
    "cost_report",
    "cost_queued",
    "cost_queued_template",
    "transitions",
    "states",
    "asl",
    "choice",
    "ecs_api",
    # The simulated account and scaling, shared with the benchmark (no emulator there).
    "quota",
    "scaling",
    "scaling_math",
    "scaling_template",
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of each import of ``path``, absolute within the CLI package
    (``local.x``), whether at module level, in a function or under TYPE_CHECKING."""
    package = module_name(path, CLI).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("private_s3_processor_cli"):
                target = (node.module or "").removeprefix("private_s3_processor_cli").lstrip(".")
            else:
                continue
            # `from . import x` names a module when x is one.
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                is_module = (CLI / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    CLI / sub.replace(".", "/")
                ).is_dir()
                found.append((node.lineno, sub if is_module else target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("private_s3_processor_cli."):
                    found.append((node.lineno, alias.name.split(".", 1)[1]))
    return found


def violations(root: Path = CLI) -> list[str]:
    """Each import against the direction, and each local module no layer names."""
    problems = []
    for path in sorted((root / "local").rglob("*.py")):
        name = module_name(path, root / "local")
        if name not in RANK:
            problems.append(f"local/{name}: in no layer of {__name__}.LAYERS")
            continue
        for line, target in imported(path):
            if name == "":
                problems.append(f"local/__init__.py:{line} imports {target}")
            if not target.startswith("local."):
                continue  # the rest of the CLI (the runner, templates, output)
            other = target.removeprefix("local.")
            if other not in RANK or RANK[other] <= RANK[name]:
                problems.append(f"local/{name}:{line} imports local.{other} (against the layers)")
    for name in WITHOUT_LOCAL:
        for line, target in imported(root / f"{name}.py"):
            if target == "local" or target.startswith("local."):
                problems.append(f"{name}.py:{line} imports {target}: it must run without moto")
    return problems


def test_local_imports_run_one_way() -> None:
    assert violations() == []


def test_every_module_of_the_local_package_is_in_a_layer() -> None:
    names = {module_name(p, LOCAL) for p in LOCAL.rglob("*.py")}
    assert names == set(RANK)
