"""Save-time checks of the limits every render runs within (`services.common.template_budget`), where the template
alone proves that a render would exceed them, whatever its inputs:

- a constant argument over a bound: `range(1000000)`, `'x' * 10000000`, `9 ** 99999`, `'x' | center(10 ** 9)`,
  `'%1000000000d' % 1` (each operation's own precheck, run on the constants, building nothing);
- loops over constant ranges or literals whose iterations, nested and consecutive, add up to more than the
  iteration limit (`{% for a in range(1000) %}{% for b in range(1000) %}` is 1,001,000 iterations).

Anything that depends on an input (`range(params.n)`), on a condition (`{% if %}` bodies, macro bodies) or on a
filtered loop's test is left to the render, which enforces the same limits as it runs. The checks use the default
limits, the ones the runs service renders with unless its operator changed them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import nodes

from services.common import template_budget as tb
from services.common.template_filters import precheck as filter_precheck


class _Unknown:
    """A value only the render knows."""


UNKNOWN: Any = _Unknown()
_MAX_LITERAL_ITEMS = 1_000  # literals larger than this are not evaluated (their size is the template's own)


@dataclass(frozen=True)
class _Sized:
    """A string or list known by its length only (`'x' * 1000` is not built to be checked)."""

    length: int
    text: bool

    def __len__(self) -> int:
        return self.length


def limit_problems(template: nodes.Template) -> list[str]:
    """One description per distinct problem, with the line of its first occurrence."""
    problems: dict[str, int] = {}
    evaluator = _Evaluator()
    for node in _walk(template):
        if isinstance(node, nodes.BinExpr | nodes.Call | nodes.Filter | nodes.Concat):
            try:
                evaluator.value(node)
            except tb.LimitExceeded as exc:
                problems.setdefault(str(exc), node.lineno)
            except RecursionError:  # expressions nested beyond what we evaluate: the compiler reports them
                pass
    cap = tb.DEFAULT_LIMITS.max_iterations
    try:
        total, line = _iterations(template.body, evaluator)
    except RecursionError:
        total, line = 0, 0
    if total > cap:
        problems.setdefault(
            f"loops run at least {total} iterations in all (nested loops multiply), "
            f"more than the limit of {cap} loop iterations",
            line,
        )
    return [f"{problem} (line {line})" for problem, line in problems.items()]


def _walk(root: nodes.Node) -> Iterator[nodes.Node]:
    stack: list[nodes.Node] = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.iter_child_nodes())


class _Evaluator:
    """Values of constant expressions, computed only where that is cheap; every operation runs its precheck."""

    def __init__(self) -> None:
        self._memo: dict[int, Any] = {}

    def value(self, node: nodes.Node) -> Any:
        key = id(node)
        if key not in self._memo:
            self._memo[key] = UNKNOWN  # a failed precheck raises once, at the first visit
            self._memo[key] = self._evaluate(node)
        return self._memo[key]

    def _evaluate(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.List | nodes.Tuple):
            if len(node.items) > _MAX_LITERAL_ITEMS:
                return UNKNOWN
            items = [self.value(item) for item in node.items]
            if any(item is UNKNOWN or isinstance(item, _Sized) for item in items):
                return _Sized(len(items), text=False)
            return items if isinstance(node, nodes.List) else tuple(items)
        if isinstance(node, nodes.Neg):
            operand = self.value(node.node)
            return -operand if tb.is_int(operand) else UNKNOWN
        if isinstance(node, nodes.BinExpr):
            return self._binop(node.operator, self.value(node.left), self.value(node.right))
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._filter(node)
        if isinstance(node, nodes.Concat):
            parts = [self.value(part) for part in node.nodes]
            if all(isinstance(p, str | _Sized) for p in parts):
                tb.check_size(sum(len(p) for p in parts), "")
            return UNKNOWN
        return UNKNOWN

    def _binop(self, operator: str, left: Any, right: Any) -> Any:
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if operator == "*":
            sequence, count = (left, right) if tb.is_int(right) else (right, left)
            if isinstance(sequence, str | list | tuple | _Sized) and tb.is_int(count):
                text = isinstance(sequence, str) or (isinstance(sequence, _Sized) and sequence.text)
                cap = tb.limits().max_output_chars
                if len(sequence) * max(count, 0) > cap:
                    tb.refuse(f"repetition would build more than {cap} items")
                return _Sized(len(sequence) * max(count, 0), text)
        if operator == "+" and isinstance(left, str | _Sized) and isinstance(right, str | _Sized):
            tb.check_size(len(left) + len(right), "")
            return _Sized(len(left) + len(right), text=True)
        if isinstance(left, _Sized) or isinstance(right, _Sized):
            return UNKNOWN
        tb.check_binop(operator, left, right)
        if tb.is_int(left) and tb.is_int(right) and operator in ("+", "-", "*", "**", "//", "%"):
            try:
                return _INT_OPS[operator](left, right)
            except (ArithmeticError, ValueError):
                return UNKNOWN
        return UNKNOWN

    def _call(self, node: nodes.Call) -> Any:
        if not (isinstance(node.node, nodes.Name) and node.node.name == "range"):
            return UNKNOWN
        if node.kwargs or node.dyn_args or node.dyn_kwargs or not 1 <= len(node.args) <= 3:
            return UNKNOWN
        args = [self.value(arg) for arg in node.args]
        if not all(tb.is_int(arg) for arg in args):
            return UNKNOWN
        try:
            numbers = range(*args)
        except ValueError:  # range() step must not be zero: the render reports it
            return UNKNOWN
        count = max(0, (numbers.stop - numbers.start + numbers.step - (1 if numbers.step > 0 else -1)) // numbers.step)
        tb.check_range(count)
        return _Sized(count, text=False)

    def _filter(self, node: nodes.Filter) -> Any:
        value = self.value(node.node) if node.node is not None else UNKNOWN
        args = tuple(self.value(arg) for arg in node.args)
        kwargs = {cast(nodes.Keyword, keyword).key: self.value(keyword.value) for keyword in node.kwargs}
        known = (value, *args, *kwargs.values())
        if node.dyn_args or node.dyn_kwargs or any(v is UNKNOWN or isinstance(v, _Sized) for v in known):
            return UNKNOWN
        try:
            filter_precheck(node.name, value, args, kwargs)
        except tb.LimitExceeded:
            raise
        except Exception:  # arguments the filter itself would reject: the render reports them
            return UNKNOWN
        return UNKNOWN


_INT_OPS: dict[str, Any] = {
    "+": int.__add__,
    "-": int.__sub__,
    "*": int.__mul__,
    "**": int.__pow__,
    "//": int.__floordiv__,
    "%": int.__mod__,
}


def _iterations(body: Sequence[nodes.Node], evaluator: _Evaluator) -> tuple[int, int]:
    """Iterations certain to run in `body` (loops over known sizes, outside conditions and macros), and the line of
    the first loop counted."""
    total, first = 0, 0
    for node in body:
        count, line = _certain(node, evaluator)
        total += count
        if count and not first:
            first = line
    return total, first


def _certain(node: nodes.Node, evaluator: _Evaluator) -> tuple[int, int]:
    if isinstance(node, nodes.For):
        try:
            iterable = evaluator.value(node.iter)
        except tb.LimitExceeded:  # reported on its own
            return 0, 0
        size = len(iterable) if isinstance(iterable, str | list | tuple | _Sized) else None
        if size is None:
            return 0, 0
        if node.test is not None:  # a filtered loop takes every item; its body runs for some
            return size, node.lineno
        inner, _ = _iterations(node.body, evaluator)
        otherwise, _ = _iterations(node.else_, evaluator) if size == 0 else (0, 0)
        return size + size * inner + otherwise, node.lineno
    if isinstance(node, nodes.Output | nodes.If | nodes.Macro | nodes.CallBlock):
        return 0, 0  # output holds no loop; conditional and macro bodies may not run
    children = [child for child in node.iter_child_nodes() if isinstance(child, nodes.Stmt)]
    return _iterations(children, evaluator)  # with, scoped blocks, set blocks, filter blocks: their body runs
