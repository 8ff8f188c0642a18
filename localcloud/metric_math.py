"""CloudWatch metric math: the subset this product uses, evaluated over time series.

A time series is a dict {window start (epoch s): value}. Arithmetic between two series keeps the timestamps
both
have; arithmetic with a scalar applies to every point; points that come out non-finite (division by zero) are
dropped, as CloudWatch leaves them out of the result. Supported: + - * / ^, comparisons (< <= > >= == !=),
AND/&&, OR/||, NOT, unary minus, parentheses, arrays [a, b] and the functions IF, FILL (value, REPEAT,
LINEAR),
SUM, AVG, MIN, MAX (over an array: per timestamp; over one series: a scalar), ABS, CEIL, FLOOR, PERIOD,
METRICS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

TimeSeries = dict[int, float]
Value = Union[float, TimeSeries, list]  # noqa: UP007 - a recursive alias reads better spelled out


class MetricMathError(ValueError):
    """The expression cannot be parsed or evaluated; the message says where."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||<=|>=|==|!=|[-+*/^<>()\[\],]))"
)


@dataclass(frozen=True)
class Token:
    kind: str  # num | name | op | end
    text: str


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise MetricMathError(f"Unexpected character {text[pos]!r} at position {pos} in {expression!r}")
        kind = match.lastgroup or "op"
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    tokens.append(Token("end", ""))
    return tokens


@dataclass
class Context:
    """What an expression may refer to."""

    resolve: Callable[[str], TimeSeries]  # id -> series of another query
    grid: list[int]  # every window start of the query range, for FILL
    period: int
    metric_ids: list[str]  # ids of the metric (non-expression) queries, for METRICS()


class _Parser:
    # Precedence climbing, lowest first.
    _BINARY = [
        ("OR", "||"),
        ("AND", "&&"),
        ("==", "!=", "<", "<=", ">", ">="),
        ("+", "-"),
        ("*", "/"),
        ("^",),
    ]

    def __init__(self, expression: str, ctx: Context):
        self.expression = expression
        self.tokens = tokenize(expression)
        self.i = 0
        self.ctx = ctx

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise MetricMathError(
                f"Expected {text!r} but found {tok.text or 'end of expression'!r} in {self.expression!r}"
            )

    def parse(self) -> Value:
        value = self.binary(0)
        if self.peek().kind != "end":
            raise MetricMathError(f"Unexpected {self.peek().text!r} in {self.expression!r}")
        return value

    def _is_op(self, tok: Token, level: int) -> bool:
        wanted = self._BINARY[level]
        return (tok.kind == "op" and tok.text in wanted) or (
            tok.kind == "name" and tok.text.upper() in wanted
        )

    def binary(self, level: int) -> Value:
        if level == len(self._BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self._is_op(self.peek(), level):
            op = self.take().text.upper()
            right = self.binary(level + 1)
            left = combine(op, left, right)
        return left

    def unary(self) -> Value:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "-":
            self.take()
            return combine("*", -1.0, self.unary())
        if tok.kind == "op" and tok.text == "+":
            self.take()
            return self.unary()
        if tok.kind == "name" and tok.text.upper() == "NOT":
            self.take()
            return apply(self.unary(), lambda v: 0.0 if v else 1.0)
        return self.primary()

    def primary(self) -> Value:
        tok = self.take()
        if tok.kind == "num":
            return float(tok.text)
        if tok.kind == "op" and tok.text == "(":
            value = self.binary(0)
            self.expect(")")
            return value
        if tok.kind == "op" and tok.text == "[":
            items: list = []
            if self.peek().text != "]":
                items.append(self.binary(0))
                while self.peek().text == ",":
                    self.take()
                    items.append(self.binary(0))
            self.expect("]")
            return items
        if tok.kind == "name":
            if self.peek().text == "(":
                self.take()
                args: list = []
                if self.peek().text != ")":
                    args.append(self.argument())
                    while self.peek().text == ",":
                        self.take()
                        args.append(self.argument())
                self.expect(")")
                return call(tok.text.upper(), args, self.ctx)
            return dict(self.ctx.resolve(tok.text))
        raise MetricMathError(f"Unexpected {tok.text or 'end of expression'!r} in {self.expression!r}")

    def argument(self) -> Value | str:
        tok = self.peek()
        if (
            tok.kind == "name"
            and tok.text.upper() in ("REPEAT", "LINEAR")
            and self.tokens[self.i + 1].text
            in (
                ",",
                ")",
            )
        ):
            self.take()
            return tok.text.upper()
        return self.binary(0)


def evaluate(expression: str, ctx: Context) -> Value:
    return _Parser(expression, ctx).parse()


def as_series(value: Value, ctx: Context) -> TimeSeries:
    """The result of a top-level expression as a series (a scalar becomes a flat line over the grid)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        raise MetricMathError(
            "An expression that returns an array of time series cannot be used as one series; "
            "wrap it in SUM/AVG/MIN/MAX."
        )
    return {t: float(value) for t in ctx.grid}


def _finite(series: TimeSeries) -> TimeSeries:
    return {t: v for t, v in series.items() if math.isfinite(v)}


def _op(op: str) -> Callable[[float, float], float]:
    def div(a: float, b: float) -> float:
        return a / b if b != 0 else math.nan

    def power(a: float, b: float) -> float:
        try:
            return float(a**b)
        except (OverflowError, ZeroDivisionError, ValueError):
            return math.nan

    table: dict[str, Callable[[float, float], float]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": div,
        "^": power,
        "<": lambda a, b: float(a < b),
        "<=": lambda a, b: float(a <= b),
        ">": lambda a, b: float(a > b),
        ">=": lambda a, b: float(a >= b),
        "==": lambda a, b: float(a == b),
        "!=": lambda a, b: float(a != b),
        "AND": lambda a, b: float(bool(a) and bool(b)),
        "&&": lambda a, b: float(bool(a) and bool(b)),
        "OR": lambda a, b: float(bool(a) or bool(b)),
        "||": lambda a, b: float(bool(a) or bool(b)),
    }
    return table[op]


def combine(op: str, left: Value, right: Value) -> Value:
    fn = _op(op)
    if isinstance(left, list) or isinstance(right, list):
        if isinstance(left, list) and isinstance(right, list):
            raise MetricMathError("Arithmetic between two arrays of time series is not supported.")
        if isinstance(left, list):
            return [combine(op, item, right) for item in left]
        return [combine(op, left, item) for item in right]  # type: ignore[union-attr]
    if isinstance(left, dict) and isinstance(right, dict):
        return _finite({t: fn(v, right[t]) for t, v in left.items() if t in right})
    if isinstance(left, dict):
        return _finite({t: fn(v, float(right)) for t, v in left.items()})  # type: ignore[arg-type]
    if isinstance(right, dict):
        return _finite({t: fn(float(left), v) for t, v in right.items()})
    result = fn(float(left), float(right))
    return result


def apply(value: Value, fn: Callable[[float], float]) -> Value:
    if isinstance(value, list):
        return [apply(v, fn) for v in value]
    if isinstance(value, dict):
        return _finite({t: fn(v) for t, v in value.items()})
    return fn(float(value))


def _reduce(name: str, values: list[float]) -> float:
    if name == "SUM":
        return math.fsum(values)
    if name == "AVG":
        return math.fsum(values) / len(values)
    if name == "MIN":
        return min(values)
    return max(values)


def call(name: str, args: list, ctx: Context) -> Value:
    if name in ("SUM", "AVG", "MIN", "MAX"):
        if len(args) != 1:
            raise MetricMathError(f"{name} takes one argument (a time series or an array of them).")
        arg = args[0]
        if isinstance(arg, list):
            series_list = [as_series(a, ctx) for a in arg]
            stamps = sorted(set().union(*series_list)) if series_list else []
            out: TimeSeries = {}
            for t in stamps:
                present = [s[t] for s in series_list if t in s]
                if present:
                    out[t] = _reduce(name, present)
            return out
        if isinstance(arg, dict):
            return _reduce(name, list(arg.values())) if arg else math.nan
        return float(arg)
    if name == "IF":
        if len(args) not in (2, 3):
            raise MetricMathError("IF takes (condition, trueValue[, falseValue]).")
        cond = args[0]
        if not isinstance(cond, dict):
            chosen = args[1] if cond else (args[2] if len(args) == 3 else math.nan)
            return chosen
        out = {}
        for t, c in cond.items():
            branch = args[1] if c else (args[2] if len(args) == 3 else None)
            if branch is None:
                continue
            if isinstance(branch, dict):
                if t in branch:
                    out[t] = branch[t]
            else:
                out[t] = float(branch)
        return out
    if name == "FILL":
        if len(args) != 2:
            raise MetricMathError("FILL takes (timeSeries, value | REPEAT | LINEAR).")
        return _fill(args[0], args[1], ctx)
    if name in ("ABS", "CEIL", "FLOOR"):
        fn = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}[name]
        return apply(args[0], lambda v: float(fn(v)))
    if name == "PERIOD":
        return float(ctx.period)
    if name == "METRICS":
        return [dict(ctx.resolve(i)) for i in ctx.metric_ids]
    raise MetricMathError(
        f"Metric math function {name} is not supported locally (supported: IF, FILL, SUM, AVG, "
        "MIN, MAX, ABS, CEIL, FLOOR, PERIOD, METRICS)."
    )


def _fill(series: Value, how: Value | str, ctx: Context) -> Value:
    if isinstance(series, list):
        return [_fill(s, how, ctx) for s in series]
    if not isinstance(series, dict):
        return series
    out: TimeSeries = {}
    known = sorted(series)
    for t in ctx.grid:
        if t in series:
            out[t] = series[t]
        elif how == "REPEAT":
            before = [k for k in known if k < t]
            if before:
                out[t] = series[before[-1]]
        elif how == "LINEAR":
            before = [k for k in known if k < t]
            after = [k for k in known if k > t]
            if before and after:
                a, b = before[-1], after[0]
                out[t] = series[a] + (series[b] - series[a]) * (t - a) / (b - a)
        elif isinstance(how, dict):
            if t in how:
                out[t] = how[t]
        else:
            out[t] = float(how)  # type: ignore[arg-type]
    return out
