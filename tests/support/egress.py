"""Agent egress settings for tests: the reference agents and test receivers listen on loopback, which the
platform refuses by default (services.common.netpolicy); tests that call them allow loopback, as `agentorch up`
does."""

from __future__ import annotations

from services.common.netpolicy import EgressPolicy
from services.common.settings import AgentNetworkSettings

LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]
LOOPBACK = AgentNetworkSettings(allowed_networks=LOOPBACK_NETWORKS)
LOOPBACK_POLICY = EgressPolicy.from_entries(LOOPBACK_NETWORKS)
