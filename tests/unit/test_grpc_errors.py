"""Domain error categories map to the right gRPC status, with details clients can branch on."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import exc as sa_exc

from agentorch.common.v1 import errors_pb2
from services.common import errors
from services.common.grpc_errors import ERROR_DOMAIN, internal_status, is_lost_database_connection, to_grpc_status
from services.common.remote_errors import RemoteError

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def details(status: grpc.Status) -> status_pb2.Status:
    raw = dict(status.trailing_metadata)["grpc-status-details-bin"]
    return status_pb2.Status.FromString(raw)


def unpack(status: grpc.Status, kind: type[Message]) -> object | None:
    return RemoteError.from_status(status).detail(kind)


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (
            errors.ValidationFailed.single("agent.slug", "is required"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "VALIDATION_FAILED",
        ),
        (errors.InvalidPageToken("is stale"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"),
        (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
        (errors.AlreadyExists("x"), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS"),
        (errors.EtagMismatch("x"), grpc.StatusCode.ABORTED, "ETAG_MISMATCH"),
        (errors.ClientTooSlow("x"), grpc.StatusCode.ABORTED, "CLIENT_TOO_SLOW"),
        (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION, "FAILED_PRECONDITION"),
        (errors.PermissionDenied("x"), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
        (errors.Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (
            errors.ResourceExhausted("x", retry_after_seconds=2),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RESOURCE_EXHAUSTED",
        ),
        (errors.ServiceError("x"), grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
def test_category_maps_to_code_and_reason(error: errors.ServiceError, code: grpc.StatusCode, reason: str) -> None:
    status = to_grpc_status(error)
    assert status.code == code
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == (reason, ERROR_DOMAIN)
    assert details(status).code == code.value[0]


def test_service_subclass_keeps_its_category_and_metadata() -> None:
    class WidgetMissing(errors.NotFound):
        pass

    status = to_grpc_status(WidgetMissing("widget w1 not found", metadata={"resource": "widgets/w1"}))
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert status.details == "widget w1 not found"
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert dict(info.metadata) == {"resource": "widgets/w1"}


def test_validation_lists_every_violation_with_its_path() -> None:
    error = errors.ValidationFailed(
        [errors.FieldViolation("a.b", "is required"), errors.FieldViolation("a.c[2]", "is too long")]
    )
    bad = unpack(to_grpc_status(error), error_details_pb2.BadRequest)
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("a.b", "is required"),
        ("a.c[2]", "is too long"),
    ]
    assert "a.b: is required" in str(error)


def test_validation_needs_a_violation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        errors.ValidationFailed([])


def test_retry_info_carries_the_delay() -> None:
    retry = unpack(
        to_grpc_status(errors.ResourceExhausted("slow down", retry_after_seconds=0.25)), error_details_pb2.RetryInfo
    )
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (0, 250_000_000)


def test_internal_hides_the_message() -> None:
    assert to_grpc_status(errors.ServiceError("password=hunter2")).details == "internal error"
    status = internal_status("rid-1")
    assert status.code == grpc.StatusCode.INTERNAL
    assert "rid-1" in status.details


def test_a_lost_database_connection_is_retryable_but_other_database_errors_are_not() -> None:
    lost = sa_exc.OperationalError("SELECT 1", {}, ConnectionResetError("gone"), connection_invalidated=True)
    broken = sa_exc.OperationalError("SELECT 1", {}, ValueError("syntax"), connection_invalidated=False)
    assert is_lost_database_connection(lost)
    assert not is_lost_database_connection(broken)
    assert not is_lost_database_connection(ConnectionResetError("not from the database layer"))


def test_an_invalid_transition_carries_its_typed_detail() -> None:
    refused = errors.InvalidTransition(
        "run organizations/acme/runs/r1 is paused (checkpoint); cannot resume it",
        resource="organizations/acme/runs/r1",
        current_status="paused",
        action="resume",
        status_reason="checkpoint",
    )
    status = to_grpc_status(refused)
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, dict(info.metadata)) == (
        "FAILED_PRECONDITION",
        {"resource": "organizations/acme/runs/r1", "status": "paused"},
    )
    detail = unpack(status, errors_pb2.InvalidTransition)
    assert detail == errors_pb2.InvalidTransition(
        resource="organizations/acme/runs/r1", current_status="paused", status_reason="checkpoint", action="resume"
    )
