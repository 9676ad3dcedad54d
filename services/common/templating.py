"""The template sandbox shared by the registry (which validates templates) and the runs service (which renders
them): a Jinja2 SandboxedEnvironment with StrictUndefined, a few globals, and a budget that bounds every render
(iterations, output, memory, time; see `template_budget`). It is plumbing both contexts need to agree on byte for
byte, so it lives here once.

How the budget reaches the template's code: before code generation (`_generate`, Jinja's hook for it) every
`for` loop's iterable is wrapped in a counting iterator and every `~` becomes a bounded concatenation; the code
generator gives macros and blocks a counting buffer instead of a list; the sandbox's own interception points
(`call`, `call_binop`, `str.format`) and every filter check and charge what they build; `finalize` checks every
value before it becomes output text (and writes JSON data as JSON: `as_text`). `render()` consumes
`Template.generate()` chunk by chunk, so output stops at the limit instead of being measured after the fact.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import update_wrapper
from types import BuiltinMethodType, MethodType
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, markup_join
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import pass_eval_context
from markupsafe import Markup

from services.common import template_budget as tb
from services.common.template_budget import (
    DEFAULT_LIMITS,
    MAX_EXPONENT,
    MAX_INT_BITS,
    MEMORY_BYTES_PER_OUTPUT_CHAR,
    LimitExceeded,
    TemplateLimits,
)
from services.common.template_filters import bounded_filters

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_EXPONENT",
    "MAX_INT_BITS",
    "MEMORY_BYTES_PER_OUTPUT_CHAR",
    "TEMPLATE_GLOBALS",
    "LimitExceeded",
    "TemplateLimitExceeded",
    "TemplateLimits",
    "TemplateRenderError",
    "as_text",
    "needs_thread",
    "render",
    "sandbox",
]

# Globals a template may call; `lipsum`, `cycler` and `joiner` are dropped: nobody needs them in a prompt.
TEMPLATE_GLOBALS = ("range", "dict", "namespace")
# Templates with any of these may take real time (loops, recursion, calls on large values): they render off the
# event loop. Everything else (text, variables, tests, conditions, operators) renders in microseconds.
_EXPENSIVE_NODES = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Call, nodes.Filter, nodes.FilterBlock)

MAX_ERROR_CHARS = 1_000
_SCALARS = frozenset({str, int, float, bool, type(None)})
_ITERATE = "agentorch_iterate"
_CONCAT = "agentorch_concat"
_SLICE = "agentorch_slice"


class TemplateRenderError(ValueError):
    """Rendering failed: an undefined value, an unsafe operation, a limit, or an error raised by the template."""


class TemplateLimitExceeded(TemplateRenderError):
    """The render went over one of its limits (iterations, output, memory, time, or the size of one value)."""


class _BoundedCodeGenerator(CodeGenerator):
    """Macros, `{% set %}`/`{% filter %}` blocks and recursive loops write into a `TextBuffer` that counts."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.agentorch_buffer()")


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox with every way of spending time or memory going through the render's budget."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        _rewrite(source)
        return super()._generate(source, name, filename, defer_init)  # type: ignore[no-any-return]

    # --- what the rewritten template calls ----------------------------------------------------------------------

    def agentorch_iterate(self, iterable: Iterable[Any]) -> Iterable[Any]:
        budget = tb.current()
        return iterable if budget is None else budget.iterate(iterable)

    @pass_eval_context
    def agentorch_concat(self, eval_ctx: Any, values: list[Any]) -> str:
        for value in values:
            tb.check_text(value)
        parts = [value if isinstance(value, str) else str(as_text(value)) for value in values]
        tb.check_size(sum(map(len, parts)), "")
        return markup_join(parts) if eval_ctx.autoescape else "".join(parts)  # charged by call()

    def agentorch_slice(self, value: Any, start: Any, stop: Any, step: Any) -> Any:
        """`value[start:stop:step]`, a copy (Jinja compiles slices to Python's, past the sandbox's getitem)."""
        result = value[start:stop:step]
        budget = tb.current()
        if budget is not None:
            budget.built(result, new_items=False)
        return result

    def agentorch_buffer(self) -> list[str]:
        budget = tb.current()
        return [] if budget is None else tb.TextBuffer(budget)

    def agentorch_finalize(self, value: Any) -> Any:
        if type(value) not in _SCALARS:
            tb.check_text(value)
        return as_text(value)

    # --- the sandbox's interception points ----------------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = tb.current()
        if budget is not None:
            budget.check()
        tb.check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        if budget is not None:
            budget.built(result, new_items=False)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = tb.current()
        if budget is not None:
            budget.check()
            if isinstance(__obj, Macro | BlockReference):
                budget.step()
            elif isinstance(__obj, LoopContext) and args:  # a recursive loop's loop(children)
                args = (budget.iterate(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        method = isinstance(__obj, BuiltinMethodType | MethodType)
        if method and isinstance(owner, str | bytes):
            if __obj.__name__ == "join" and args:
                items = list(args[0])
                tb.check_join(owner, items)
                args = (items, *args[1:])
            else:
                tb.check_text_method(owner, __obj.__name__, args, kwargs)
        elif method and budget is not None and isinstance(owner, list | dict | set):
            size_before = sys.getsizeof(owner)
            result = super().call(__context, __obj, *args, **kwargs)
            budget.grew(owner, size_before)
            budget.built(result)
            return result
        result = super().call(__context, __obj, *args, **kwargs)
        if budget is not None:
            budget.built(result)
        return result

    def wrap_str_format(self, value: Any) -> Any:
        """`str.format` / `format_map`, as the sandbox wraps them, with a formatter that bounds every field."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in ("format", "format_map"):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        str_type = type(owner)
        is_format_map = value.__name__ == "format_map"
        formatter: SandboxedFormatter
        if isinstance(owner, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _BoundedFormatter(self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(owner, args, kwargs))

        return update_wrapper(wrapper, value)


class _FieldBounds(SandboxedFormatter):
    """Each field's spec (resolved: `{:>{n}}` arrives as `>12`) and value are checked, the total is counted."""

    _written = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._written = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = tb.current()
        if budget is not None:
            budget.check()
        tb.check_format_spec(format_spec)
        tb.check_text(value)
        text = super().format_field(value, format_spec)
        self._written += len(text)
        tb.check_size(self._written, "")
        return text


class _BoundedFormatter(_FieldBounds):
    pass


class _BoundedEscapeFormatter(_FieldBounds, SandboxedEscapeFormatter):
    pass


def as_text(value: Any) -> Any:
    """What a value writes into a template's output: the data templates read is JSON (launch inputs, step outputs,
    decisions), so it is written as JSON — an object or a list as `{"k": 1}` (not Python's `{'k': 1}`), `true`,
    `false`, `null` — and strings and numbers as they are. A value that is not JSON data (a set, a namespace, a cycle)
    is left to Jinja, which writes `str()` of it. Called after the budget's `check_text`, so the text is bounded."""
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if value is None or isinstance(value, bool | dict | list | tuple):
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return value
    return value


def _range(*args: int) -> range:
    """`range`, refused at once when it holds more numbers than a render may iterate."""
    numbers = range(*args)
    start, stop, step = numbers.start, numbers.stop, numbers.step
    count = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    tb.check_range(count)
    return numbers


def _rewrite(template: nodes.Template) -> None:
    """Route every loop's iterable, every `~` and every slice through the budget (in place and idempotent: the
    registry compiles a tree it also walks; it walks it first)."""
    stack: list[nodes.Node] = [template]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.For) and not _is_call_of(node.iter, _ITERATE):
            node.iter = _environment_call(_ITERATE, [cast(nodes.Expr, node.iter)], node.iter)
        for field in node.fields:
            value = getattr(node, field, None)
            if isinstance(value, nodes.Node):
                setattr(node, field, _bounded(value))
            elif isinstance(value, list):
                value[:] = [_bounded(v) if isinstance(v, nodes.Node) else v for v in value]
        stack.extend(node.iter_child_nodes())


def _bounded(node: nodes.Node) -> nodes.Node:
    """`a ~ b` and `a[i:j]` as calls of the environment's bounded versions; any other node as it is."""
    if isinstance(node, nodes.Concat):
        return _environment_call(_CONCAT, [nodes.List(node.nodes)], node)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice) and node.ctx == "load":
        bounds = [part or nodes.Const(None) for part in (node.arg.start, node.arg.stop, node.arg.step)]
        return _environment_call(_SLICE, [node.node, *bounds], node)
    return node


def _environment_call(name: str, args: list[nodes.Expr], like: nodes.Node) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
    call.set_lineno(like.lineno)
    if like.environment is not None:  # type: ignore[attr-defined]
        call.set_environment(like.environment)  # type: ignore[attr-defined]
    return call


def _is_call_of(node: nodes.Node, name: str) -> bool:
    if not isinstance(node, nodes.Call):
        return False
    return isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == name


def sandbox() -> SandboxedEnvironment:
    """A new environment configured as templates are validated and rendered (callers may not share ours)."""
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.finalize = env.agentorch_finalize
    env.globals = {name: env.globals[name] for name in TEMPLATE_GLOBALS}
    env.globals["range"] = _range
    env.filters = bounded_filters(env.filters)
    return env


_ENV = sandbox()


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    expensive: bool


class _CompiledCache:
    """Compiling is most of a cheap render's cost and a definition's templates render again and again (every run,
    every step): keep the compiled form of recent ones. Renders run in threads too, hence the lock."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, source: str) -> _Compiled | None:
        with self._lock:
            found = self._items.get(source)
            if found is not None:
                self._items.move_to_end(source)
            return found

    def get(self, source: str) -> _Compiled:
        found = self.peek(source)
        if found is not None:
            return found
        ast = _ENV.parse(source)  # a template that does not parse raises, and is not cached
        expensive = any(True for _ in ast.find_all(_EXPENSIVE_NODES))
        compiled = _Compiled(_ENV.from_string(ast), expensive)
        with self._lock:
            self._items[source] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled


_CACHE = _CompiledCache(1024)


def needs_thread(template: str) -> bool:
    """Whether rendering `template` may take real time, so the caller should render it off its event loop. A
    template not compiled yet counts as expensive: compiling a large template takes milliseconds too."""
    compiled = _CACHE.peek(template)
    return compiled is None or compiled.expensive


def render(template: str, variables: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS) -> str:
    """Render `template` in the sandbox within `limits`; any failure becomes a TemplateRenderError with a readable
    message (TemplateLimitExceeded for a limit)."""
    try:
        return _render(template, variables, limits)
    except TemplateRenderError as exc:
        if len(str(exc)) <= MAX_ERROR_CHARS:
            raise
        # An error can quote the template's values (a missing key, a bad argument): steps and events keep it.
        raise type(exc)(str(exc)[: MAX_ERROR_CHARS - 1] + "…") from exc.__cause__


def _render(template: str, variables: Mapping[str, Any], limits: TemplateLimits) -> str:
    try:
        compiled = _CACHE.get(template).template
        with tb.Budget(limits) as budget:
            parts: list[str] = []
            for chunk in compiled.generate(dict(variables)):
                budget.output -= len(chunk)
                if budget.output < 0:
                    budget.check()
                parts.append(chunk)
            budget.check()
            if budget.error is not None:  # tripped, and swallowed by code that catches everything
                raise LimitExceeded(budget.error)
            return "".join(parts)
    except LimitExceeded as exc:
        raise TemplateLimitExceeded(str(exc)) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(f"template does not parse: line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateRenderError(f"template reads an undefined value: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"template attempted an unsafe operation: {exc}") from exc
    except RecursionError as exc:
        raise TemplateRenderError("template recurses too deeply (a macro or block that calls itself)") from exc
    except MemoryError as exc:
        raise TemplateRenderError("template ran out of memory") from exc
    except Exception as exc:  # a user's template can raise anything (TypeError, ZeroDivisionError, ...)
        raise TemplateRenderError(f"template failed: {type(exc).__name__}: {exc}") from exc
