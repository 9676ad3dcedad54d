"""Jinja2's filters, bounded: each checks the render's deadline, refuses arguments that would make it build more
than a single value may hold (before it builds anything), and charges what it returns to the render's budget.

Filters that turn their input into text (`upper`, `indent`, `tojson`, `string`…) first check that the input's
text is not larger than the output limit: `[s] * 1000` is a thousand references to one string, but a thousand
copies of it as text. The precheck of each filter is also what the registry's static analysis runs on constant
arguments (`{{ 'x' | center(1000000000) }}` is refused at save time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2.filters import make_attrgetter, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.utils import pass_environment, pass_eval_context

from services.common import template_budget as tb

Precheck = Callable[..., None]

# Filters that do not turn their input into text: no text-size check of the input (their results are still
# charged). Every other filter is assumed to format its input.
_NOT_TEXT = frozenset(
    {
        "abs", "attr", "batch", "count", "d", "default", "dictsort", "first", "float", "groupby", "int", "items",
        "last", "length", "list", "map", "max", "min", "random", "reject", "rejectattr", "reverse", "round",
        "select", "selectattr", "slice", "sort", "sum", "unique",
    }
)  # fmt: skip


def _text_of(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _center(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    tb.check_width(width, "center() width")


def _indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = _text_of(value)
    if text is None:
        return
    per_line = len(width) if isinstance(width, str) else width if tb.is_int(width) else 0
    cap = tb.limits().max_output_chars
    if len(text) + (text.count("\n") + 1) * max(per_line, 0) > cap:
        tb.refuse(f"indent() would build more than {cap} characters (the output limit)")


def _wordwrap(value: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *_: Any) -> None:
    text = _text_of(value)
    if text is None:
        return
    per_line = width if tb.is_int(width) and width > 0 else 1
    separator = len(wrapstring) if isinstance(wrapstring, str) else 1
    cap = tb.limits().max_output_chars
    if len(text) + (len(text) // per_line + text.count("\n") + 1) * separator > cap:
        tb.refuse(f"wordwrap() would build more than {cap} characters (the output limit)")


def _replace(value: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    tb.check_replace(value, old, new, -1 if count is None else count)


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        tb.check_printf(value, kwargs or args)


def _urlize(value: Any, trim_url_limit: Any = None, nofollow: Any = False, target: Any = None, rel: Any = None,
            *_: Any, **__: Any) -> None:  # fmt: skip
    """Every link gets `target` and `rel` attributes: their length times the number of possible links."""
    text = _text_of(value)
    extra = sum(len(a) for a in (target, rel) if isinstance(a, str))
    cap = tb.limits().max_output_chars
    if text is not None and (len(text) // 4 + 1) * extra > cap:
        tb.refuse(f"urlize() would build more than {cap} characters (the output limit)")


def _batch(value: Any, linecount: Any = 1, fill_with: Any = None) -> None:
    cap = tb.limits().max_output_chars
    if tb.is_int(linecount) and linecount > cap:
        tb.refuse(f"batch() of {linecount} items is more than the limit of {cap} items")


def _slice(value: Any, slices: Any = 1, fill_with: Any = None) -> None:
    cap = tb.limits().max_iterations
    if tb.is_int(slices) and slices > cap:
        tb.refuse(f"slice() into {slices} parts exceeds the limit of {cap} loop iterations")


def _tojson(value: Any, indent: Any = None) -> None:
    per_level = len(indent) if isinstance(indent, str) else indent if tb.is_int(indent) else 0
    cap = tb.limits().max_output_chars
    if tb.text_size(value, cap, max(per_level, 0)) > cap:
        tb.refuse(f"tojson() would build more than {cap} characters (the output limit)")


def _pprint(value: Any) -> None:
    cap = tb.limits().max_output_chars
    if tb.text_size(value, cap, 1) > cap:
        tb.refuse(f"pprint() would build more than {cap} characters (the output limit)")


PRECHECKS: dict[str, Precheck] = {
    "batch": _batch,
    "center": _center,
    "format": _format,
    "indent": _indent,
    "pprint": _pprint,
    "replace": _replace,
    "slice": _slice,
    "tojson": _tojson,
    "urlize": _urlize,
    "wordwrap": _wordwrap,
}


def precheck(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse (LimitExceeded) a filter call that would build too much; used by the filters and by static analysis."""
    if name not in _NOT_TEXT:
        tb.check_text(value)
    check = PRECHECKS.get(name)
    if check is not None:
        check(value, *args, **kwargs)
    if name == "join" and isinstance(value, list | tuple):
        separator = args[0] if args else kwargs.get("d", "")
        if isinstance(separator, str):
            tb.check_join(separator, list(value))


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """`join`, with the size of the result checked before it is built (the items are materialized first)."""
    items = list(value)
    if attribute is not None:
        items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
    if isinstance(d, str):
        tb.check_join(d, items)
    return sync_do_join(eval_ctx, items, d)


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    """`sum`, one bounded `+` at a time (summing lists of lists builds quadratically)."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in iterable:
        total = environment.call_binop(None, "+", total, item)
    return total


_REPLACEMENTS: dict[str, Callable[..., Any]] = {"join": _join, "sum": _sum}


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The environment's filters, each wrapped (keeping the `pass_*` marker Jinja reads from the function)."""
    return {name: _bounded(name, _REPLACEMENTS.get(name, func)) for name, func in filters.items()}


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None) is not None  # eval context, environment or context comes first

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = tb.current()
        if budget is not None:
            budget.check()
        value_at = 1 if passes else 0
        if len(args) > value_at:
            precheck(name, args[value_at], args[value_at + 1 :], kwargs)
        result = func(*args, **kwargs)
        if budget is not None:
            budget.built(result)
        return result

    return bounded
