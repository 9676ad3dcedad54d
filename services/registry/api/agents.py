"""Agent RPCs of RegistryService."""

from __future__ import annotations

from grpc.aio import ServicerContext

from agentorch.registry.v1 import registry_service_pb2 as pb
from services.registry.api.convert import agent_message, agent_spec
from services.registry.app.agents import AgentService


class AgentsApi:
    _agents: AgentService

    async def CreateAgent(self, request: pb.CreateAgentRequest, context: ServicerContext) -> pb.CreateAgentResponse:
        agent = await self._agents.create(agent_spec(request.agent))
        return pb.CreateAgentResponse(agent=agent_message(agent))

    async def GetAgent(self, request: pb.GetAgentRequest, context: ServicerContext) -> pb.GetAgentResponse:
        agent = await self._agents.get(request.name)
        return pb.GetAgentResponse(agent=agent_message(agent))

    async def ListAgents(self, request: pb.ListAgentsRequest, context: ServicerContext) -> pb.ListAgentsResponse:
        page = await self._agents.list_page(request.parent, request.page_size, request.page_token)
        return pb.ListAgentsResponse(
            agents=[agent_message(a) for a in page.agents], next_page_token=page.next_page_token
        )

    async def UpdateAgent(self, request: pb.UpdateAgentRequest, context: ServicerContext) -> pb.UpdateAgentResponse:
        agent = await self._agents.update(
            request.agent.name, agent_spec(request.agent), list(request.update_mask.paths), request.etag
        )
        return pb.UpdateAgentResponse(agent=agent_message(agent))

    async def DeleteAgent(self, request: pb.DeleteAgentRequest, context: ServicerContext) -> pb.DeleteAgentResponse:
        await self._agents.delete(request.name, request.etag)
        return pb.DeleteAgentResponse()
