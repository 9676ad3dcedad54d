"""Assertions on agentorch's error details (ErrorInfo, BadRequest, RetryInfo) of a failed call, read with the
platform's own reader (services.common.remote_errors); each fails the test when the detail is missing."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status.rpc_status import GRPC_DETAILS_METADATA_KEY

from services.common.remote_errors import RemoteError

DETAILS_KEY = GRPC_DETAILS_METADATA_KEY


def remote(error: grpc.RpcError) -> RemoteError:
    read = RemoteError.from_call(error)
    if not read.details:
        raise AssertionError(f"no {DETAILS_KEY} details in the trailers of {read.code}: {read.message}")
    return read


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    info = remote(error).error_info
    if info is None:
        raise AssertionError("no ErrorInfo in the status details")
    return info


def error_reason(error: grpc.RpcError) -> str:
    return error_info(error).reason


def bad_request_fields(error: grpc.RpcError) -> set[str]:
    read = remote(error)
    if read.detail(error_details_pb2.BadRequest) is None:
        raise AssertionError("no BadRequest in the status details")
    return {v.field for v in read.violations}


def retry_delay(error: grpc.RpcError) -> float:
    delay = remote(error).retry_delay
    if delay is None:
        raise AssertionError("no RetryInfo in the status details")
    return delay


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
