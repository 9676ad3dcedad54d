"""RunsService servicer. Its RPCs arrive with the runs implementation; health and reflection work now."""

from __future__ import annotations

from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc


class RunsServicer(pb_grpc.RunsServiceServicer):
    pass
