"""The one place where exceptions become gRPC statuses (google.rpc.Status with ErrorInfo, BadRequest, RetryInfo,
InvalidTransition)."""

from __future__ import annotations

import math

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from agentorch.common.v1 import errors_pb2
from services.common import db, errors

ERROR_DOMAIN = "agentorch.dev"

_CODES: tuple[tuple[type[errors.ServiceError], grpc.StatusCode], ...] = (
    (errors.ValidationFailed, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.MalformedRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.EtagMismatch, grpc.StatusCode.ABORTED),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)


def status_code_for(exc: errors.ServiceError) -> grpc.StatusCode:
    for category, code in _CODES:
        if isinstance(exc, category):
            return code
    return grpc.StatusCode.INTERNAL


def to_grpc_status(exc: errors.ServiceError) -> grpc.Status:
    """Build the status for a domain error, with details a client can branch on."""
    code = status_code_for(exc)
    message = exc.message if code is not grpc.StatusCode.INTERNAL else "internal error"
    return _status(code, message, exc.reason, exc.metadata, _extra_details(exc))


def is_lost_database_connection(exc: BaseException) -> bool:
    """The database could not be reached, or the connection died under the call (restart, failover, idle cut,
    a locked SQLite file): safe for the client to retry, so UNAVAILABLE rather than INTERNAL.

    Pools do not ping before each checkout (that would cost three round trips per transaction); SQLAlchemy
    invalidates the pool on the first such error, so only calls already holding a dead connection fail.
    """
    return db.is_connection_failure(exc)


def internal_status(request_id: str) -> grpc.Status:
    """Status for an unexpected exception: sanitized message, request id to find the logged traceback."""
    return _status(
        grpc.StatusCode.INTERNAL,
        f"internal error; quote request id {request_id} when reporting it",
        "INTERNAL",
        {"request_id": request_id},
        [],
    )


def _extra_details(exc: errors.ServiceError) -> list[object]:
    if isinstance(exc, errors.ValidationFailed):
        return [
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in exc.violations
                ]
            )
        ]
    if isinstance(exc, errors.InvalidTransition):
        return [
            errors_pb2.InvalidTransition(
                resource=exc.resource,
                current_status=exc.current_status,
                status_reason=exc.status_reason,
                action=exc.action,
            )
        ]
    if isinstance(exc, errors.ResourceExhausted | errors.Unavailable) and exc.retry_after_seconds is not None:
        seconds = max(exc.retry_after_seconds, 0.0)
        whole = math.floor(seconds)
        delay = duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
        return [error_details_pb2.RetryInfo(retry_delay=delay)]
    return []


def _status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str], extra: list[object]
) -> grpc.Status:
    status = status_pb2.Status(code=_rpc_code(code), message=message)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    status.details.add().Pack(info)
    for detail in extra:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


def _rpc_code(code: grpc.StatusCode) -> int:
    value: int = code.value[0]
    assert code_pb2.Code.Name(value) == code.name
    return value
