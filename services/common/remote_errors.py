"""The client side of errors.proto: one reader of a failed call's status and its google.rpc details.

A service answers every error with a code and a `google.rpc.Status` in the `grpc-status-details-bin` trailer
(`services.common.grpc_errors` writes it): an `ErrorInfo` whose reason clients branch on, a `BadRequest` naming
each invalid field, a `RetryInfo` saying when to retry. `RemoteError.from_call(err)` reads them from any failed
call (grpc.aio or sync), the trailer being decoded only when a detail is first asked for, as Temporal's `RPCError`
does. A malformed trailer reads as no details: the code and message still come from the call itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status.rpc_status import GRPC_DETAILS_METADATA_KEY

from services.common.errors import FieldViolation

M = TypeVar("M", bound=Message)


class RemoteError(Exception):
    """A failed call: its status code, message and (read lazily) its google.rpc details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: Iterable[any_pb2.Any] | None = None,
        *,
        trailer: bytes | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self._given = None if details is None else tuple(details)
        self._trailer = trailer

    @classmethod
    def from_call(cls, error: grpc.RpcError) -> RemoteError:
        """The error of a failed call (`grpc.aio.AioRpcError`, or a sync `grpc.RpcError` that is a `grpc.Call`)."""
        if not isinstance(error, grpc.Call | grpc.aio.AioRpcError):
            return cls(grpc.StatusCode.UNKNOWN, str(error), ())
        return cls(error.code(), error.details() or "", trailer=_trailer(error.trailing_metadata()))

    @classmethod
    def from_status(cls, status: grpc.Status) -> RemoteError:
        """The error a server-side `grpc.Status` (as `grpc_errors.to_grpc_status` builds it) will be read as."""
        return cls(status.code, status.details or "", trailer=_trailer(status.trailing_metadata))

    @cached_property
    def details(self) -> tuple[any_pb2.Any, ...]:
        """Every detail of the google.rpc.Status, packed; () without one (or with a trailer that does not parse)."""
        if self._given is not None:
            return self._given
        if self._trailer is None:
            return ()
        try:
            return tuple(status_pb2.Status.FromString(self._trailer).details)
        except DecodeError:
            return ()

    def detail(self, kind: type[M]) -> M | None:
        """The first detail of type `kind` (ErrorInfo, BadRequest, RetryInfo, a service's own), or None."""
        for packed in self.details:
            message: M = kind()
            if packed.Is(message.DESCRIPTOR) and packed.Unpack(message):
                return message
        return None

    @cached_property
    def error_info(self) -> error_details_pb2.ErrorInfo | None:
        return self.detail(error_details_pb2.ErrorInfo)

    @property
    def reason(self) -> str:
        """`ErrorInfo.reason` (`VALIDATION_FAILED`, `NOT_FOUND`…), or "" when the error carries none."""
        return self.error_info.reason if self.error_info is not None else ""

    @property
    def metadata(self) -> Mapping[str, str]:
        return dict(self.error_info.metadata) if self.error_info is not None else {}

    @cached_property
    def violations(self) -> tuple[FieldViolation, ...]:
        """The `BadRequest` field violations, in order (the field paths are the request's)."""
        bad = self.detail(error_details_pb2.BadRequest)
        return tuple(FieldViolation(v.field, v.description) for v in bad.field_violations) if bad else ()

    @cached_property
    def retry_delay(self) -> float | None:
        """Seconds after which to retry (`RetryInfo`), or None when the error says nothing about it."""
        info = self.detail(error_details_pb2.RetryInfo)
        if info is None:
            return None
        return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)


def _trailer(metadata: Any) -> bytes | None:
    for key, value in metadata or ():
        if key == GRPC_DETAILS_METADATA_KEY and isinstance(value, bytes):
            return value
    return None
