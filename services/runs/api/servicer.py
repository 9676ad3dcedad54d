"""RunsService servicer: proto → use case → proto. No business logic; errors map in the shared interceptor."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TypeVar

from google.protobuf.descriptor import EnumDescriptor
from grpc.aio import ServicerContext

from agentorch.runs.v1 import run_pb2 as rpb
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.db import utcnow
from services.common.enums import check_enum
from services.common.errors import ValidationFailed
from services.common.timestamps import to_datetime
from services.runs.api.convert import (
    CHECKPOINT_STATUS_FROM,
    DECISION_FROM,
    ORIGIN_FROM,
    RUN_STATUS_FROM,
    checkpoint_message,
    event_message,
    run_message,
    struct_to_dict,
    timestamp,
    vote_message,
)
from services.runs.api.inbox import inbox_filters
from services.runs.app.checkpoint_routing import CheckpointRouting
from services.runs.app.checkpoints import CheckpointService
from services.runs.app.launch import Launcher, LaunchRequest
from services.runs.app.runs import RunControls, RunFilter, RunQueries
from services.runs.app.watch import Heartbeat, Watcher
from services.runs.domain.model import OriginType, RunStatus
from services.runs.domain.names import RunName
from services.runs.domain.records import CheckpointQuery, StoredEvent

T = TypeVar("T")
EVENT_RESPONSE_CACHE = 4096  # converted events kept for the other watchers of their run

_SOURCE_TO_ORIGIN = {
    "orchestration": OriginType.SAVED_ORCHESTRATION,
    "plan": OriginType.PLAN,
    "ad_hoc": OriginType.AD_HOC,
}


class RunsServicer(pb_grpc.RunsServiceServicer):
    def __init__(
        self,
        launcher: Launcher,
        queries: RunQueries,
        controls: RunControls,
        checkpoints: CheckpointService,
        watcher: Watcher,
        routing: CheckpointRouting | None = None,
    ) -> None:
        self._launcher = launcher
        self._queries = queries
        self._controls = controls
        self._checkpoints = checkpoints
        self._watcher = watcher
        self._routing = routing
        self._event_responses: OrderedDict[tuple[str, int], pb.WatchRunResponse] = OrderedDict()

    async def CreateRun(self, request: pb.CreateRunRequest, context: ServicerContext) -> pb.CreateRunResponse:
        source = request.WhichOneof("source")
        launched = await self._launcher.launch(
            LaunchRequest(
                parent=request.parent,
                origin_type=_SOURCE_TO_ORIGIN.get(source or ""),
                orchestration=request.orchestration,
                orchestration_version=request.orchestration_version,
                plan=request.plan,
                ad_hoc_definition=request.ad_hoc.definition,
                ad_hoc_templates=[{"name": t.name, "template": t.template} for t in request.ad_hoc.prompt_templates],
                prompt_inputs=struct_to_dict(request.prompt_inputs),
                metadata=struct_to_dict(request.metadata),
                request_id=request.request_id,
            )
        )
        if isinstance(launched, str):  # a repeated request_id: the run as it is now
            launched = await self._queries.get(str(RunName(request.parent.split("/")[-1], launched)))
        return pb.CreateRunResponse(run=run_message(launched))

    async def GetRun(self, request: pb.GetRunRequest, context: ServicerContext) -> pb.GetRunResponse:
        return pb.GetRunResponse(run=run_message(await self._queries.get(request.name)))

    async def ListRuns(self, request: pb.ListRunsRequest, context: ServicerContext) -> pb.ListRunsResponse:
        criteria = RunFilter(
            status=_known(RUN_STATUS_FROM, request.status, rpb.RunStatus.DESCRIPTOR, "status"),
            orchestration=request.orchestration,
            origin_type=_known(ORIGIN_FROM, request.origin_type, rpb.OriginType.DESCRIPTOR, "origin_type"),
            start=to_datetime(request, "start_time"),
            end=to_datetime(request, "end_time"),
        )
        views, token = await self._queries.list_page(request.parent, criteria, request.page_size, request.page_token)
        return pb.ListRunsResponse(runs=[run_message(v, with_definition=False) for v in views], next_page_token=token)

    async def ListRunEvents(
        self, request: pb.ListRunEventsRequest, context: ServicerContext
    ) -> pb.ListRunEventsResponse:
        events, more = await self._queries.events(request.name, request.after_sequence, request.page_size)
        return pb.ListRunEventsResponse(events=[event_message(e) for e in events], has_more=more)

    async def WatchRun(
        self, request: pb.WatchRunRequest, context: ServicerContext
    ) -> AsyncIterator[pb.WatchRunResponse]:
        async for item in self._watcher.watch_run(request.name, request.after_sequence):
            if isinstance(item, Heartbeat):
                yield pb.WatchRunResponse(
                    heartbeat=pb.Heartbeat(last_sequence=item.last_sequence, time=timestamp(item.time))
                )
            else:
                yield self._event_response(item)

    def _event_response(self, event: StoredEvent) -> pb.WatchRunResponse:
        """Every watcher of a run receives the same events: convert each once (events never change)."""
        key = (event.run_id, event.sequence)
        response = self._event_responses.get(key)
        if response is None:
            response = pb.WatchRunResponse(event=event_message(event))
            self._event_responses[key] = response
            if len(self._event_responses) > EVENT_RESPONSE_CACHE:
                self._event_responses.popitem(last=False)
        return response

    async def WatchRuns(
        self, request: pb.WatchRunsRequest, context: ServicerContext
    ) -> AsyncIterator[pb.WatchRunsResponse]:
        statuses: set[RunStatus] = set()
        for index, status in enumerate(request.statuses):
            known = _known(RUN_STATUS_FROM, status, rpb.RunStatus.DESCRIPTOR, f"statuses[{index}]")
            if known is not None:
                statuses.add(known)
        async for item in self._watcher.watch_runs(request.parent, statuses):
            if isinstance(item, Heartbeat):
                yield pb.WatchRunsResponse(heartbeat=pb.Heartbeat(time=timestamp(item.time)))
            else:
                yield pb.WatchRunsResponse(run=run_message(item, with_definition=False))

    async def CancelRun(self, request: pb.CancelRunRequest, context: ServicerContext) -> pb.CancelRunResponse:
        return pb.CancelRunResponse(run=run_message(await self._controls.cancel(request.name, request.reason)))

    async def PauseRun(self, request: pb.PauseRunRequest, context: ServicerContext) -> pb.PauseRunResponse:
        return pb.PauseRunResponse(run=run_message(await self._controls.pause(request.name)))

    async def ResumeRun(self, request: pb.ResumeRunRequest, context: ServicerContext) -> pb.ResumeRunResponse:
        return pb.ResumeRunResponse(run=run_message(await self._controls.resume(request.name)))

    async def RetryRun(self, request: pb.RetryRunRequest, context: ServicerContext) -> pb.RetryRunResponse:
        return pb.RetryRunResponse(run=run_message(await self._controls.retry(request.name, request.from_step)))

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: ServicerContext
    ) -> pb.GetCheckpointResponse:
        return pb.GetCheckpointResponse(checkpoint=checkpoint_message(await self._checkpoints.get(request.name)))

    async def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: ServicerContext
    ) -> pb.ListCheckpointsResponse:
        query = CheckpointQuery(
            organization_slug="",
            status=_known(CHECKPOINT_STATUS_FROM, request.status, rpb.CheckpointStatus.DESCRIPTOR, "status"),
            assignee=request.assignee,
            role=request.role,
            overdue_at=utcnow() if request.overdue else None,
            **inbox_filters(request),
        )
        rows, token = await self._checkpoints.list_page(request.parent, query, request.page_size, request.page_token)
        return pb.ListCheckpointsResponse(checkpoints=[checkpoint_message(r) for r in rows], next_page_token=token)

    async def DecideCheckpoint(
        self, request: pb.DecideCheckpointRequest, context: ServicerContext
    ) -> pb.DecideCheckpointResponse:
        decided = await self._checkpoints.decide(
            request.name,
            DECISION_FROM.get(request.decision),
            request.comment,
            struct_to_dict(request.payload),
            request.reason_code,
            override=request.override,
            justification=request.justification,
        )
        return pb.DecideCheckpointResponse(
            checkpoint=checkpoint_message(decided.checkpoint), run=run_message(decided.run)
        )

    async def ListCheckpointVotes(
        self, request: pb.ListCheckpointVotesRequest, context: ServicerContext
    ) -> pb.ListCheckpointVotesResponse:
        votes = await self._checkpoints.votes_of(request.parent)
        return pb.ListCheckpointVotesResponse(votes=[vote_message(v, with_evidence=True) for v in votes])

    # --- routing (issue 14, i14-routing) ---

    async def ReassignCheckpoint(
        self, request: pb.ReassignCheckpointRequest, context: ServicerContext
    ) -> pb.ReassignCheckpointResponse:
        assert self._routing is not None
        record = await self._routing.reassign(request.name, list(request.assignees), request.role, request.reason)
        return pb.ReassignCheckpointResponse(checkpoint=checkpoint_message(record))

    async def ExtendCheckpoint(
        self, request: pb.ExtendCheckpointRequest, context: ServicerContext
    ) -> pb.ExtendCheckpointResponse:
        assert self._routing is not None
        record = await self._routing.extend(request.name, to_datetime(request, "due_time"), request.reason)
        return pb.ExtendCheckpointResponse(checkpoint=checkpoint_message(record))


def _known(mapping: dict[int, T], value: int, enum: EnumDescriptor, field: str) -> T | None:
    """The domain value of an enum filter; None for UNSPECIFIED (any); INVALID_ARGUMENT for another number."""
    if check_enum(value, enum, field) == 0:
        return None
    if value not in mapping:
        raise ValidationFailed.single(field, "is not a value this service filters on")
    return mapping[value]
