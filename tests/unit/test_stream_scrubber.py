"""Streamed output is scrubbed across piece boundaries: a secret split anywhere never gets through."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from services.runs.executors.secrets import Redactor

KEY = "sk-live-0123456789abcdef"
FORMS = [KEY, base64.b64encode(KEY.encode()).decode(), f"Bearer {KEY}"]


def streamed(redactor: Redactor, pieces: list[str]) -> list[str]:
    scrubber = redactor.stream()
    out = [scrubber.feed(piece) for piece in pieces]
    out.append(scrubber.flush())
    return [piece for piece in out if piece]


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def test_a_key_split_at_every_offset_never_gets_through() -> None:
    redactor = Redactor(FORMS)
    for form in FORMS:
        text = f"the key is {form}, as you asked"
        for offset in range(1, len(text)):
            out = streamed(redactor, [text[:offset], text[offset:]])
            assert not leaks("".join(out)), (form, offset)
            assert "".join(out) == "the key is [redacted], as you asked"


def test_a_key_sent_one_character_at_a_time_is_redacted_and_nothing_else_is_lost() -> None:
    text = f"a{KEY}b{KEY}c"
    out = streamed(Redactor(FORMS), list(text))
    assert "".join(out) == "a[redacted]b[redacted]c"
    assert all(not leaks(piece) for piece in out)


def test_text_without_secrets_comes_out_unchanged_and_at_most_a_secret_length_behind() -> None:
    scrubber = Redactor(FORMS).stream()
    hold = max(len(f) for f in FORMS) - 1
    sent = ""
    received = ""
    for piece in ["hello ", "world, ", "this is a long answer " * 3]:
        sent += piece
        received += scrubber.feed(piece)
        assert len(sent) - len(received) <= hold
    received += scrubber.flush()
    assert received == sent


def test_without_secrets_pieces_pass_straight_through() -> None:
    scrubber = Redactor().stream()
    assert scrubber.feed("sk-") == "sk-"
    assert scrubber.flush() == ""


@settings(max_examples=300, derandomize=True)
@given(
    before=st.text(alphabet="ab sk-Bearer", max_size=30),
    after=st.text(alphabet="ab sk-Bearer", max_size=30),
    form=st.sampled_from(FORMS),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_any_split_of_any_text_holding_a_secret_form_leaks_nothing(
    before: str, after: str, form: str, cuts: list[int]
) -> None:
    text = before + form + after + form
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    out = streamed(Redactor(FORMS), pieces)
    joined = "".join(out)
    assert not leaks(joined)
    assert joined == Redactor(FORMS).text(text)  # the same as scrubbing the whole text at once
