"""Where each key of a template stands in its source, so a problem named by a path
(``Resources.P.Properties.Cpu``) can be shown at ``file:line:column`` as editors and CI
annotate it. Paths are the keys and list indices of the data the loader returns; a
short-form tag such as ``!Sub`` adds the key it stands for (``Fn::Sub``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml  # type: ignore[import-untyped]

from .loader_bounds import Located, duplicate, position, too_deep

Path = tuple[str | int, ...]
# 0-based line and column of each mapping key (and list item, in YAML) by its path.
Positions = dict[Path, tuple[int, int]]

_MERGE = "tag:yaml.org,2002:merge"
# A JSON string (a key when a colon follows it), a bracket, or a comma (which counts
# the items of a list, so paths through lists stay right).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[{}\[\],]', re.DOTALL)


def _function(tag: Any) -> str | None:
    """The key a short-form tag stands for (``!Ref`` -> ``Ref``, ``!Sub`` -> ``Fn::Sub``)."""
    if not (isinstance(tag, str) and tag.startswith("!")):
        return None
    name = tag[1:]
    return name if name in ("Ref", "Condition") else f"Fn::{name}"


def yaml_positions(root: Any) -> Positions:
    """The positions in a composed (and constructed: merges flattened) YAML node tree.
    Each node is walked once, in document order, at the first path reaching it (an
    anchor's own), so aliases cost nothing."""
    found: Positions = {}
    seen: set[int] = set()
    todo: list[tuple[Path, Any]] = [((), root)]
    while todo:
        path, node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        function = _function(node.tag)
        if function is not None:
            path = (*path, function)
        children: list[tuple[Path, Any]] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == _MERGE:
                    children.append((path, value))
                    continue
                here = (*path, str(key.value))
                found.setdefault(here, (key.start_mark.line, key.start_mark.column))
                children.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                here = (*path, index)
                found.setdefault(here, (item.start_mark.line, item.start_mark.column))
                children.append((here, item))
        todo.extend(reversed(children))  # popped first to last: document order
    return found


class JsonScan:
    """One flat pass over JSON text (strings, brackets and commas only): nesting past
    ``MAX_DEPTH`` (found before ``json`` recurses into it), each repeated key, and, when
    asked, the position of each key."""

    def __init__(self, text: str, max_depth: int, *, keep_positions: bool) -> None:
        self.text = text
        self.max_depth = max_depth
        self.keep_positions = keep_positions
        self.positions: Positions = {}

    def problems(self) -> Iterator[Located]:
        # Per open bracket: its path, its keys' lines (objects) or None (lists), and the
        # key or index whose value comes next.
        stack: list[tuple[Path, dict[str, int] | None, list[str | int]]] = []
        for token in _JSON_TOKEN.finditer(self.text):
            lexeme = token.group()
            if lexeme in ("{", "["):
                path: Path = (*stack[-1][0], *stack[-1][2][-1:]) if stack else ()
                stack.append((path, {} if lexeme == "{" else None, [] if lexeme == "{" else [0]))
                if len(stack) > self.max_depth:
                    yield Located(*position(self.text, token.start()), too_deep())
                    return
            elif lexeme in ("}", "]"):
                if stack:
                    stack.pop()
            elif lexeme == ",":
                if stack and stack[-1][1] is None:
                    index = stack[-1][2]
                    index[0] = int(index[0]) + 1
            elif token.group(1) and stack and (keys := stack[-1][1]) is not None:
                try:
                    key = json.loads(lexeme[: lexeme.rindex('"') + 1])
                except ValueError:
                    continue  # json.loads reports the bad string itself
                line, column = position(self.text, token.start())
                stack[-1][2][:] = [key]
                if self.keep_positions:
                    self.positions.setdefault((*stack[-1][0], key), (line, column))
                if key in keys:
                    yield Located(line, column, duplicate(key, line, keys[key]))
                else:
                    keys[key] = line
