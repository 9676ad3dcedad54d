"""The approvals inbox's request filters (ListCheckpoints fields 8-12, issue 14, i14-routing), checked and turned
into CheckpointQuery fields."""

from __future__ import annotations

from typing import Any

from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.errors import FieldViolation, ValidationFailed
from services.common.names import SLUG_RE, SLUG_RULE
from services.common.timestamps import to_datetime
from services.runs.domain import routing

ORDER_BY = {"": False, "due_time": True, "due_time asc": True}


def inbox_filters(request: pb.ListCheckpointsRequest) -> dict[str, Any]:
    violations: list[FieldViolation] = []
    group = request.group.strip().lower().removeprefix(routing.GROUP_PREFIX)
    if request.group and not SLUG_RE.match(group):
        violations.append(FieldViolation("group", f"must be a group slug (or group:<slug>): {SLUG_RULE}"))
    order = " ".join(request.order_by.split()).lower()
    if order not in ORDER_BY:
        violations.append(FieldViolation("order_by", 'must be "due_time" (soonest first) or empty (oldest first)'))
    if len(request.orchestration) > 300:
        violations.append(FieldViolation("orchestration", "must be at most 300 characters"))
    if violations:
        raise ValidationFailed(violations)
    return {
        "assigned_to_me": request.assigned_to_me,
        "group": f"{routing.GROUP_PREFIX}{group}" if request.group else "",
        "due_before": to_datetime(request, "due_before"),
        "orchestration": request.orchestration,
        "order_by_due": ORDER_BY[order],
    }
