"""Helpers to read agentorch's error details (ErrorInfo, BadRequest) off a failed call."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_KEY:
            return status_pb2.Status.FromString(value)
    raise AssertionError(f"no {DETAILS_KEY} in the trailers of {error.code()}: {error.details()}")


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for detail in status_of(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo in the status details")


def error_reason(error: grpc.aio.AioRpcError) -> str:
    return error_info(error).reason


def bad_request_fields(error: grpc.aio.AioRpcError) -> set[str]:
    for detail in status_of(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field for v in bad.field_violations}
    raise AssertionError("no BadRequest in the status details")


class _AddMetadata:
    """Adds fixed metadata (a principal token) to every call made on a channel."""

    def __init__(self, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self._metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *self._metadata)
        return details._replace(metadata=metadata)


class _AddMetadataUnary(_AddMetadata, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


class _AddMetadataStream(_AddMetadata, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


def channel_as(target: str, metadata: tuple[tuple[str, str | bytes], ...]) -> grpc.aio.Channel:
    """A channel whose every call carries `metadata` (e.g. tests.support.principals.as_member(...)).

    grpc.aio files each interceptor under one kind only, so unary and server-streaming calls need one each.
    """
    return grpc.aio.insecure_channel(target, interceptors=[_AddMetadataUnary(metadata), _AddMetadataStream(metadata)])


# A client connection whose HTTP/2 window never grows: once 64 KiB are unread, the server cannot send more.
STALLING_CHANNEL_OPTIONS = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 65535)]


async def event_sequences_until_error(call: Any) -> tuple[list[int], grpc.aio.AioRpcError]:
    """Read a WatchRun stream that must end with an error: the event sequences received, and the error."""
    received: list[int] = []
    try:
        async for item in call:
            if item.HasField("event"):
                received.append(item.event.sequence)
    except grpc.aio.AioRpcError as error:
        return received, error
    raise AssertionError(f"the stream ended without an error after {len(received)} events")
