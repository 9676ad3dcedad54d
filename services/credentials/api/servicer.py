"""CredentialsService servicer. Its RPCs arrive with the credentials implementation; health and reflection work now."""

from __future__ import annotations

from agentorch.credentials.v1 import credentials_service_pb2_grpc as pb_grpc


class CredentialsServicer(pb_grpc.CredentialsServiceServicer):
    pass
