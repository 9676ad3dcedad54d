"""Validating a definition: the size and schema version first, then every pass of that version's rules (the format
is in this package's docstring). Every violation is reported at once, at its JSON path."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from services.common.errors import FieldViolation
from services.registry.domain.definition.dependencies import Ordering
from services.registry.domain.definition.model import (
    CURRENT_SCHEMA_VERSION,
    MAX_DOCUMENT_BYTES,
    SUPPORTED_SCHEMA_VERSIONS,
    Definition,
    is_integer,
)
from services.registry.domain.definition.reader import Reader, join, shown, utf8_size
from services.registry.domain.definition.structure import parse_structure
from services.registry.domain.definition.template_checks import check_prompt_templates, check_step_templates
from services.registry.domain.errors import InvalidDefinition
from services.registry.domain.templates import (
    PromptTemplate,
)

_Validator = Callable[[dict[Any, Any], Sequence[PromptTemplate], str, str], Definition]


def validate_definition(
    document: Any,
    prompt_templates: Sequence[PromptTemplate] = (),
    *,
    prefix: str = "definition",
    templates_prefix: str = "prompt_templates",
) -> Definition:
    """The parsed definition, or InvalidDefinition listing every violation (paths start with the prefixes)."""
    problem = _size_problem(document)
    if problem is not None:
        raise InvalidDefinition([FieldViolation(prefix, problem)])
    if not isinstance(document, dict):
        raise InvalidDefinition([FieldViolation(prefix, "must be a JSON object")])
    version = _schema_version(document, join(prefix, "schema_version"))
    return _VALIDATORS[version](document, prompt_templates, prefix, templates_prefix)


def parse_definition_json(
    text: str | bytes,
    prompt_templates: Sequence[PromptTemplate] = (),
    *,
    prefix: str = "definition",
    templates_prefix: str = "prompt_templates",
) -> Definition:
    """Decode JSON text, rejecting what decoding would silently accept (duplicate keys, NaN), and validate it."""
    size = len(text) if isinstance(text, bytes) else utf8_size(text)
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidDefinition([FieldViolation(prefix, f"must be at most {MAX_DOCUMENT_BYTES} bytes (got {size})")])
    try:
        document = json.loads(text, object_pairs_hook=_without_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        description = f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InvalidDefinition([FieldViolation(prefix, description)]) from exc
    except (ValueError, RecursionError) as exc:  # our hooks, undecodable bytes, absurd nesting
        raise InvalidDefinition([FieldViolation(prefix, f"is not valid JSON: {exc}")]) from exc
    return validate_definition(document, prompt_templates, prefix=prefix, templates_prefix=templates_prefix)


def _without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {shown(key)}")
        obj[key] = value
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _schema_version(document: dict[Any, Any], path: str) -> int:
    """The version to validate against; a bad one is the only violation, since the rest is read by its rules."""
    value = document.get("schema_version")
    if value is None:
        return CURRENT_SCHEMA_VERSION
    if is_integer(value) and int(value) in SUPPORTED_SCHEMA_VERSIONS:
        return int(value)
    supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
    raise InvalidDefinition(
        [FieldViolation(path, f"unsupported schema version {shown(value)}; supported: {supported}")]
    )


def _size_problem(document: Any) -> str | None:
    """Measured first, so that a huge document costs one encoding and not a full validation."""
    try:
        encoded = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return "is nested too deeply"
    except (TypeError, ValueError) as exc:
        return f"must be a JSON document ({exc})"
    size = utf8_size(encoded)
    return f"must be at most {MAX_DOCUMENT_BYTES} bytes of JSON (got {size})" if size > MAX_DOCUMENT_BYTES else None


def _validate_v1(
    document: dict[Any, Any], prompt_templates: Sequence[PromptTemplate], prefix: str, templates_prefix: str
) -> Definition:
    reader = Reader()
    structure = parse_structure(reader, document, prefix)
    named = check_prompt_templates(reader, prompt_templates, templates_prefix)
    if not structure.too_many_steps:  # the graph and template passes are bounded by MAX_STEPS
        ordering = Ordering(structure.sites)
        ordering.check(reader, structure.sites)
        parameters = frozenset(parameter.name for parameter in structure.parameters)
        check_step_templates(reader, structure.sites, parameters, ordering, named)
    if reader.violations:
        raise InvalidDefinition(reader.violations)
    return Definition(1, structure.parameters, structure.phases)


_VALIDATORS: dict[int, _Validator] = {1: _validate_v1}
