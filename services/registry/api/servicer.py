"""RegistryService servicer: proto → use case → proto. No business logic; errors map in the interceptor."""

from __future__ import annotations

from grpc.aio import ServicerContext

from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.registry.api.convert import agent_message, agent_spec
from services.registry.app.agents import AgentService


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, agents: AgentService) -> None:
        self._agents = agents

    async def CreateAgent(self, request: pb.CreateAgentRequest, context: ServicerContext) -> pb.CreateAgentResponse:
        agent = await self._agents.create(agent_spec(request.agent))
        return pb.CreateAgentResponse(agent=agent_message(agent))

    async def GetAgent(self, request: pb.GetAgentRequest, context: ServicerContext) -> pb.GetAgentResponse:
        agent = await self._agents.get(request.name)
        return pb.GetAgentResponse(agent=agent_message(agent))

    async def ListAgents(self, request: pb.ListAgentsRequest, context: ServicerContext) -> pb.ListAgentsResponse:
        page = await self._agents.list(request.parent, request.page_size, request.page_token)
        return pb.ListAgentsResponse(
            agents=[agent_message(a) for a in page.agents], next_page_token=page.next_page_token
        )
