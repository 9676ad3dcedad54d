"""Requests that need more than their method's role, recognised from the request alone (gateway side).

The matrix gives each method a minimum role; a few requests of a method reach further and need admin:

- `RunsService/CreateRun` with an ad hoc definition whose steps name credentials (which credentials a run sends,
  outside a reviewed, versioned orchestration), and Invoke plan/build with `credentials` or orchestrate_execute
  with such a definition (gateway.app.invoke_service);
- `RegistryService/CreateAgent` of an agent that has a destination (an agent card, or config beyond the tuning
  keys): where its calls, and the credentials bound to it, go.

The services enforce the same rules on their own (defense in depth); the gateway refuses earlier, with
`enforced_by: gateway`. What the gateway cannot see without the stored resource (UpdateAgent moving a destination)
is left to the registry. A request that does not parse is treated as needing the higher role (fail closed): the
backend would refuse it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from agentorch.registry.v1 import registry_service_pb2
from agentorch.runs.v1 import runs_service_pb2
from services.common.agent_config import CONFIG_KEYS, TUNING_CONFIG_KEYS


def definition_credentials(document: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The credential aliases the steps of a definition name (any shape the registry would refuse counts as none:
    the registry reports it)."""
    aliases: list[str] = []
    phases = document.get("phases") if isinstance(document, Mapping) else None
    for phase in phases if isinstance(phases, list) else ():
        steps = phase.get("steps") if isinstance(phase, Mapping) else None
        for step in steps if isinstance(steps, list) else ():
            named = step.get("credentials") if isinstance(step, Mapping) else None
            aliases += [str(a) for a in named] if isinstance(named, list) else []
    return tuple(dict.fromkeys(aliases))


def create_run_names_credentials(request: bytes) -> bool:
    try:
        message = runs_service_pb2.CreateRunRequest.FromString(request)
    except DecodeError:
        return True
    if not message.HasField("ad_hoc"):
        return False
    return _struct_names_credentials(message.ad_hoc.definition)


def _struct_names_credentials(definition: struct_pb2.Struct) -> bool:
    """definition_credentials on the protobuf Struct itself: walks phases and steps without converting the whole
    document (prompts and templates can be large) to Python."""
    phases = definition.fields.get("phases")
    for phase in phases.list_value.values if phases is not None else ():
        steps = phase.struct_value.fields.get("steps")
        for step in steps.list_value.values if steps is not None else ():
            named = step.struct_value.fields.get("credentials")
            if named is not None and named.list_value.values:
                return True
    return False


def create_agent_sets_destination(request: bytes) -> bool:
    """An agent card, or a config key of the schema that is not a tuning key (the only config an author may set).

    A key the schema does not know is left to the registry, which refuses it (INVALID_ARGUMENT naming it) before it
    looks at the destination: an author's typo is a typo, not a request for admin."""
    try:
        agent = registry_service_pb2.CreateAgentRequest.FromString(request).agent
    except DecodeError:
        return True
    keys = set(agent.config.fields)
    return bool(agent.agent_card.fields) or bool((keys - TUNING_CONFIG_KEYS) & set(CONFIG_KEYS))
