"""Page tokens and paging: opaque, versioned, bound to their query and their list's sort key, and rejected clearly
(INVALID_PAGE_TOKEN on `page_token`) when wrong."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentorch.common.v1 import pagination_pb2
from services.common import pagination
from services.common.errors import InvalidPageToken, ValidationFailed
from services.common.pagination import NUMBER, TEXT, TEXT_PAIR, TIME_AND_ID, Key, Paging

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def token_for(key: Key[Any], last: Any, *query: str) -> str:
    """The token a page ending at `last` hands out (two rows fetched for a page of one)."""
    _, token = Paging(1, "", key, *query).page(["first", "second"], lambda _: last)
    assert token
    return token


def forged(after: list[str], *query: str, version: int = pagination.TOKEN_VERSION) -> str:
    cursor = pagination_pb2.PageCursor(after=after, query_fingerprint=pagination.fingerprint(*query), version=version)
    return base64.urlsafe_b64encode(cursor.SerializeToString()).decode()


def refused(page_token: str, key: Key[Any], *query: str) -> InvalidPageToken:
    with pytest.raises(InvalidPageToken) as caught:
        Paging(5, page_token, key, *query)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert [v.field for v in caught.value.violations] == ["page_token"]
    return caught.value


def test_first_page_uses_default_and_clamps() -> None:
    assert Paging(0, "", TEXT, "q").size == pagination.DEFAULT_PAGE_SIZE
    assert Paging(10_000, "", TEXT, "q").size == pagination.MAX_PAGE_SIZE
    first = Paging(7, "", TEXT, "q")
    assert first.after is None
    assert first.limit == 8


def test_negative_page_size_names_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        Paging(-1, "", TEXT, "q")
    assert [v.field for v in caught.value.violations] == ["page_size"]
    assert caught.value.reason == "VALIDATION_FAILED"


def test_a_page_keeps_size_rows_and_hands_out_a_token_only_when_more_were_fetched() -> None:
    paging = Paging(2, "", NUMBER, "versions")
    assert paging.page([5, 4], lambda n: n) == ([5, 4], "")
    rows, token = paging.page([5, 4, 3], lambda n: n)
    assert rows == [5, 4]
    assert Paging(2, token, NUMBER, "versions").after == 4
    assert paging.token_after([], lambda n: n, more=True) == ""


@given(st.text(max_size=40), st.text(max_size=20))
def test_text_keys_round_trip_for_the_same_query(key: str, query: str) -> None:
    assert Paging(5, token_for(TEXT, key, "agents", query), TEXT, "agents", query).after == key


@given(st.tuples(st.text(max_size=20), st.text(max_size=20)))
def test_text_pairs_round_trip(key: tuple[str, str]) -> None:
    assert Paging(5, token_for(TEXT_PAIR, key, "q"), TEXT_PAIR, "q").after == key


@given(st.integers(min_value=0, max_value=2**63))
def test_numbers_round_trip(key: int) -> None:
    assert Paging(5, token_for(NUMBER, key, "q"), NUMBER, "q").after == key


def test_times_round_trip_in_utc_also_from_a_naive_time_the_store_read() -> None:
    assert Paging(5, token_for(TIME_AND_ID, (T0, "id-1"), "q"), TIME_AND_ID, "q").after == (T0, "id-1")
    naive = T0.replace(tzinfo=None)  # SQLite hands back naive UTC datetimes
    assert Paging(5, token_for(TIME_AND_ID, (naive, "id-1"), "q"), TIME_AND_ID, "q").after == (T0, "id-1")


def test_last_page_has_no_token() -> None:
    assert Paging(5, "", TEXT, "q").page(["a"], lambda row: row) == (["a"], "")


def test_token_for_another_query_is_rejected() -> None:
    error = refused(token_for(TEXT, "x", "agents", "org-a"), TEXT, "agents", "org-b")
    assert "different query" in error.violations[0].description


def test_tokens_carry_the_format_version_and_older_unversioned_tokens_still_read() -> None:
    token = token_for(TEXT, "x", "q")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert pagination_pb2.PageCursor.FromString(raw).version == pagination.TOKEN_VERSION
    assert Paging(5, forged(["x"], "q", version=0), TEXT, "q").after == "x"


def test_a_token_of_a_later_format_version_is_rejected() -> None:
    error = refused(forged(["x"], "q", version=pagination.TOKEN_VERSION + 1), TEXT, "q")
    assert "another version" in error.violations[0].description


@pytest.mark.parametrize(
    ("key", "after"),
    [
        (TEXT, ["a", "b"]),  # a column too many
        (TEXT_PAIR, ["a"]),  # a column short
        (TEXT_PAIR, ["a", "b", "c"]),
        (NUMBER, ["seven"]),
        (NUMBER, ["-1"]),
        (NUMBER, ["٣"]),  # a digit, but not an ASCII one
        (TIME_AND_ID, ["yesterday", "id"]),
        (TIME_AND_ID, [T0.isoformat()]),
    ],
)
def test_a_key_that_is_not_the_lists_sort_key_is_rejected(key: Key[Any], after: list[str]) -> None:
    refused(forged(after, "q"), key, "q")


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        "abc",
        base64.urlsafe_b64encode(b"\xff\xfe garbage").decode(),
        "A" * (pagination.MAX_TOKEN_LENGTH + 1),
        base64.urlsafe_b64encode(b"").decode() + "AA",
        forged([], "q"),  # no key
    ],
)
def test_garbage_tokens_are_rejected(token: str) -> None:
    refused(token, TEXT, "q")
