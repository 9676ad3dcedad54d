"""The one client-side error reader: what a service writes (grpc_errors) reads back whole, lazily and leniently."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from services.common import errors
from services.common.grpc_errors import to_grpc_status
from services.common.remote_errors import RemoteError


class FailedCall(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A sync failed call as grpc hands it out (the CLI's kind), with given trailers."""

    def __init__(self, code: grpc.StatusCode, message: str, trailers: tuple[tuple[str, bytes], ...]) -> None:
        self._code, self._message, self._trailers = code, message, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


def read(error: errors.ServiceError) -> RemoteError:
    return RemoteError.from_status(to_grpc_status(error))


def test_a_validation_error_reads_back_with_its_reason_and_every_violation() -> None:
    remote = read(
        errors.ValidationFailed(
            [errors.FieldViolation("agent.slug", "is required"), errors.FieldViolation("page_size", "negative")]
        )
    )
    assert remote.code == grpc.StatusCode.INVALID_ARGUMENT
    assert remote.reason == "VALIDATION_FAILED"
    assert remote.violations == (
        errors.FieldViolation("agent.slug", "is required"),
        errors.FieldViolation("page_size", "negative"),
    )
    assert remote.retry_delay is None
    assert "agent.slug" in remote.message


def test_reason_metadata_and_retry_delay() -> None:
    remote = read(errors.ResourceExhausted("slow down", retry_after_seconds=2.25, metadata={"scope": "client"}))
    assert (remote.code, remote.reason, remote.metadata) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RESOURCE_EXHAUSTED",
        {"scope": "client"},
    )
    assert remote.retry_delay == 2.25
    assert remote.violations == ()
    assert isinstance(remote.detail(error_details_pb2.RetryInfo), error_details_pb2.RetryInfo)
    assert remote.detail(error_details_pb2.BadRequest) is None


def test_a_sync_call_is_read_like_an_async_one() -> None:
    status = to_grpc_status(errors.InvalidPageToken("is stale"))
    remote = RemoteError.from_call(FailedCall(status.code, status.details, status.trailing_metadata))
    assert (remote.code, remote.reason, [v.field for v in remote.violations]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
        ["page_token"],
    )


def test_no_trailer_or_a_malformed_one_reads_as_no_details_with_the_calls_code_and_message() -> None:
    for trailers in ((), (("grpc-status-details-bin", b"\xff\xff not a status"),)):
        remote = RemoteError.from_call(FailedCall(grpc.StatusCode.UNAVAILABLE, "connection reset", trailers))
        assert (remote.code, remote.message) == (grpc.StatusCode.UNAVAILABLE, "connection reset")
        assert (remote.details, remote.reason, remote.metadata, remote.violations, remote.retry_delay) == (
            (),
            "",
            {},
            (),
            None,
        )


def test_a_trailer_is_read_only_when_a_detail_is_asked_for() -> None:
    remote = RemoteError.from_call(
        FailedCall(grpc.StatusCode.INTERNAL, "boom", (("grpc-status-details-bin", b"\xff"),))
    )
    assert "details" not in vars(remote)  # nothing decoded yet
    assert remote.reason == ""
    assert "details" in vars(remote)


def test_details_of_a_status_that_disagrees_with_the_call_are_still_read() -> None:
    """A proxy may rewrite the message; the reader keeps the details rather than dropping them."""
    status = status_pb2.Status(code=5, message="original")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="NOT_FOUND"))
    call = FailedCall(
        grpc.StatusCode.NOT_FOUND, "rewritten", (("grpc-status-details-bin", status.SerializeToString()),)
    )
    assert (RemoteError.from_call(call).message, RemoteError.from_call(call).reason) == ("rewritten", "NOT_FOUND")


def test_an_error_that_is_no_call_is_unknown() -> None:
    remote = RemoteError.from_call(grpc.RpcError("channel closed"))
    assert (remote.code, remote.message, remote.details) == (grpc.StatusCode.UNKNOWN, "channel closed", ())
