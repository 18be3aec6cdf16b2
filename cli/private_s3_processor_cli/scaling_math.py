"""The part of CloudWatch metric math the Queued alarms use, evaluated one datapoint at a
time: metric ids, numbers, ``+ - * /``, comparisons (``> < >= <= == !=``), parentheses,
``FILL(id, number)`` and ``IF(condition, then, else)``.

"Using math expressions with CloudWatch metrics" (CloudWatch user guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):
``FILL(m, value)`` fills the missing values of ``m`` with ``value``. A metric with no
datapoint in a period leaves any arithmetic on it without a datapoint too; that is why
the alarms wrap every metric in FILL, and why an SQS queue idle for hours (no metrics
published) still reads as 0. Division by zero gives no datapoint either. The same page,
"Using IF expressions": a comparison gives 1 where it holds and 0 where it does not, and
``IF(condition, trueValue, falseValue)`` gives ``trueValue`` where the condition is
non-zero, ``falseValue`` elsewhere. Any other function (``FILL(m, REPEAT)``, ``SUM``,
``METRICS()`` ...) and ``IF`` without its third argument are refused with their name,
never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Value = float | None
Evaluator = Callable[[Mapping[str, Value]], Value]

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>>=|<=|==|!=|[-+*/(),<>])|(?P<other>\S))"
)


class MathError(ValueError):
    """An expression this model cannot evaluate; the message names what and why."""


def _tokens(text: str) -> list[tuple[str, str]]:
    """Every character becomes a token (``other`` for what no rule reads), so that the
    parser names the first thing it cannot use, a function before its arguments."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # cannot happen: \S reads any character but space
            raise MathError(f"unreadable at character {pos + 1}")
        kind = match.lastgroup or "other"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, ids: frozenset[str]) -> None:
        self.text, self.ids = text, ids
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MathError(f"{what} expected at the end")
        self.pos += 1
        return token

    def expect(self, op: str) -> None:
        kind, text = self.next(f"{op!r}")
        if (kind, text) != ("op", op):
            raise MathError(f"{op!r} expected, found {text!r}")

    def parse(self) -> Evaluator:
        if not self.tokens:
            raise MathError("empty expression")
        result = self.comparison()
        if self.peek() is not None:
            raise MathError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return result

    def comparison(self) -> Evaluator:
        left = self.sum()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARE:
            op = self.next("operator")[1]
            left = _binary(op, left, self.sum())
        return left

    def sum(self) -> Evaluator:
        left = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.next("operator")[1]
            left = _binary(op, left, self.product())
        return left

    def product(self) -> Evaluator:
        left = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.next("operator")[1]
            left = _binary(op, left, self.unary())
        return left

    def unary(self) -> Evaluator:
        if self.peek() in (("op", "-"), ("op", "+")):
            sign = -1.0 if self.next("sign")[1] == "-" else 1.0
            inner = self.unary()
            return lambda v: None if (x := inner(v)) is None else sign * x
        return self.atom()

    def atom(self) -> Evaluator:
        kind, text = self.next("a number, a metric id or '('")
        if kind == "number":
            number = float(text)
            return lambda v: number
        if (kind, text) == ("op", "("):
            inner = self.comparison()
            self.expect(")")
            return inner
        if kind == "name" and self.peek() == ("op", "("):
            return self.function(text)
        if kind == "name":
            if text not in self.ids:
                raise MathError(f"unknown metric id {text!r}")
            return lambda v: v.get(text)
        raise MathError(f"unexpected {text!r}")

    def function(self, name: str) -> Evaluator:
        if name == "IF":
            return self.conditional()
        if name != "FILL":
            raise MathError(
                f"function {name} is not modelled (only FILL(id, number) and IF(c, a, b))"
            )
        self.expect("(")
        series = self.sum()
        self.expect(",")
        kind, text = self.next("FILL's value")
        if kind != "number":
            raise MathError(f"FILL(..., {text}) is not modelled (only a number)")
        fill = float(text)
        self.expect(")")
        return lambda v: fill if (x := series(v)) is None else x

    def conditional(self) -> Evaluator:
        self.expect("(")
        condition = self.comparison()
        self.expect(",")
        then = self.comparison()
        kind, text = self.next("IF's third argument")
        if (kind, text) != ("op", ","):
            raise MathError("IF without its third argument is not modelled")
        otherwise = self.comparison()
        self.expect(")")

        def choose(values: Mapping[str, Value]) -> Value:
            test = condition(values)
            if test is None:
                return None
            return then(values) if test != 0 else otherwise(values)

        return choose


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _binary(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    def apply(values: Mapping[str, Value]) -> Value:
        a, b = left(values), right(values)
        if a is None or b is None:
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op in _COMPARE:
            return 1.0 if _COMPARE[op](a, b) else 0.0
        return None if b == 0 else a / b

    return apply


def compile_expression(text: str, ids: frozenset[str]) -> Evaluator:
    """``text`` as a function of the period's values by id (None: no datapoint)."""
    if not isinstance(text, str):
        raise MathError(f"an expression must be a string (got {type(text).__name__})")
    try:
        return _Parser(text, ids).parse()
    except RecursionError:
        raise MathError("nested too deeply") from None
