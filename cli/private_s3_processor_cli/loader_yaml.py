"""Reading YAML: cfn-flip's loader (CloudFormation's short tags) held to the bounds of
``loader_bounds`` while it composes, the tags CloudFormation does not support refused,
merge keys merged, dates and keys kept as written; and, when the file has aliases, what
they expand to measured before anything is built from them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml  # type: ignore[import-untyped]
from cfn_tools.yaml_loader import CfnYamlLoader  # type: ignore[import-untyped]

from .loader_bounds import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    Located,
    Problems,
    duplicate,
    position,
    too_deep,
)
from .loader_positions import Positions, yaml_positions

_YAML = "tag:yaml.org,2002:"
_UNSUPPORTED_TAGS = ("binary", "omap", "pairs", "set")


def _levels(tag: Any, collection: bool) -> int:
    """How many levels of JSON a node becomes: a map or list is one, a short form such
    as ``!Ref`` wraps it (or a scalar) in one more."""
    return int(collection) + int(isinstance(tag, str) and tag.startswith("!"))


class _Loader(CfnYamlLoader):  # type: ignore[misc]
    """cfn-flip's loader (short tags such as ``!GetAtt a.b``) with the bounds of
    ``loader_bounds``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0
        self.problems: list[Located] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            return super().compose_node(parent, index)
        levels = _levels(event.tag, isinstance(event, yaml.CollectionStartEvent))
        self.depth += levels
        try:
            if self.depth > MAX_DEPTH:
                raise Located(event.start_mark.line, event.start_mark.column, too_deep())
            return super().compose_node(parent, index)
        finally:
            self.depth -= levels

    def compose_mapping_node(self, anchor: Any) -> Any:
        """Keys are checked as written, once per mapping, before any merge."""
        node = super().compose_mapping_node(anchor)
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            mark = key_node.start_mark
            if key_node.tag == f"{_YAML}merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise Located(mark.line, mark.column, "a mapping key must be a string")
            if key_node.tag == f"{_YAML}null" and not key_node.style:
                raise Located(mark.line, mark.column, f"null key {key_node.value!r}")
            if key_node.value in seen:
                self.problems.append(
                    Located(
                        mark.line,
                        mark.column,
                        duplicate(key_node.value, mark.line, seen[key_node.value]),
                    )
                )
            else:
                seen[key_node.value] = mark.line
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[str, Any]:
        """A plain dict keyed by the text written; merged keys come first, so the
        mapping's own keys override them (YAML's merge, as the AWS CLI and SAM read it)."""
        if not isinstance(node, yaml.MappingNode):
            mark = node.start_mark
            raise Located(mark.line, mark.column, "expected a mapping")
        self.flatten_mapping(node)
        return {str(k.value): self.construct_object(v, deep=deep) for k, v in node.value}

    def construct_as_written(self, node: Any) -> str:
        return str(self.construct_scalar(node))

    def construct_unsupported(self, node: Any) -> Any:
        mark = node.start_mark
        tag = node.tag.removeprefix(_YAML)
        raise Located(mark.line, mark.column, f"YAML tag !!{tag} is not supported")


def _map(loader: _Loader, node: Any) -> Iterator[dict[str, Any]]:
    # Yield first and fill afterwards, as PyYAML does, so an alias may use the mapping.
    data: dict[str, Any] = {}
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor(f"{_YAML}map", _map)
_Loader.add_constructor(f"{_YAML}timestamp", _Loader.construct_as_written)
for _tag in _UNSUPPORTED_TAGS:
    _Loader.add_constructor(f"{_YAML}{_tag}", _Loader.construct_unsupported)


def parse_yaml(text: str, positions: Positions | None = None) -> Any:
    """The data of YAML ``text``; with ``positions``, also where each key stands."""
    try:
        loader = _Loader(text)  # checks the characters first
    except yaml.reader.ReaderError as exc:
        line, column = position(text, exc.position)
        raise Located(
            line, column, f"not valid YAML: character #x{exc.character:04x} is not allowed"
        ) from None
    try:
        node = loader.get_single_node()
        if loader.problems:  # found as each mapping closes: inner ones first
            raise Problems(sorted(loader.problems, key=lambda p: (p.line, p.column)))
        if node is None:
            return None
        if loader.aliases:
            _check_expansion(node)
        data = loader.construct_document(node)
        if positions is not None:
            positions.update(yaml_positions(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(filter(None, [exc.context, exc.problem]))
        raise Located(
            mark.line if mark else 0, mark.column if mark else 0, f"not valid YAML: {what}"
        ) from None
    except yaml.YAMLError as exc:
        raise Located(0, 0, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    # A pass through JSON unshares what aliases shared (changing one use must not change
    # the others) and leaves plain JSON values only.
    return json.loads(json.dumps(data))


def _check_expansion(root: Any) -> None:
    """Bound what aliases expand to: the values (counted as cfn-lint counts them) and the
    depth. Each distinct node is measured once, so this takes time in proportion to the
    file however large the expansion; it stops past ``MAX_DEPTH``, so its own recursion
    stays as shallow as the bound."""
    _Expansion().measure(root, 0)


class _Expansion:
    """The measure of each distinct node, taken once: (values, levels deep, characters of
    the scalars it expands to), keyed by the node's id."""

    def __init__(self) -> None:
        self.measured: dict[int, tuple[int, int, int]] = {}
        self.open_nodes: set[int] = set()

    def measure(self, node: Any, above: int) -> tuple[int, int, int]:
        mark = node.start_mark
        known = self.measured.get(id(node))
        if known is None:
            if id(node) in self.open_nodes:
                raise Located(mark.line, mark.column, "a YAML alias refers to a node holding it")
            known = self._measure_new(node, above)
        if above + known[1] > MAX_DEPTH:
            raise Located(mark.line, mark.column, f"{too_deep()} once YAML aliases expand")
        return known

    def _measure_new(self, node: Any, above: int) -> tuple[int, int, int]:
        mark = node.start_mark
        collection = isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
        levels = _levels(node.tag, collection)
        if above + levels > MAX_DEPTH:
            raise Located(mark.line, mark.column, f"{too_deep()} once YAML aliases expand")
        children = [v for _, v in node.value] if isinstance(node, yaml.MappingNode) else []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        self.open_nodes.add(id(node))
        values, below = 1 + int(_levels(node.tag, False) > 0), 0  # a short form adds its map
        # Few values can still be large: one long scalar aliased many times over. What
        # the aliases expand to must fit the template size CloudFormation accepts.
        chars = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        if isinstance(node, yaml.MappingNode):
            chars += sum(len(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode))
        for child in children:
            child_values, child_levels, child_chars = self.measure(child, above + levels)
            values += child_values
            chars += child_chars
            below = max(below, child_levels)
            if values > MAX_EXPANDED_NODES:
                raise Located(
                    mark.line,
                    mark.column,
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                    "(CloudFormation rejects aliases; the AWS CLI and SAM expand them)",
                )
            if chars > MAX_BYTES:
                raise Located(
                    mark.line,
                    mark.column,
                    f"YAML aliases expand to more than {MAX_BYTES:,} characters, more than "
                    "a template CloudFormation accepts",
                )
        self.open_nodes.discard(id(node))
        self.measured[id(node)] = (values, levels + below, chars)
        return self.measured[id(node)]
