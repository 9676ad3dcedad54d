"""A WatchRun client that resumes from its cursor when its stream is cut, as the CLI and SSE clients do."""

from __future__ import annotations

import grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from tests.support.runs import FINAL

RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})


class ResumingWatcher:
    """Follows one run to its end. `events` is everything received, in order; `cuts` the status of every stream
    that ended early (only UNAVAILABLE/ABORTED are resumed; anything else is raised)."""

    def __init__(self, stub: pb_grpc.RunsServiceStub, name: str) -> None:
        self._stub = stub
        self.name = name
        self.events: list[run_pb2.RunEvent] = []
        self.cuts: list[grpc.StatusCode] = []

    @property
    def cursor(self) -> int:
        return self.events[-1].sequence if self.events else 0

    async def follow(self, give_up_after: float = 60.0) -> None:
        def resumable(error: BaseException) -> bool:
            if isinstance(error, grpc.aio.AioRpcError) and error.code() in RESUMABLE:
                self.cuts.append(error.code())
                return True
            return False

        retrying = AsyncRetrying(
            retry=retry_if_exception(resumable),
            wait=wait_exponential_jitter(multiplier=0.05, jitter=0.05, max=1.0),
            stop=stop_after_delay(give_up_after),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._read_to_the_end()

    async def _read_to_the_end(self) -> None:
        """Read until the server ends the stream, which it does after the run's last event."""
        call = self._stub.WatchRun(pb.WatchRunRequest(name=self.name, after_sequence=self.cursor))
        async for item in call:
            if item.HasField("event"):
                self.events.append(item.event)
        if not self.events or self.events[-1].run_status not in FINAL:
            raise AssertionError(f"the watch of {self.name} ended before the run did")
