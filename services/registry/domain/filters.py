"""The ListOrchestrations filter: a small AIP-160 subset (terms joined by AND)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from services.common.errors import ValidationFailed
from services.registry.domain.orchestration import OrchestrationStatus

MAX_FILTER_LENGTH = 1000
FIELDS = {"status": "=", "tag": "=", "agent": "=", "text": ":"}
HELP = 'terms joined by AND: status = ACTIVE|INACTIVE|ARCHIVED, tag = "x", agent = "slug", text : "words"'


@dataclass(frozen=True)
class OrchestrationFilter:
    status: OrchestrationStatus | None = None
    tags: tuple[str, ...] = ()
    agent: str | None = None
    text: str | None = None
    terms: tuple[str, ...] = field(default=(), compare=False)

    @property
    def fingerprint(self) -> str:
        return "|".join([str(self.status or ""), ",".join(sorted(self.tags)), self.agent or "", self.text or ""])


def parse_filter(source: str, field_name: str = "filter") -> OrchestrationFilter:
    if not source.strip():
        return OrchestrationFilter()
    if len(source) > MAX_FILTER_LENGTH:
        raise ValidationFailed.single(field_name, f"must be at most {MAX_FILTER_LENGTH} characters")
    try:
        lexer = shlex.shlex(source, posix=True, punctuation_chars="=:")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError as exc:
        raise ValidationFailed.single(field_name, f"cannot be parsed ({exc}); {HELP}") from None
    status: OrchestrationStatus | None = None
    tags: list[str] = []
    agent: str | None = None
    text: str | None = None
    position = 0
    while position < len(tokens):
        if position:
            if tokens[position].upper() != "AND":
                raise ValidationFailed.single(field_name, f"expected AND before {tokens[position]!r}; {HELP}")
            position += 1
        term = tokens[position : position + 3]
        if len(term) != 3 or term[0] not in FIELDS or term[1] != FIELDS[term[0]]:
            raise ValidationFailed.single(field_name, f"unsupported term {' '.join(term)!r}; {HELP}")
        key, _, value = term
        if key == "status":
            try:
                status = OrchestrationStatus(value.lower())
            except ValueError:
                raise ValidationFailed.single(field_name, f"unknown status {value!r}; {HELP}") from None
        elif key == "tag":
            tags.append(value)
        elif key == "agent":
            agent = value
        else:
            text = value
        position += 3
    return OrchestrationFilter(status=status, tags=tuple(tags), agent=agent, text=text)
