"""Metric math for GetMetricData and alarms: arithmetic (+ - * / ^, unary minus, parentheses) over
time series and scalars, and the functions SUM, AVG, MIN, MAX, STDDEV, ABS, CEIL, FLOOR, RATE, DIFF,
DIFF_TIME, FILL (value, REPEAT, LINEAR), PERIOD and METRICS().

A time series is a dict timestamp -> value. Arithmetic between two series keeps the timestamps both
have (AWS drops a point when an operand has none); with a scalar it applies to every point. SUM/AVG/
MIN/MAX of one series give a scalar; of an array of series, a series (per timestamp, over the series
that have it).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onebox.aws.errors import AwsError

Series = dict[int, float]
Value = float | Series | list[Series]

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\"[^\"]*\")|(.))")


class MathError(Exception):
    """An expression AWS would refuse; the handler turns it into ValidationError."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        number, name, string, other = match.groups()
        if number is not None:
            out.append(("num", number))
        elif name is not None:
            out.append(("name", name))
        elif string is not None:
            out.append(("str", string[1:-1]))
        elif other is not None and not other.isspace():
            out.append(("op", other))
    return out


@dataclass
class Node:
    kind: str  # num, ref, call, binary, neg, str
    value: Any = None
    args: list[Node] | None = None


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MathError("Unexpected end of expression")
        self.position += 1
        return token

    def expect(self, op: str) -> None:
        token = self.take()
        if token != ("op", op):
            raise MathError(f"Expected '{op}' but found '{token[1]}'")

    def parse(self) -> Node:
        node = self.additive()
        if self.peek() is not None:
            raise MathError(f"Unexpected '{self.peek()[1]}'")  # type: ignore[index]
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            node = Node("binary", op, [node, self.multiplicative()])
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            node = Node("binary", op, [node, self.unary()])
        return node

    def unary(self) -> Node:
        if self.peek() == ("op", "-"):
            self.take()
            return Node("neg", None, [self.unary()])
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            node = Node("binary", "^", [node, self.unary()])
        return node

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node("num", float(text))
        if kind == "str":
            return Node("str", text)
        if kind == "op" and text == "(":
            node = self.additive()
            self.expect(")")
            return node
        if kind == "op" and text == "[":
            items = [self.additive()]
            while self.peek() == ("op", ","):
                self.take()
                items.append(self.additive())
            self.expect("]")
            return Node("array", None, items)
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                if self.peek() != ("op", ")"):
                    args.append(self.additive())
                    while self.peek() == ("op", ","):
                        self.take()
                        args.append(self.additive())
                self.expect(")")
                return Node("call", text, args)
            return Node("ref", text)
        raise MathError(f"Unexpected '{text}'")


def parse(text: str) -> Node:
    return _Parser(text).parse()


def references(node: Node) -> set[str]:
    """Ids an expression reads (METRICS() reads every other query)."""
    found: set[str] = set()
    if node.kind == "ref":
        found.add(node.value)
    if node.kind == "call" and node.value == "METRICS":
        found.add("*")
    for child in node.args or []:
        found |= references(child)
    return found


@dataclass
class Context:
    series: dict[str, Series]  # results of the other queries, by id
    period: int
    grid: list[int]  # every period start of the query range (for FILL)


_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else math.nan,
    "^": lambda a, b: a**b,
}


def evaluate(node: Node, context: Context) -> Value:
    if node.kind == "num":
        return float(node.value)
    if node.kind == "ref":
        if node.value not in context.series:
            raise MathError(f"Unknown metric or expression id: {node.value}")
        return dict(context.series[node.value])
    if node.kind == "neg":
        return _apply(lambda a, _: -a, evaluate(node.args[0], context), 0.0)  # type: ignore[index]
    if node.kind == "binary":
        left = evaluate(node.args[0], context)  # type: ignore[index]
        right = evaluate(node.args[1], context)  # type: ignore[index]
        return _apply(_BINARY[node.value], left, right)
    if node.kind == "array":
        out: list[Series] = []
        for item in node.args or []:
            value = evaluate(item, context)
            if isinstance(value, list):
                out.extend(value)
            elif isinstance(value, dict):
                out.append(value)
            else:
                raise MathError("An array may only contain time series")
        return out
    if node.kind == "call":
        return _call(node.value, node.args or [], context)
    raise MathError("Strings are only valid as function arguments")


def _apply(op: Callable[[float, float], float], left: Value, right: Value) -> Value:
    if isinstance(left, list):
        return [_apply(op, item, right) for item in left]  # type: ignore[misc]
    if isinstance(right, list):
        return [_apply(op, left, item) for item in right]  # type: ignore[misc]
    if isinstance(left, dict) and isinstance(right, dict):
        return {ts: op(left[ts], right[ts]) for ts in left if ts in right}
    if isinstance(left, dict):
        return {ts: op(v, right) for ts, v in left.items()}  # type: ignore[arg-type]
    if isinstance(right, dict):
        return {ts: op(left, v) for ts, v in right.items()}
    return op(left, right)


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum,
    "AVG": lambda values: sum(values) / len(values),
    "MIN": min,
    "MAX": max,
    "STDDEV": lambda values: statistics.pstdev(values) if len(values) > 1 else 0.0,
}
_SCALAR_FUNCS: dict[str, Callable[[float], float]] = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}


def _call(name: str, args: list[Node], context: Context) -> Value:
    if name == "METRICS":
        if args:
            raise MathError("METRICS() with a filter string is not supported")
        return [dict(series) for series in context.series.values()]
    if name == "PERIOD":
        return float(context.period)
    if name in _AGGREGATES:
        _arity(name, args, 1)
        value = evaluate(args[0], context)
        reduce = _AGGREGATES[name]
        if isinstance(value, list):
            stamps = sorted({ts for series in value for ts in series})
            return {ts: reduce([s[ts] for s in value if ts in s]) for ts in stamps}
        if isinstance(value, dict):
            return reduce(list(value.values())) if value else math.nan
        return value
    if name in _SCALAR_FUNCS:
        _arity(name, args, 1)
        func = _SCALAR_FUNCS[name]
        return _apply(lambda a, _: float(func(a)), evaluate(args[0], context), 0.0)
    if name in ("RATE", "DIFF", "DIFF_TIME"):
        _arity(name, args, 1)
        return _map_series(evaluate(args[0], context), lambda s: _differences(s, name))
    if name == "FILL":
        _arity(name, args, 2)
        value = evaluate(args[0], context)
        how = args[1]
        if how.kind == "ref" and how.value in ("REPEAT", "LINEAR"):
            return _map_series(value, lambda s: _fill(s, context.grid, how.value))
        fill_with = evaluate(how, context)
        if not isinstance(fill_with, float):
            raise MathError("FILL takes a number, REPEAT or LINEAR as its second argument")
        return _map_series(value, lambda s: {**{ts: fill_with for ts in context.grid}, **s})
    raise MathError(f"Unknown function: {name}")


def _arity(name: str, args: list[Node], count: int) -> None:
    if len(args) != count:
        raise MathError(f"{name} takes {count} argument(s), {len(args)} given")


def _map_series(value: Value, func: Callable[[Series], Series]) -> Value:
    if isinstance(value, list):
        return [func(series) for series in value]
    if isinstance(value, dict):
        return func(value)
    raise MathError("This function needs a time series")


def _differences(series: Series, name: str) -> Series:
    stamps = sorted(series)
    out: Series = {}
    for before, after in zip(stamps, stamps[1:], strict=False):
        if name == "DIFF":
            out[after] = series[after] - series[before]
        elif name == "DIFF_TIME":
            out[after] = float(after - before)
        else:  # RATE: change per second
            out[after] = (series[after] - series[before]) / (after - before)
    return out


def _fill(series: Series, grid: list[int], how: str) -> Series:
    out = dict(series)
    known = sorted(series)
    for ts in grid:
        if ts in out:
            continue
        before = [t for t in known if t < ts]
        after = [t for t in known if t > ts]
        if how == "REPEAT":
            if before:
                out[ts] = series[before[-1]]
            elif after:
                out[ts] = series[after[0]]
        elif before and after:
            t0, t1 = before[-1], after[0]
            out[ts] = series[t0] + (series[t1] - series[t0]) * (ts - t0) / (t1 - t0)
    return out


def as_series_list(value: Value, grid: list[int]) -> list[Series]:
    """The result as time series: a scalar becomes a constant series over the query range."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    return [{ts: value for ts in grid}]


def check_expression(text: str) -> Node:
    try:
        return parse(text)
    except MathError as error:
        raise AwsError("ValidationError", f"Invalid metrics math expression: {error}") from None
