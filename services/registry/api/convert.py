"""Protobuf ⇄ domain conversion for the registry API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from agentorch.registry.v1 import agent_pb2
from services.registry.domain.agent import Agent, AgentSpec


def agent_spec(message: agent_pb2.Agent) -> AgentSpec:
    return AgentSpec(
        organization_slug=message.organization_slug,
        slug=message.slug,
        display_name=message.display_name,
        description=message.description,
        agent_yaml=message.agent_yaml,
        agent_card=_dict(message.agent_card),
        context=_dict(message.context),
        config=_dict(message.config),
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
        agent_card=_struct(spec.agent_card),
        context=_struct(spec.context),
        config=_struct(spec.config),
        version=agent.version,
        create_time=_timestamp(agent.created_at),
        update_time=_timestamp(agent.updated_at),
        created_by=agent.created_by,
        updated_by=agent.updated_by,
        etag=agent.etag,
    )


def _dict(value: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(value)
    return result


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message
