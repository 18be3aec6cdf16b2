"""``private-s3-processor completion bash|zsh``: a shell completion script generated from
the parser by shtab (https://github.com/iterative/shtab), so every subcommand, option and
choice the parser knows is completed, and nothing it does not know."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

SHELLS = ("bash", "zsh")

# How shtab completes a path, in each shell: shtab's own FILE and DIRECTORY helpers,
# written out so the parser can carry them without importing shtab (shtab documents
# this dict form: ``action.complete = {"bash": ..., "zsh": ...}``).
FILE = {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"}
DIRECTORY = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "tcsh": "d"}

# Arguments, by ``dest``, that name a path on this machine: templates, price tables,
# output files, uploads and the folder ``--watch`` follows.
PATHS = {
    "template": FILE,
    "templates": FILE,
    "output": FILE,
    "prices": FILE,
    "upload": FILE,
    "watch": DIRECTORY,
}


class CompletionError(Exception):
    """shtab is missing: a one-line problem, not a traceback."""


def _mark_paths(parser: argparse.ArgumentParser) -> None:
    """Give every path argument of ``parser`` and its subcommands shtab's path completion."""
    for action in parser._actions:
        if action.dest in PATHS and not hasattr(action, "complete"):
            setattr(action, "complete", PATHS[action.dest])  # noqa: B010 - shtab reads it
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _mark_paths(child)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell``."""
    try:
        # Imported by name: only this command needs it, and mypy need not know it.
        shtab = importlib.import_module("shtab")
    except ImportError:
        raise CompletionError(
            "shtab is not installed (pip install shtab): it writes the completion scripts"
        ) from None
    _mark_paths(parser)
    text: Any = shtab.complete(parser, shell=shell)
    return str(text)
