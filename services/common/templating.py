"""The template sandbox shared by the registry (which validates templates) and the runs service (which renders
them): a Jinja2 SandboxedEnvironment with StrictUndefined, a few globals, and bounds on the operators that turn a
short template into gigabytes. It is plumbing both contexts need to agree on byte for byte, so it lives here once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# Globals a template may call; `lipsum`, `cycler` and `joiner` are dropped: nobody needs them in a prompt.
TEMPLATE_GLOBALS = ("range", "dict", "namespace")
# `"x" * n` and `[...] * n` may build at most this many items; `a ** b` may use at most this exponent.
MAX_REPEAT_ITEMS = 1_000_000
MAX_EXPONENT = 1_000
MAX_RENDERED_CHARS = 1_000_000


class TemplateRenderError(ValueError):
    """Rendering failed: an undefined value, an unsafe operation, or an error raised by the template."""


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox plus bounds on `*` and `**`, the two operators that turn a short template into gigabytes."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(sequence, str | list | tuple) and _is_int(count) and len(sequence) * count > MAX_REPEAT_ITEMS:
        raise SecurityError(f"repetition would build more than {MAX_REPEAT_ITEMS} items")


def sandbox() -> SandboxedEnvironment:
    """A new environment configured as templates are validated and rendered (callers may not share ours)."""
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals = {name: env.globals[name] for name in TEMPLATE_GLOBALS}
    return env


_ENV = sandbox()


@functools.lru_cache(maxsize=1024)
def _compiled(template: str) -> jinja2.Template:
    """Compiling is most of a render's cost and a definition's templates render again and again (every run, every
    step): keep the compiled form of recent ones. A template that does not parse is not cached (it raises)."""
    return _ENV.from_string(template)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Render `template` in the sandbox; any failure becomes a TemplateRenderError with a readable message."""
    try:
        text = _compiled(template).render(dict(variables))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(f"template does not parse: line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateRenderError(f"template reads an undefined value: {exc.message}") from exc
    except SecurityError as exc:
        raise TemplateRenderError(f"template attempted an unsafe operation: {exc}") from exc
    except Exception as exc:  # a user's template can raise anything (TypeError, ZeroDivisionError, RecursionError)
        raise TemplateRenderError(f"template failed: {type(exc).__name__}: {exc}") from exc
    if len(text) > MAX_RENDERED_CHARS:
        raise TemplateRenderError(f"rendered text is longer than {MAX_RENDERED_CHARS} characters ({len(text)})")
    return text
