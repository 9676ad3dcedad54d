"""Protobuf ⇄ domain conversion for the registry API."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2

from agentorch.registry.v1 import agent_pb2
from services.common.structs import struct_from_dict as struct_from_dict
from services.common.structs import struct_to_dict as struct_to_dict
from services.registry.domain.agent import Agent, AgentSpec


def agent_spec(message: agent_pb2.Agent) -> AgentSpec:
    return AgentSpec(
        organization_slug=message.organization_slug,
        slug=message.slug,
        display_name=message.display_name,
        description=message.description,
        agent_yaml=message.agent_yaml,
        agent_card=struct_to_dict(message.agent_card),
        context=struct_to_dict(message.context),
        config=struct_to_dict(message.config),
    )


def agent_message(agent: Agent) -> agent_pb2.Agent:
    spec = agent.spec
    return agent_pb2.Agent(
        name=str(agent.name),
        organization_slug=spec.organization_slug,
        slug=spec.slug,
        display_name=spec.display_name,
        description=spec.description,
        agent_yaml=spec.agent_yaml,
        agent_card=struct_from_dict(spec.agent_card),
        context=struct_from_dict(spec.context),
        config=struct_from_dict(spec.config),
        version=agent.version,
        create_time=timestamp(agent.created_at),
        update_time=timestamp(agent.updated_at),
        created_by=agent.created_by,
        updated_by=agent.updated_by,
        etag=agent.etag,
    )


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message
