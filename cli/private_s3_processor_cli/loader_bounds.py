"""The bounds a template file meets (its size, what YAML aliases expand to, how deep it
nests), the messages that name them, and ``Located``: a problem at a line and column,
which ``loader.parse`` turns into the one-line message naming the file."""

from __future__ import annotations

from private_s3_processor.rules import MAX_NESTING_DEPTH, MAX_TEMPLATE_BYTES

# CloudFormation's quota "Template body size in an Amazon S3 object", 1 MB, counted as
# cfn-lint's E1002 and the processed-template check count it. The template given to the
# transform is submitted to CloudFormation too, so nothing deployable is refused here.
MAX_BYTES = MAX_TEMPLATE_BYTES
# cfn-lint's bound on alias-resolved values (cfnlint/decode/cfn_yaml.py, _MAX_EXPANDED_NODES).
MAX_EXPANDED_NODES = 250_000
# Maps and lists inside one another, an intrinsic's short tag counting as the map it
# stands for. The golden inputs nest at most 9 deep, their expansions 13, the project's
# own stacks 11; 100 keeps every later walk (deepcopy, json, the expansion, at up to 3
# frames a level) far inside Python's 1,000-frame recursion limit.
MAX_DEPTH = MAX_NESTING_DEPTH


class Located(Exception):
    """A problem at a 0-based line and column; ``parse`` names the file."""

    def __init__(self, line: int, column: int, text: str) -> None:
        super().__init__(text)
        self.line, self.column, self.text = line, column, text


class Problems(Exception):
    def __init__(self, problems: list[Located]) -> None:
        super().__init__(problems[0].text)
        self.problems = problems


def too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep (maps, lists and intrinsic functions)"


def duplicate(key: str, line: int, first: int) -> str:
    # cfn-lint's E0000 wording, naming both places.
    return f"Duplicate found {key!r} (line {line + 1}), first on line {first + 1}"


def position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)
