"""Opaque page tokens (AIP-158): URL-safe base64 of an agentorch.common.v1.PageCursor.

A token records where the last page ended and a fingerprint of the query it belongs to, so a token replayed
against a different query (other parent or filter) is rejected instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from agentorch.common.v1 import pagination_pb2
from services.common.errors import InvalidPageToken, ValidationFailed

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: tuple[str, ...] | None
    fingerprint: str


def fingerprint(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def page_request(page_size: int, page_token: str, *query: str) -> PageRequest:
    """Validate page_size/page_token for a query identified by `query` (parent, filter, order...)."""
    if page_size < 0:
        raise ValidationFailed.single("page_size", "must be 0 (service default) or positive")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fp = fingerprint(*query)
    if not page_token:
        return PageRequest(size, None, fp)
    cursor = _decode(page_token)
    if cursor.query_fingerprint != fp:
        raise InvalidPageToken("was issued for a different query; restart without a page_token")
    return PageRequest(size, tuple(cursor.after), fp)


def next_page_token(request: PageRequest, last_key: tuple[str, ...] | None) -> str:
    if last_key is None:
        return ""
    cursor = pagination_pb2.PageCursor(after=list(last_key), query_fingerprint=request.fingerprint)
    return base64.urlsafe_b64encode(cursor.SerializeToString()).decode().rstrip("=")


def _decode(token: str) -> pagination_pb2.PageCursor:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageToken("is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor: pagination_pb2.PageCursor = pagination_pb2.PageCursor.FromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        raise InvalidPageToken("is not a token this service issued") from None
    if not cursor.after or not cursor.query_fingerprint:
        raise InvalidPageToken("is not a token this service issued")
    return cursor
