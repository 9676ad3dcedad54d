"""What principal resolution (issue 14: organizations, members, groups) costs the gateway's hot path.

    .venv/bin/python -m bench.identity [--calls 3000] [--concurrency 16]

One in-process gateway (SQLite database in a temporary directory, no backend needed) answers WhoAmI, the cheapest
authenticated call, with a JWT, sequentially and with `--concurrency` calls in flight. Scenarios:
- `no record`: an organization without a record (as every organization before issue 14): one cached lookup;
- `members, cache`: an organization with 50 members in 5 groups, the default membership cache (5 s);
- `members, no cache`: the same with `IDENTITY__CACHE_SECONDS=0`: a database read on every call.
Run from a checkout without the identity RPCs (main before issue 14), only `no record` runs: the "before" figure.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings
from services.common.settings import DatabaseSettings
from tests.support.gateway import JWT, bearer, gateway_settings, mint
from tests.support.servers import running

PLATFORM_ORG = "platform-ops"
HAS_IDENTITY = "CreateOrganization" in gw.DESCRIPTOR.services_by_name["GatewayService"].methods_by_name


async def measure(stub: gw_grpc.GatewayServiceStub, metadata: Any, calls: int, concurrency: int) -> dict[str, float]:
    for _ in range(50):  # warm-up (connection, caches)
        await stub.WhoAmI(gw.WhoAmIRequest(), metadata=metadata)
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(calls):
        began = time.perf_counter()
        await stub.WhoAmI(gw.WhoAmIRequest(), metadata=metadata)
        latencies.append(time.perf_counter() - began)
    sequential = calls / (time.perf_counter() - start)

    async def worker(count: int) -> None:
        for _ in range(count):
            await stub.WhoAmI(gw.WhoAmIRequest(), metadata=metadata)

    start = time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    parallel = (calls // concurrency * concurrency) / (time.perf_counter() - start)
    latencies.sort()
    return {
        "sequential_calls_per_s": sequential,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "parallel_calls_per_s": parallel,
    }


async def populate(stub: gw_grpc.GatewayServiceStub, org: str) -> None:
    from agentorch.common.v1 import principal_pb2 as ppb
    from agentorch.gateway.v1 import identity_pb2 as ipb

    ops = bearer(mint(PLATFORM_ORG, "admin", subject="ops@bench"))
    await stub.CreateOrganization(ipb.CreateOrganizationRequest(organization_id=org), metadata=ops)
    admin = bearer(mint(org, "admin", subject="user0@bench.test"))
    for i in range(50):
        member = ipb.Member(subject=f"user{i}@bench.test", roles=[ppb.ROLE_ADMIN if i == 0 else ppb.ROLE_APPROVER])
        await stub.CreateMember(ipb.CreateMemberRequest(parent=f"organizations/{org}", member=member), metadata=admin)
    for g in range(5):
        await stub.CreateGroup(ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id=f"g{g}"), metadata=admin)
        for i in range(g, 50, 5):
            await stub.AddGroupMember(
                ipb.AddGroupMemberRequest(group=f"organizations/{org}/groups/g{g}", subject=f"user{i}@bench.test"),
                metadata=admin,
            )


async def scenario(label: str, directory: Path, org: str, cache_seconds: float | None, args: Any) -> dict[str, Any]:
    database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{directory / (label.replace(' ', '-') + '.db')}"))
    backends = BackendSettings(registry="127.0.0.1:1", runs="127.0.0.1:1", credentials="127.0.0.1:1")
    changes: dict[str, Any] = {"jwt": JWT.model_copy(update={"platform_organization": PLATFORM_ORG})}
    if cache_seconds is not None:
        from gateway.config import IdentitySettings

        changes["identity"] = IdentitySettings(cache_seconds=cache_seconds)
    settings = gateway_settings(database, backends, **changes)
    async with running(gateway_spec(settings)) as gateway:
        stub = gw_grpc.GatewayServiceStub(gateway.channel)
        if cache_seconds is not None:
            await populate(stub, org)
        metadata = bearer(mint(org, "viewer", subject="user7@bench.test", lifetime=3600))
        figures = await measure(stub, metadata, args.calls, args.concurrency)
    return {"scenario": label, **figures}


async def run(args: Any) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        results.append(await scenario("no record", directory, "bench-plain", None, args))
        if HAS_IDENTITY:
            results.append(await scenario("members, cache", directory, "bench-members", 5.0, args))
            results.append(await scenario("members, no cache", directory, "bench-nocache", 0.0, args))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    parallel = f"x{args.concurrency} calls/s"
    print(f"{'scenario':<20} {'seq calls/s':>12} {'p50 ms':>8} {'p99 ms':>8} {parallel:>14}")
    for row in asyncio.run(run(args)):
        print(
            f"{row['scenario']:<20} {row['sequential_calls_per_s']:>12.0f} {row['p50_ms']:>8.3f} "
            f"{row['p99_ms']:>8.3f} {row['parallel_calls_per_s']:>14.0f}"
        )


if __name__ == "__main__":
    main()
