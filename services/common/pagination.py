"""Page tokens (AIP-158) and keyset paging, shared by every List RPC.

A token is the URL-safe base64 of an agentorch.common.v1.PageCursor: the format version, where the last page
ended (its sort key, one string per ordering column) and a fingerprint of the query it belongs to. It is opaque,
not secret and not signed: a token replayed against another query (other parent or filter) is refused instead of
silently skipping rows, and one whose key does not read as the list's sort key (`Key`) is refused too, before
anything is read. Every refusal is `InvalidPageToken`: INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN, a field
violation on `page_token` — what errors.proto promises for every List.

A use case builds one `Paging` per call, fetches `limit` rows (one more than the page holds: the extra row says
whether a next page exists) starting after `paging.after`, and answers `paging.page(rows, key_of)`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError

from agentorch.common.v1 import pagination_pb2
from services.common.db import utc
from services.common.errors import InvalidPageToken, ValidationFailed

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TOKEN_LENGTH = 2048
#: The PageCursor layout this code writes; 0 (tokens written before versions existed) has the same layout.
TOKEN_VERSION = 1
_READABLE_VERSIONS = frozenset({0, TOKEN_VERSION})
_NOT_OURS = "is not a token this service issued"

K = TypeVar("K")
T = TypeVar("T")


class Key(Generic[K]):
    """A list's sort key as it travels in a token: written as strings, read back typed (ValueError if it cannot)."""

    def __init__(self, write: Callable[[K], tuple[str, ...]], read: Callable[[tuple[str, ...]], K]) -> None:
        self._write = write
        self._read = read

    def write(self, key: K) -> tuple[str, ...]:
        return self._write(key)

    def read(self, parts: tuple[str, ...]) -> K:
        try:
            return self._read(parts)
        except (ValueError, TypeError, OverflowError):
            raise InvalidPageToken(_NOT_OURS) from None


def _one(parts: tuple[str, ...]) -> str:
    (only,) = parts
    return only


def _number(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(text)
    return int(text)


def _time(text: str) -> dt.datetime:
    return utc(dt.datetime.fromisoformat(text))


def _time_and_id(parts: tuple[str, ...]) -> tuple[dt.datetime, str]:
    moment, identifier = parts
    return _time(moment), identifier


def _text_pair(parts: tuple[str, ...]) -> tuple[str, str]:
    first, second = parts
    return first, second


#: One text column (a slug, an alias).
TEXT: Key[str] = Key(lambda key: (key,), _one)
#: One non-negative integer column (a version number, a sequence).
NUMBER: Key[int] = Key(lambda key: (str(key),), lambda parts: _number(_one(parts)))
#: Two text columns (agent slug, orchestration slug).
TEXT_PAIR: Key[tuple[str, str]] = Key(lambda key: key, _text_pair)
#: A time (UTC) and an id that breaks ties (created_at, run id).
TIME_AND_ID: Key[tuple[dt.datetime, str]] = Key(lambda key: (utc(key[0]).isoformat(), key[1]), _time_and_id)


def fingerprint(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


class Paging(Generic[K]):
    """One List call's paging: page size (0 = default, clamped to the maximum), where the page starts (`after`,
    None on the first page) and the next page's token. `query` identifies the query the token is bound to (the
    list's name, parent, filter…)."""

    def __init__(self, page_size: int, page_token: str, key: Key[K], *query: str) -> None:
        if page_size < 0:
            raise ValidationFailed.single("page_size", "must be 0 (service default) or positive")
        self.size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        self._key = key
        self._fingerprint = fingerprint(*query)
        self.after: K | None = None
        if page_token:
            self.after = key.read(decode(page_token, self._fingerprint))

    @property
    def limit(self) -> int:
        """How many rows to fetch: one more than the page holds, to know whether there is a next page."""
        return self.size + 1

    def page(self, rows: Sequence[T], key_of: Callable[[T], K]) -> tuple[list[T], str]:
        """The rows of this page (at most `size` of the `limit` fetched) and the next page's token ("" at the end)."""
        kept = list(rows[: self.size])
        return kept, self.token_after(kept, key_of, more=len(rows) > self.size)

    def token_after(self, kept: Sequence[T], key_of: Callable[[T], K], *, more: bool) -> str:
        """The token of the page after `kept`, when more rows were fetched than kept; "" otherwise."""
        if not more or not kept:
            return ""
        return encode(self._key.write(key_of(kept[-1])), self._fingerprint)


def encode(after: tuple[str, ...], query_fingerprint: str) -> str:
    cursor = pagination_pb2.PageCursor(after=list(after), query_fingerprint=query_fingerprint, version=TOKEN_VERSION)
    return base64.urlsafe_b64encode(cursor.SerializeToString()).decode().rstrip("=")


def decode(token: str, query_fingerprint: str) -> tuple[str, ...]:
    """The sort key a token carries, if it is a token of this format for this query; InvalidPageToken otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageToken("is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor: pagination_pb2.PageCursor = pagination_pb2.PageCursor.FromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        raise InvalidPageToken(_NOT_OURS) from None
    if cursor.version not in _READABLE_VERSIONS:
        raise InvalidPageToken("was issued by another version of the service; restart without a page_token")
    if not cursor.after or not cursor.query_fingerprint:
        raise InvalidPageToken(_NOT_OURS)
    if cursor.query_fingerprint != query_fingerprint:
        raise InvalidPageToken("was issued for a different query; restart without a page_token")
    return tuple(cursor.after)
