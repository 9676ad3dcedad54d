"""What one render of a template may spend, and the checks that keep it within that while it renders.

A template is user input: a few lines of it can loop for hours (`{% for a in range(100000) %}{% for b in ...`) or
build gigabytes (`{% for a in range(1000) %}{{ 'x' * 1000000 }}{% endfor %}`). Checking the text after rendering
is too late (the process has already spent the time and the memory), so every render carries a `Budget`, charged
while it runs:

- **iterations**: every item any loop takes from its iterable (nested loops count every inner item), every macro
  or block call and every recursive `loop()` call;
- **output**: characters written, counted chunk by chunk as they are produced, at the top level and inside
  macros, `{% set %}` blocks and `{% filter %}` blocks;
- **memory**: bytes of the values template operations build (results of operators, `~`, slices, filters and
  method calls that are new, as their reference count tells, and the text of buffered blocks), in total,
  `MEMORY_BYTES_PER_OUTPUT_CHAR` times the output limit;
- **time**: a deadline checked at every iteration, every call, operator and filter.

No single operation may build a value larger than the output limit, and operations whose cost is set by an
argument (`'x' * n`, `s.ljust(n)`, `'%*d' % (n, 1)`, `|center(n)`, `|indent(n)`, `range(n)`, `|batch(n)`…) are
refused before they run, because one C call cannot be interrupted by a deadline. The same prechecks run without
a budget (at compile time, where Jinja folds constant expressions, and in the registry's static analysis) with the
default limits.
"""

from __future__ import annotations

import contextvars
import itertools
import re
import sys
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from jinja2.utils import Namespace

T = TypeVar("T")

# A build may hold this many bytes of intermediate values per character the template may output.
MEMORY_BYTES_PER_OUTPUT_CHAR = 64
# `a ** b` may use at most this exponent, and integer arithmetic may build at most this many bits.
MAX_EXPONENT = 1_000
MAX_INT_BITS = 65_536


@dataclass(frozen=True)
class TemplateLimits:
    """Per-render limits. The registry checks templates against the defaults at save time; the runs service renders
    with its configured values (`AGENTORCH_RUNS_TEMPLATES__*`)."""

    max_iterations: int = 100_000
    max_output_chars: int = 1_000_000
    max_seconds: float = 2.0

    @property
    def max_memory_bytes(self) -> int:
        return MEMORY_BYTES_PER_OUTPUT_CHAR * self.max_output_chars


DEFAULT_LIMITS = TemplateLimits()


class LimitExceeded(Exception):
    """A render went over one of its limits. Not a ValueError or TypeError, which filters swallow; and the budget
    stays tripped, so that code catching everything cannot hide it (the render fails when it ends)."""


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("agentorch_template_budget", default=None)


def current() -> Budget | None:
    """The budget of the render running in this thread, or None (compile time, static analysis)."""
    return _CURRENT.get()


def limits() -> TemplateLimits:
    budget = _CURRENT.get()
    return DEFAULT_LIMITS if budget is None else budget.limits


class Budget:
    """The remaining allowance of one render; `with Budget(limits):` makes it the running thread's current one."""

    __slots__ = ("_token", "deadline", "error", "iterations", "limits", "memory", "output")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.iterations = limits.max_iterations
        self.output = limits.max_output_chars
        self.memory = limits.max_memory_bytes
        self.deadline = time.monotonic() + limits.max_seconds
        self.error: str | None = None
        self._token: contextvars.Token[Budget | None] | None = None

    def __enter__(self) -> Budget:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None

    def fail(self, message: str) -> NoReturn:
        if self.error is None:
            self.error = message
        raise LimitExceeded(self.error)

    def check(self) -> None:
        """Raise if the render is over a limit (or was: the error is sticky); called at every interception."""
        if self.error is not None:
            raise LimitExceeded(self.error)
        if self.iterations < 0:
            self.fail(
                f"template exceeds {self.limits.max_iterations} loop iterations "
                "(every iteration of every loop, nested ones included, and every macro call counts)"
            )
        if self.output < 0:
            self.fail(f"template output exceeds {self.limits.max_output_chars} characters")
        if time.monotonic() > self.deadline:
            self.fail(f"template rendering exceeds {self.limits.max_seconds:g} seconds")

    def step(self) -> None:
        """One loop iteration, macro call or recursive loop call."""
        self.iterations -= 1
        self.check()

    def iterate(self, iterable: Iterable[T]) -> Iterator[T]:
        """`step()` for every item, inlined: this runs once per loop iteration of every render."""
        clock = time.monotonic
        for item in iterable:
            self.iterations -= 1
            if self.iterations < 0 or self.error is not None or clock() > self.deadline:
                self.check()
            yield item

    def charge(self, nbytes: int) -> None:
        self.memory -= nbytes
        if self.memory < 0:
            self.fail(
                f"template builds more than {self.limits.max_memory_bytes} bytes of values "
                f"({MEMORY_BYTES_PER_OUTPUT_CHAR} bytes per character of the output limit)"
            )

    def built(self, value: Any, *, new_items: bool = True) -> None:
        """Charge the value an operation returned, if the operation built it (and refuse one larger than a single
        value may be). Call it as `result = operation(); budget.built(result)`: a value nothing else refers to is
        new, one with more references was already there (`d.get(k)`, `items|first`, `s.strip()` of a stripped
        string) and costs nothing more, so reading a large input in a loop is not mistaken for building. The items
        of a new container are charged too when they are new themselves (`s.split()`); `new_items=False` says
        they cannot be (`[x] * n`, `a + b`, `items[:]` copy references)."""
        if isinstance(value, _SIZED) and sys.getrefcount(value) <= _FRESH_REFS:
            check_size(len(value), value)
            size = sys.getsizeof(value)
            if new_items and isinstance(value, list | tuple | set | frozenset):
                size += _fresh_items_size(value)  # `s.split()`: the strings weigh more than the list
            elif new_items and isinstance(value, dict):
                size += _fresh_items_size(value.values())
            self.charge(size)

    def grew(self, container: Any, size_before: int) -> None:
        """A list, dict or set a method call changed in place."""
        check_size(len(container), container)
        self.charge(max(sys.getsizeof(container) - size_before, 0))


_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


def _references(value: Any) -> int:
    """Counted as `built()` counts: the caller's local, this parameter, getrefcount's own argument."""
    return sys.getrefcount(value)


def _fresh_references() -> int:
    result = [None]  # as `result = operation()` in a caller of built()
    return _references(result)


def _item_references(items: Collection[Any]) -> list[int]:
    return list(map(sys.getrefcount, items))  # C-speed: this runs over every list an operation builds


def _fresh_items_size(items: Collection[Any]) -> int:
    """The size of the items only their new container refers to (one level deep)."""
    fresh = map(_FRESH_ITEM_REFS.__ge__, _item_references(items))
    return sum(map(sys.getsizeof, itertools.compress(items, fresh)))


_FRESH_REFS = _fresh_references()
_FRESH_ITEM_REFS = _item_references([[None]])[0]  # an item only its container refers to


class TextBuffer(list[str]):
    """The buffer of a macro, `{% set %}` block, `{% filter %}` block or recursive loop: text written into it is
    output (at most the output limit per buffer) and memory."""

    __slots__ = ("_budget", "_left")

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self._budget = budget
        self._left = budget.limits.max_output_chars

    def append(self, text: str) -> None:
        self._write(len(text))
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        texts = tuple(texts)
        self._write(sum(map(len, texts)))
        super().extend(texts)

    def _write(self, chars: int) -> None:
        self._left -= chars
        if self._left < 0:
            self._budget.fail(f"template output exceeds {self._budget.limits.max_output_chars} characters")
        self._budget.charge(chars)
        self._budget.check()


# --- prechecks: refuse an operation before it builds something too large ------------------------------------------


def refuse(message: str) -> NoReturn:
    budget = _CURRENT.get()
    if budget is not None:
        budget.fail(message)
    raise LimitExceeded(message)


def check_size(size: int, value: Any = "") -> None:
    """A single string may be at most the output limit long; a list, dict or bytes value hold as many items."""
    cap = limits().max_output_chars
    if size > cap:
        what = "string" if isinstance(value, str) else type(value).__name__
        unit = "characters" if isinstance(value, str) else "items"
        refuse(f"template builds a {what} of more than {cap} {unit} (the output limit)")


def check_width(width: Any, what: str) -> None:
    cap = limits().max_output_chars
    if is_int(width) and width > cap:
        refuse(f"{what} {width} is more than the output limit of {cap} characters")


def check_range(count: int) -> None:
    cap = limits().max_iterations
    if count > cap:
        refuse(f"range() of {count} numbers exceeds the limit of {cap} loop iterations")


def check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(sequence, str | bytes | list | tuple) and is_int(count) and count > 0:
        cap = limits().max_output_chars
        if len(sequence) * count > cap:
            refuse(f"repetition would build more than {cap} items")


def check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        refuse(f"arithmetic would build an integer of more than {MAX_INT_BITS} bits")


def check_power(base: Any, exponent: Any) -> None:
    if is_int(base) and is_int(exponent) and abs(base) > 1 and exponent > 0:
        if exponent > MAX_EXPONENT:
            refuse(f"exponent {exponent} is larger than {MAX_EXPONENT}")
        check_int_bits(base.bit_length() * exponent)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """`*`, `**`, `+` and `%` are the operators that can build large values."""
    if operator == "*":
        if is_int(left) and is_int(right):
            check_int_bits(left.bit_length() + right.bit_length())
        check_repeat(left, right)
        check_repeat(right, left)
    elif operator == "**":
        check_power(left, right)
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and type(left) is type(right):
            check_size(len(left) + len(right), left)
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# printf-style conversion: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def check_printf(template: str, values: Any) -> None:
    """An upper bound of the length of `template % values` (widths, precisions and the text of every value)."""
    cap = limits().max_output_chars
    positional: list[Any] = list(values) if isinstance(values, tuple) else [values]
    mapping = values if isinstance(values, Mapping) else None
    total, index = len(template), 0

    def take() -> Any:
        nonlocal index
        value = positional[index] if index < len(positional) else None
        index += 1
        return value

    for match in _PRINTF.finditer(template):
        key, width, precision, kind = match.groups()
        if kind == "%":
            continue
        width_value = take() if width == "*" else int(width or 0)
        precision_value = take() if precision == "*" else int(precision or 0)
        value = mapping.get(key) if mapping is not None and key is not None else take()
        for number in (width_value, precision_value):
            if is_int(number) and abs(number) > cap:
                refuse(f"a format width of {abs(number)} is more than the output limit of {cap} characters")
        widths = sum(abs(n) for n in (width_value, precision_value) if is_int(n))
        total += widths + text_size(value, cap) + 24
        if total > cap:
            refuse(f"formatting would build more than {cap} characters (the output limit)")


_SPEC_NUMBER = re.compile(r"\d+")


def check_format_spec(spec: str) -> None:
    """`str.format` fields: `{:>{n}}` and `{:.{n}f}` arrive here resolved; every number in a spec is a bound."""
    cap = limits().max_output_chars
    for number in _SPEC_NUMBER.findall(spec):
        if len(number) > 7 or int(number) > cap:
            refuse(f"a format width of {number} is more than the output limit of {cap} characters")


def check_text_method(owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`str` and `bytes` methods whose result size is set by an argument; the others build at most a few times
    their input, which the budget charges afterwards."""
    cap = limits().max_output_chars
    if name in ("center", "ljust", "rjust", "zfill"):
        check_width(args[0] if args else None, f"{name}() width")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        tab: Any = "\t" if isinstance(owner, str) else b"\t"
        if is_int(tabsize) and len(owner) + owner.count(tab) * max(tabsize, 0) > cap:
            refuse(f"expandtabs() would build more than {cap} characters (the output limit)")
    elif name == "replace" and len(args) >= 2:
        check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name == "translate" and args:
        table = args[0]
        values: Iterable[Any] = table.values() if isinstance(table, Mapping) else ()
        widest = max((len(v) for v in values if isinstance(v, str | bytes)), default=1)
        if len(owner) * widest > cap:
            refuse(f"translate() would build more than {cap} characters (the output limit)")


def check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(text, str | bytes) and isinstance(old, str | bytes) and isinstance(new, str | bytes)):
        return
    if type(old) is not type(text) or type(new) is not type(text):
        return
    occurrences = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if is_int(count) and count >= 0:
        occurrences = min(occurrences, count)
    cap = limits().max_output_chars
    if len(text) + occurrences * (len(new) - len(old)) > cap:
        refuse(f"replace() would build more than {cap} characters (the output limit)")


def check_join(separator: str | bytes, items: list[Any]) -> None:
    cap = limits().max_output_chars
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, str | bytes) else text_size(item, cap)
        if total > cap:
            refuse(f"join() would build more than {cap} characters (the output limit)")


def check_text(value: Any) -> None:
    """`value` is about to become text (output, `~`, a filter that formats it): refuse a list or dict whose text
    would be longer than the output limit (`[s] * 1000` is 1,000 references but a thousand copies as text)."""
    if isinstance(value, str) or value is None or isinstance(value, int | float):
        return
    cap = limits().max_output_chars
    if text_size(value, cap) > cap:
        refuse(f"template converts a {type(value).__name__} of more than {cap} characters to text (the output limit)")


def text_size(value: Any, cap: int, indent: int = 0) -> int:
    """An upper estimate of the length of `str(value)` (with `indent` more characters per item per nesting level,
    as `tojson(indent)` and `pprint` lay them out), that stops counting once past `cap`, so it costs at most
    about `cap` steps. Shared references count every time, as `str()` writes them every time."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        total += depth * indent + (1 if indent else 0)
        if isinstance(item, str):
            printable = item.isprintable() and "\\" not in item
            total += (len(item) if printable else 10 * len(item)) + 2
        elif isinstance(item, bytes):
            total += 4 * len(item) + 3
        elif item is None or isinstance(item, bool | float):
            total += 24
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= cap:
                stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, Namespace):
            stack.append((item._Namespace__attrs, depth))  # type: ignore[attr-defined]
            total += 12
        elif isinstance(item, list | tuple | set | frozenset) or type(item).__name__ in _VIEWS:
            total += 2 + 2 * len(item)
            if total <= cap:
                stack.extend((child, depth + 1) for child in item)
        else:  # a generator, a macro, a range, a loop: their text is their type and address
            total += 64
        if total > cap:
            return total
    return total


_VIEWS = frozenset({"dict_keys", "dict_values", "dict_items"})
