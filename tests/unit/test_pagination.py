"""Page tokens: opaque, bound to their query, and rejected clearly when wrong."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import pagination
from services.common.errors import InvalidPageToken, ValidationFailed


def test_first_page_uses_default_and_clamps() -> None:
    assert pagination.page_request(0, "", "q").size == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_request(10_000, "", "q").size == pagination.MAX_PAGE_SIZE
    assert pagination.page_request(7, "", "q").after is None


def test_negative_page_size_names_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        pagination.page_request(-1, "", "q")
    assert [v.field for v in caught.value.violations] == ["page_size"]


@given(st.lists(st.text(max_size=40), min_size=1, max_size=3), st.text(max_size=20))
def test_token_round_trips_for_the_same_query(key: list[str], query: str) -> None:
    first = pagination.page_request(5, "", "agents", query)
    token = pagination.next_page_token(first, tuple(key))
    assert pagination.page_request(5, token, "agents", query).after == tuple(key)


def test_last_page_has_no_token() -> None:
    assert pagination.next_page_token(pagination.page_request(5, "", "q"), None) == ""


def test_token_for_another_query_is_rejected() -> None:
    token = pagination.next_page_token(pagination.page_request(5, "", "agents", "org-a"), ("x",))
    with pytest.raises(InvalidPageToken) as caught:
        pagination.page_request(5, token, "agents", "org-b")
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert caught.value.violations[0].field == "page_token"


@pytest.mark.parametrize(
    "token",
    ["%%%", "abc", base64.urlsafe_b64encode(b"\xff\xfe garbage").decode(), "A" * (pagination.MAX_TOKEN_LENGTH + 1), ""],
)
def test_garbage_tokens_are_rejected(token: str) -> None:
    if token == "":
        token = base64.urlsafe_b64encode(b"").decode() + "AA"
    with pytest.raises(InvalidPageToken):
        pagination.page_request(5, token, "q")
