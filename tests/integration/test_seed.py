"""The demo `agentorch up` seeds, against real services: its API key is bound to the writer agent, and a key left
unbound by an older data dir is bound on the next start (a binding someone set is kept)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from google.protobuf import field_mask_pb2

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as cred
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cred_grpc
from cli.seed import DEMO_CREDENTIAL_ALIAS, DEMO_WRITER_NAME, DemoAgents, seed_demo
from services.common.settings import DatabaseSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from tests.support.egress import LOOPBACK
from tests.support.principals import AUTH, KEY_RING, as_platform
from tests.support.rpc import channel_as
from tests.support.runs import sibling
from tests.support.servers import running
from tests.support.vault import VAULT

AGENTS = DemoAgents(a2a_url="http://127.0.0.1:9100", openai_url="http://127.0.0.1:9200/v1", api_key="sk-demo")
NAME = f"organizations/demo/credentials/{DEMO_CREDENTIAL_ALIAS}"


@pytest.fixture
async def targets(database: DatabaseSettings) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        registry_settings = RegistrySettings(database=sibling(database, "registry"), auth=AUTH, agents=LOOPBACK)
        registry = await stack.enter_async_context(running(registry_spec(registry_settings)))
        vault = await stack.enter_async_context(
            running(credentials_spec(CredentialsSettings(database=database, auth=AUTH, vault=VAULT)))
        )
        yield {"registry": registry.target, "credentials": vault.target}


async def demo_key(target: str) -> cpb.Credential:
    async with channel_as(target, as_platform()) as channel:
        reply = await cred_grpc.CredentialsServiceStub(channel).GetCredential(cred.GetCredentialRequest(name=NAME))
    return reply.credential


async def test_the_demo_key_is_bound_to_the_writer(targets: dict[str, str]) -> None:
    await seed_demo(targets, KEY_RING, AGENTS)
    key = await demo_key(targets["credentials"])
    assert (list(key.allowed_agents), list(key.allowed_hosts)) == ([DEMO_WRITER_NAME], [])


async def test_an_unbound_key_of_an_older_data_dir_is_bound_and_a_chosen_binding_is_kept(
    targets: dict[str, str],
) -> None:
    async with channel_as(targets["credentials"], as_platform()) as channel:
        vault = cred_grpc.CredentialsServiceStub(channel)
        await vault.CreateCredential(
            cred.CreateCredentialRequest(
                parent="organizations/demo", alias=DEMO_CREDENTIAL_ALIAS, credential=cpb.Credential(), value="old"
            )
        )
        seeded = await seed_demo(targets, KEY_RING, AGENTS)
        assert [s.created for s in seeded if s.resource == NAME] == [False]
        assert list((await demo_key(targets["credentials"])).allowed_agents) == [DEMO_WRITER_NAME]
        await vault.UpdateCredential(
            cred.UpdateCredentialRequest(
                credential=cpb.Credential(name=NAME, allowed_hosts=["127.0.0.1:9200"]),
                update_mask=field_mask_pb2.FieldMask(paths=["allowed_hosts"]),
            )
        )
        await seed_demo(targets, KEY_RING, AGENTS)
    key = await demo_key(targets["credentials"])
    assert (list(key.allowed_agents), list(key.allowed_hosts)) == ([DEMO_WRITER_NAME], ["127.0.0.1:9200"])
