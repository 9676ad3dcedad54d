"""The one place where gRPC statuses (and the HTTP front's own refusals) become HTTP error responses.

Status codes follow the standard mapping (google.rpc.Code ↔ HTTP, as Google APIs and grpc-gateway use it). The
body is `{"error": {"code": <http>, "status": "NOT_FOUND", "message": ..., "details": [...]}}`, where `details` are
the google.rpc.Status details from `grpc-status-details-bin` in the protobuf JSON mapping, each with its `@type`
(ErrorInfo with the reason clients branch on, BadRequest with the field violations, RetryInfo). A
RESOURCE_EXHAUSTED or UNAVAILABLE answer carries `Retry-After` (whole seconds, from RetryInfo); an UNAUTHENTICATED
one `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2

from services.common.errors import FieldViolation
from services.common.grpc_errors import ERROR_DOMAIN
from services.common.remote_errors import RemoteError

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


@dataclass
class HttpError(Exception):
    """An error response: HTTP status, JSON body, extra headers; `code` is the gRPC status name (for the log)."""

    status: int
    body: dict[str, Any]
    code: str
    headers: dict[str, str] = field(default_factory=dict)


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def from_rpc_error(error: grpc.aio.AioRpcError) -> HttpError:
    """The HTTP answer for a failed gRPC call: its code, message and google.rpc.Status details (a malformed
    trailer: code and message only)."""
    return from_remote(RemoteError.from_call(error))


def from_status(
    code: grpc.StatusCode, message: str, details: Sequence[any_pb2.Any], *, http: int | None = None
) -> HttpError:
    return from_remote(RemoteError(code, message, details), http=http)


def from_remote(error: RemoteError, *, http: int | None = None) -> HttpError:
    code = error.code
    status = http or http_status(code)
    rendered = [_detail(d) for d in error.details]
    headers: dict[str, str] = {}
    if code in _RETRYABLE and (delay := error.retry_delay) is not None:
        headers["retry-after"] = str(max(1, math.ceil(delay)))
    if code is grpc.StatusCode.UNAUTHENTICATED:
        headers["www-authenticate"] = "Bearer"
    body = {"error": {"code": status, "status": code.name, "message": error.message, "details": rendered}}
    return HttpError(status, body, code.name, headers)


def refusal(
    http: int,
    code: grpc.StatusCode,
    message: str,
    reason: str,
    *,
    metadata: Mapping[str, str] | None = None,
    violations: Sequence[FieldViolation] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpError:
    """An error the HTTP front answers itself (the request never became a gRPC call), in the same shape."""
    details = [_pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=dict(metadata or {})))]
    if violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in violations
            ]
        )
        details.append(_pack(bad))
    error = from_status(code, message, details, http=http)
    return HttpError(error.status, error.body, error.code, {**error.headers, **(headers or {})})


def invalid(violations: Sequence[FieldViolation], message: str) -> HttpError:
    return refusal(400, grpc.StatusCode.INVALID_ARGUMENT, message, "VALIDATION_FAILED", violations=violations)


def malformed(message: str, *, http: int = 400) -> HttpError:
    return refusal(http, grpc.StatusCode.INVALID_ARGUMENT, message, "MALFORMED_REQUEST")


def no_route(method: str, path: str) -> HttpError:
    return refusal(404, grpc.StatusCode.NOT_FOUND, f"no route for {method} {path}", "ROUTE_NOT_FOUND")


def method_not_allowed(method: str, allowed: Sequence[str]) -> HttpError:
    return refusal(
        405,
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not allowed here; use {', '.join(allowed)}",
        "METHOD_NOT_ALLOWED",
        headers={"allow": ", ".join(allowed)},
    )


def internal(request_id: str) -> HttpError:
    return refusal(
        500,
        grpc.StatusCode.INTERNAL,
        f"internal error; quote request id {request_id} when reporting it",
        "INTERNAL",
        metadata={"request_id": request_id},
    )


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _detail(detail: any_pb2.Any) -> dict[str, Any]:
    try:
        rendered: dict[str, Any] = json_format.MessageToDict(detail)
    except (json_format.Error, TypeError, KeyError):  # a detail type this process does not know
        return {"@type": detail.type_url}
    return rendered


_RETRYABLE = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
