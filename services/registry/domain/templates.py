"""Jinja2 templates of orchestration definitions: the sandbox they render in, and their static analysis.

Prompts, inputs, echo messages and checkpoint texts are Jinja2 templates written by users, so they render in a
sandbox (`sandbox()`) where a missing value is an error (`StrictUndefined`) rather than an empty string: a prompt
silently missing the research notes is worse than a failed step. The registry validates templates when a
definition is saved and the runs service renders them with `render()`, so both sides share one configuration.

A template can read three variables: `params` (launch parameters), `steps` (`steps.<id>.output` of steps that
ran before) and `inputs` (the step's own rendered inputs). `analyze_template` lists every read of those
variables with its literal keys, so that the definition validator can check them against the declarations;
problems that do not depend on where a template is used (syntax errors, unknown variables or filters,
`{% include %}`, constant arguments and loops over constant ranges that are certain to exceed a rendering limit,
see `template_bounds`) are reported by the analysis itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes

from services.common.templating import (
    DEFAULT_LIMITS,
    TemplateLimitExceeded,
    TemplateRenderError,
    render,
    sandbox,
)
from services.registry.domain.template_bounds import limit_problems

__all__ = [
    "DEFAULT_LIMITS",
    "InvalidTemplate",
    "PromptTemplate",
    "TemplateLimitExceeded",
    "TemplateRenderError",
    "analyze_template",
    "render",
    "sandbox",
]

_ENV = sandbox()

# `revision`: the reviewer feedback of a step sent back by request_changes (None on its first run; issue 14)
RESERVED_VARIABLES = ("params", "steps", "inputs", "revision")

_EXTERNAL_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
}


class InvalidTemplate(ValueError):
    """A template does not parse."""


@dataclass(frozen=True)
class PromptTemplate:
    """A named template that steps refer to by `prompt_template`; stored next to a definition's version."""

    name: str
    template: str
    description: str = ""


@dataclass(frozen=True)
class Reference:
    """One read of a reserved variable: `steps.plan.output.x` is root `steps`, keys `("plan", "output", "x")`.

    A key is None where it is computed at render time (`params[name]`, `steps.plan.output[0]`), so that the
    validator can demand literal names where it needs them.
    """

    root: str
    keys: tuple[str | None, ...]
    line: int


@dataclass(frozen=True)
class TemplateAnalysis:
    """What validation needs to know about one template source."""

    parsed: bool
    references: tuple[Reference, ...]
    # Context-free problems, each a full violation description.
    problems: tuple[str, ...]
    # Every variable the template reads from its context (reserved ones included).
    free_names: frozenset[str]


def template_variables(source: str) -> frozenset[str]:
    """The variables `source` reads from its context (`{"params", "steps"}`); InvalidTemplate if it does not parse."""
    analysis = analyze_template(source)
    if not analysis.parsed:
        raise InvalidTemplate(analysis.problems[0])
    return analysis.free_names


@functools.lru_cache(maxsize=256)
def analyze_template(source: str) -> TemplateAnalysis:
    """Parse and compile `source`, and list its reads of reserved variables and its context-free problems.

    About a millisecond per template, so results are cached: a definition is validated again on every save and
    a named template is shared by steps (the analysis is immutable, so sharing it is safe).
    """
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return _unparsed(f"does not parse: line {exc.lineno}: {exc.message}")
    except RecursionError:
        return _unparsed("does not parse: it is nested too deeply")
    except Exception as exc:  # the lexer and parser are not ours; garbage must still yield a violation
        return _unparsed(f"does not parse: {type(exc).__name__}")
    walker = _Walker()
    walker.walk(ast)
    problems = list(walker.problems)
    problems.extend(limit_problems(ast))  # before compiling, which rewrites the tree for the budget
    problems.extend(_compile_problems(ast, report_syntax=not walker.problems))
    free_names = _free_names(source, walker) if walker.unknown_callables else _free_names_of(ast)
    problems.extend(
        f"reads undeclared variable {name!r} (line {walker.name_lines.get(name, 1)}); "
        f"templates can read {', '.join(RESERVED_VARIABLES)}"
        for name in sorted(free_names - set(RESERVED_VARIABLES), key=lambda n: (walker.name_lines.get(n, 1), n))
    )
    return TemplateAnalysis(True, tuple(walker.references), tuple(problems), frozenset(free_names))


def _unparsed(problem: str) -> TemplateAnalysis:
    return TemplateAnalysis(False, (), (problem,), frozenset())


def _compile_problems(ast: nodes.Template, *, report_syntax: bool) -> list[str]:
    """Compiling catches what parsing does not (unknown filters, too many nested blocks for Python)."""
    try:
        _ENV.compile(ast)
    except jinja2.TemplateSyntaxError as exc:
        return [f"does not compile: line {exc.lineno}: {exc.message}"] if report_syntax else []
    except Exception:  # SyntaxError ("too many statically nested blocks"), RecursionError, MemoryError, ...
        return ["does not compile: it is too complex"]
    return []


def _free_names(source: str, walker: _Walker) -> set[str]:
    """Free names despite unknown filters or tests (which fail the analysis): parse again with stand-ins."""
    env = _ENV.overlay()
    env.filters = {**_ENV.filters, **dict.fromkeys(walker.unknown_callables.get("filter", ()), _stand_in)}
    env.tests = {**_ENV.tests, **dict.fromkeys(walker.unknown_callables.get("test", ()), _stand_in)}
    try:
        return _free_names_of(env.parse(source))
    except Exception:
        return set()


def _stand_in(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def _free_names_of(ast: nodes.Template) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(ast))
    except Exception:  # fails where compiling failed, which is already reported
        return set()


class _Walker:
    """Walks the AST without recursion (templates are user input and may nest deeply)."""

    def __init__(self) -> None:
        self.references: list[Reference] = []
        self.problems: list[str] = []
        self.name_lines: dict[str, int] = {}
        self.unknown_callables: dict[str, set[str]] = {}

    def walk(self, root: nodes.Node) -> None:
        stack: list[nodes.Node] = [root]
        while stack:
            node = stack.pop()
            children = self._visit(node)
            stack.extend(reversed(children))

    def _visit(self, node: nodes.Node) -> list[nodes.Node]:
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            return self._chain(node)
        if isinstance(node, nodes.Name):
            self._name(node, ())
            return []
        if isinstance(node, nodes.Filter | nodes.Test):
            self._check_callable(node)
        external = _EXTERNAL_NODES.get(type(node))
        if external is not None:
            self.problems.append(f"uses {{% {external} %}} (line {node.lineno}); templates must be self-contained")
        return list(node.iter_child_nodes())

    def _chain(self, node: nodes.Getattr | nodes.Getitem) -> list[nodes.Node]:
        """Unwind `a.b["c"][x]` into the base `a` and keys ("b", "c", None); computed keys are walked too."""
        keys: list[str | None] = []
        computed: list[nodes.Node] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                keys.append(current.attr)
            elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
                keys.append(current.arg.value)
            else:
                keys.append(None)
                computed.append(current.arg)
            current = current.node
        keys.reverse()
        computed.reverse()
        if isinstance(current, nodes.Name):
            self._name(current, tuple(keys))
            return computed
        return [current, *computed]

    def _name(self, node: nodes.Name, keys: tuple[str | None, ...]) -> None:
        if node.ctx == "load":
            self.name_lines.setdefault(node.name, node.lineno)
            if node.name in RESERVED_VARIABLES:
                self.references.append(Reference(node.name, keys, node.lineno))
        elif node.name in RESERVED_VARIABLES:
            self.problems.append(f"assigns to reserved variable {node.name!r} (line {node.lineno})")

    def _check_callable(self, node: nodes.Filter | nodes.Test) -> None:
        known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
        if node.name not in known:
            what = "filter" if isinstance(node, nodes.Filter) else "test"
            self.unknown_callables.setdefault(what, set()).add(node.name)
            self.problems.append(f"uses unknown {what} {node.name!r} (line {node.lineno})")
