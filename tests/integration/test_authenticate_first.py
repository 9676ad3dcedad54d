"""Authenticate first, always: every method of every service, called without a principal (and with a forged one),
is UNAUTHENTICATED whatever the request holds — bytes that do not parse, or every field wrong (oversize strings,
unknown enum values, out-of-range Timestamps, JSON nested too deep). Same at the gateway without (valid)
`authorization`, except GetPlatformStatus, which needs none.

The methods come from the service descriptors, so a method added to a contract is covered without a line here
(health and reflection take no principal; the internal ResolveCredential is covered like any other).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf.descriptor import MethodDescriptor

from gateway.bootstrap import DESCRIPTOR as GATEWAY
from gateway.bootstrap import REEXPOSED
from gateway.edge.authz_matrix import BLOCKED, MATRIX
from services.common.principals import METADATA_KEY
from tests.support.badinput import CORRUPT, call_raw, described, everything_bad, methods, new_message, path_of
from tests.support.gateway import Platform, bearer, mint, module_platform, new_org, organization_contents
from tests.support.rpc import error_reason

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def plat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    async with module_platform(request.param, tmp_path_factory, lambda: request.getfixturevalue("postgres_url")) as p:
        yield p


def garbage(method: MethodDescriptor, org: str) -> list[tuple[str, bytes]]:
    """Requests no method may look at before it knows who calls: bytes that do not parse, every field wrong, the
    empty request, and one aimed at `org` (whose contents must not change)."""
    aimed = new_message(method.input_type)
    if "parent" in method.input_type.fields_by_name:
        aimed.parent = f"organizations/{org}"  # type: ignore[attr-defined]
    return [
        ("unparsable", CORRUPT),
        ("every field bad", everything_bad(method.input_type)),
        ("empty", b""),
        ("in an organization", aimed.SerializeToString()),
    ]


async def test_every_service_method_authenticates_before_reading_the_request(plat: Platform) -> None:
    servers = {"registry": plat.registry, "runs": plat.runs, "credentials": plat.credentials}
    org = new_org()
    before = await organization_contents(plat, org)
    problems: list[str] = []
    checked = 0
    for name, descriptor in REEXPOSED.items():
        channel = servers[name].channel
        for method in methods(descriptor):
            for label, data in garbage(method, org):
                for who, metadata in (("no principal", ()), ("forged principal", ((METADATA_KEY, b"\x0a\x03abc"),))):
                    error = await call_raw(channel, method, data, metadata)
                    checked += 1
                    if error is None or error.code() != grpc.StatusCode.UNAUTHENTICATED:
                        problems.append(f"{path_of(method)} ({label}, {who}): {described(error)}")
                    elif error_reason(error) != "UNAUTHENTICATED":
                        problems.append(f"{path_of(method)} ({label}, {who}): reason {error_reason(error)}")
    assert not problems, "\n".join(problems)
    assert checked == 8 * sum(len(d.methods) for d in REEXPOSED.values())
    assert await organization_contents(plat, org) == before


async def test_every_gateway_method_authenticates_before_reading_the_request(plat: Platform) -> None:
    org = new_org()
    before = await organization_contents(plat, org)
    problems: list[str] = []
    forged = mint(new_org(), "admin", secret="not-the-identity-providers-secret-" + "x" * 16)
    for method in methods(*REEXPOSED.values(), GATEWAY):
        path = path_of(method)
        if path in BLOCKED:
            continue
        public = MATRIX[path].public
        for label, data in garbage(method, org):
            for who, metadata in (("no authorization", ()), ("forged token", bearer(forged))):
                error = await call_raw(plat.gateway.channel, method, data, metadata)
                if public:  # GetPlatformStatus: no credentials needed; its request is still checked
                    expected = grpc.StatusCode.INVALID_ARGUMENT if data == CORRUPT else None
                    if (error.code() if error else None) != expected:
                        problems.append(f"{path} ({label}, {who}): {described(error)}")
                elif error is None or error.code() != grpc.StatusCode.UNAUTHENTICATED:
                    problems.append(f"{path} ({label}, {who}): {described(error)}")
                elif error_reason(error) != "UNAUTHENTICATED":
                    problems.append(f"{path} ({label}, {who}): reason {error_reason(error)}")
    assert not problems, "\n".join(problems)
    assert await organization_contents(plat, org) == before
