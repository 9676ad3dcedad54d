"""`agentorch up` end to end: four real processes on free ports, checked over gRPC, stopped by signals."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from agentorch.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentorch.registry.v1 import registry_service_pb2, registry_service_pb2_grpc
from cli.devkeys import key_ring
from services.common.context import Principal
from tests.e2e.support import REPO, Endpoint, Up, cli_runner, wait_all_gone

pytestmark = pytest.mark.timeout(180)

SERVICES = {
    "gateway": "agentorch.gateway.v1.GatewayService",
    "registry": "agentorch.registry.v1.RegistryService",
    "runs": "agentorch.runs.v1.RunsService",
    "credentials": "agentorch.credentials.v1.CredentialsService",
}
DEMO_AGENT = "organizations/demo/agents/demo-agent"


@pytest.fixture
def start_up() -> Iterator[Callable[..., Up]]:
    """Starts `agentorch up`; every supervisor and child started is SIGKILLed at teardown if still there."""
    started: list[Up] = []

    def start(data_dir: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()) -> Up:
        up = Up(data_dir, env, args)
        started.append(up)
        return up

    yield start
    for up in started:
        up.kill(up.pids_seen())


def test_up_serves_seeds_and_stops_cleanly_twice(start_up: Callable[..., Up], tmp_path: Path) -> None:
    for attempt in ("first start", "restart on the same data dir"):
        up = start_up(tmp_path)
        endpoints = up.wait_until_up()
        _check_platform(endpoints, tmp_path)
        _call_through_the_gateway(endpoints, up.lines)
        _cli_with_the_dev_token(endpoints, tmp_path)
        seeded = "created" if attempt == "first start" else "already exists"
        assert f"demo: {DEMO_AGENT} {seeded}" in up.lines, up.output
        assert f"demo: {DEMO_AGENT}/orchestrations/research-brief {seeded}" in up.lines, up.output
        assert f"demo: organizations/demo {seeded}" in up.lines, up.output  # the organization's record (issue 14)
        _run_demo(endpoints, tmp_path)

        assert up.stop(signal.SIGINT) == 0, f"{attempt}: unclean stop\n{up.output}"
        assert wait_all_gone([e.pid for e in endpoints.values()], 1.0) == [], f"{attempt}: children left running"
    assert {p.name for p in tmp_path.glob("*.db")} == {"registry.db", "runs.db", "credentials.db", "gateway.db"}
    assert (tmp_path / "api-key-peppers.json").stat().st_mode & 0o777 == 0o600  # the gateway's pepper, kept


def test_agents_import_goes_through_the_gateway_up_runs_whatever_its_ports(
    start_up: Callable[..., Up], tmp_path: Path
) -> None:
    """No --gateway, no --token: `up` on free ports (not the default layout) leaves its gateway's address and the
    dev token in the data dir, and the import is made through that gateway as the dev user, into its organization."""
    data_dir, agents = tmp_path / "data", tmp_path / "agents"
    agents.mkdir()
    (agents / "researcher.yaml").write_text("display_name: Researcher\ndescription: Finds sources.\n")
    (agents / "elsewhere.yaml").write_text("organization: acme\ndisplay_name: Not here\n")
    up = start_up(data_dir)
    endpoints = up.wait_until_up()
    assert (data_dir / "gateway-address").read_text().strip() == endpoints["gateway"].address
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTORCH_")}

    def agentorch(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cli.main", *args, "--data-dir", str(data_dir)]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)

    imported = agentorch("agents", "import", str(agents))
    assert imported.returncode == 1, imported  # one file refused
    assert imported.stdout.splitlines() == [
        "failed    elsewhere.yaml: names organization 'acme', but this import is into 'demo' (your organization, or "
        "--org): remove the key or import with --org",
        "created   researcher.yaml: organizations/demo/agents/researcher (version 1)",
        "1 created, 0 updated, 0 unchanged, 1 failed",
    ]
    agent = json.loads(agentorch("agents", "get", "researcher", "-o", "json").stdout)["agent"]
    assert (agent["createdBy"], agent["updatedBy"], agent["description"]) == (
        "dev@agentorch.local",
        "dev@agentorch.local",
        "Finds sources.",
    )
    assert "elsewhere" not in agentorch("agents", "list").stdout

    assert up.stop(signal.SIGINT) == 0, up.output
    assert not (data_dir / "gateway-address").exists()  # the address led nowhere any more


def test_children_die_with_a_killed_supervisor(start_up: Callable[..., Up], tmp_path: Path) -> None:
    up = start_up(tmp_path)
    pids = [e.pid for e in up.wait_until_up().values()]
    up.stop(signal.SIGKILL)
    assert wait_all_gone(pids, 20.0) == [], f"orphans after SIGKILL of the supervisor:\n{up.output}"


def test_sigterm_stops_cleanly(start_up: Callable[..., Up], tmp_path: Path) -> None:
    up = start_up(tmp_path)
    pids = [e.pid for e in up.wait_until_up().values()]
    assert up.stop(signal.SIGTERM) == 0, up.output
    assert wait_all_gone(pids, 1.0) == []


def test_a_crashed_service_is_restarted_and_the_platform_keeps_serving(
    start_up: Callable[..., Up], tmp_path: Path
) -> None:
    up = start_up(tmp_path)
    endpoints = up.wait_until_up()
    cli = _cli(endpoints, tmp_path)
    launched = json.loads(cli("runs", "launch", "demo-agent/research-brief", "--input", "topic=x", "-o", "json").stdout)
    for crashed in ("runs", "gateway"):
        before = up.endpoints_seen()[crashed]
        os.kill(before.pid, signal.SIGKILL)
        up.wait_for(lambda lines: up.endpoints_seen()[crashed].pid != before.pid)  # noqa: B023 (waited for here)
        after = up.endpoints_seen()[crashed]
        assert after.address == before.address, up.output  # same port: nobody needs to be told
        assert f"{crashed} exited unexpectedly (killed by SIGKILL); restarting in " in up.output
        assert up.process.poll() is None, up.output
    # The restarted runs service has the run (its state is in the database), reached through the restarted gateway.
    restarted = cli("runs", "get", launched["run"]["runId"], "-o", "json")
    assert json.loads(restarted.stdout)["run"]["name"] == launched["run"]["name"]
    http_rows = [line for line in up.lines if line.startswith("http ")]
    assert str(up.endpoints_seen()["gateway"].pid) in http_rows[-1], up.output  # its HTTP front: the new pid too

    assert up.stop(signal.SIGINT) == 0, up.output
    assert wait_all_gone(up.pids_seen(), 1.0) == []


def test_a_service_that_keeps_crashing_stops_the_platform(start_up: Callable[..., Up], tmp_path: Path) -> None:
    up = start_up(tmp_path, args=("--max-crashes", "2", "--crash-window", "600"))
    endpoints = up.wait_until_up()
    os.kill(endpoints["runs"].pid, signal.SIGKILL)
    up.wait_for(lambda lines: up.endpoints_seen()["runs"].pid != endpoints["runs"].pid)
    os.kill(up.endpoints_seen()["runs"].pid, signal.SIGKILL)
    assert up.process.wait(30) == 1, up.output
    message = "runs crashed 2 times within 600s (the last: killed by SIGKILL); stopping the platform."
    (stopped,) = [i for i, line in enumerate(up.lines) if message in line]
    tail = list(itertools.takewhile(lambda line: line.startswith("agentorch up:   "), up.lines[stopped + 1 :]))
    assert 1 <= len(tail) <= 10, up.output
    assert any('"service": "runs"' in line for line in tail), up.output  # what the service printed last
    assert wait_all_gone(up.pids_seen(), 1.0) == []


def test_a_child_failing_at_start_fails_up_and_stops_the_others(start_up: Callable[..., Up], tmp_path: Path) -> None:
    up = start_up(tmp_path, {"AGENTORCH_RUNS_LOGGING__LEVEL": "BOGUS"})  # the runs settings reject it
    assert up.wait_for_exit() == 1, up.output
    assert "runs exited before it was ready (exit code 1); last output: " in up.output
    assert "ValidationError" in up.output.split("last output: ", 1)[1].splitlines()[0]
    assert "agentorch is up" not in up.output


def _check_platform(endpoints: dict[str, Endpoint], data_dir: Path) -> None:
    assert set(endpoints) == {*SERVICES, "agents"}
    card = httpx.get(f"http://{endpoints['agents'].address}/.well-known/agent-card.json", timeout=5)
    assert card.status_code == 200
    for name, endpoint in endpoints.items():
        if name == "agents":  # the reference agents speak HTTP, not gRPC
            continue
        with grpc.insecure_channel(endpoint.address) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING, name
            assert SERVICES[name] in _reflected_services(channel), name

    with grpc.insecure_channel(endpoints["gateway"].address) as channel:
        gateway = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        status = gateway.GetPlatformStatus(gateway_service_pb2.GetPlatformStatusRequest(), timeout=10)
        assert status.all_serving, json_format.MessageToDict(status)
        assert {b.service for b in status.backends} == {"registry", "runs", "credentials"}

    with grpc.insecure_channel(endpoints["registry"].address) as channel:
        registry = registry_service_pb2_grpc.RegistryServiceStub(channel)
        viewer = Principal(subject="e2e", organization_slug="demo", roles=frozenset({"viewer"}))
        metadata = key_ring(data_dir).metadata(viewer, issuer="tests")
        request = registry_service_pb2.GetAgentRequest(name=DEMO_AGENT)
        agent = registry.GetAgent(request, metadata=metadata, timeout=10).agent
        assert (agent.organization_slug, agent.slug, agent.display_name) == ("demo", "demo-agent", "Demo agent")
        # created once; a restart only points it at this start's reference agents (their ports may change)
        assert agent.config["endpoint"] == f"http://{endpoints['agents'].address}"


def _run_demo(endpoints: dict[str, Endpoint], data_dir: Path) -> None:
    """The seeded demo runs offline, through the gateway with the CLI and the dev token, as the README's tour does:
    launch, watch until the human checkpoint, approve, watch to completion."""
    cli = _cli(endpoints, data_dir)
    launched = json.loads(
        cli("runs", "launch", "demo-agent/research-brief", "--input", "topic=vector databases", "-o", "json").stdout
    )
    run = launched["run"]["runId"]
    stopped = cli("runs", "watch", run, "--until-checkpoint")
    assert "waiting for a decision" in stopped.stdout, stopped.stdout
    (checkpoint,) = json.loads(cli("checkpoints", "list", "-o", "json").stdout)["checkpoints"]
    assert checkpoint["run"].endswith(run)
    cli("checkpoints", "approve", checkpoint["name"], "--comment", "ship it")
    finished = cli("runs", "watch", run)  # exit code 0: the run completed
    assert "completed (4/4 steps finished)" in finished.stdout, finished.stdout
    done = json.loads(cli("runs", "get", run, "-o", "json").stdout)["run"]
    assert done["status"] == "RUN_STATUS_COMPLETED", done
    outputs = {s["stepId"]: s.get("output") for s in done["steps"]}
    assert outputs["findings"].startswith("reference-a2a received: Research vector databases"), outputs
    assert outputs["brief"].startswith("reference-openai received: Write a brief on vector databases"), outputs
    assert "ship it" in outputs["brief"]


def _cli(endpoints: dict[str, Endpoint], data_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cli_runner(endpoints["gateway"].address, data_dir)


def _call_through_the_gateway(endpoints: dict[str, Endpoint], lines: list[str]) -> None:
    """The dev token `up` prints works at the gateway; without it, calls are refused."""
    (token,) = [line.split("=", 1)[1].split()[0] for line in lines if line.startswith("export AGENTORCH_TOKEN=")]
    with grpc.insecure_channel(endpoints["gateway"].address) as channel:
        gateway = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        who = gateway.WhoAmI(gateway_service_pb2.WhoAmIRequest(), metadata=(("authorization", f"Bearer {token}"),))
        assert (who.organization_slug, list(who.roles), who.authentication) == ("demo", ["admin"], "jwt")
        registry = registry_service_pb2_grpc.RegistryServiceStub(channel)
        request = registry_service_pb2.GetAgentRequest(name=DEMO_AGENT)
        agent = registry.GetAgent(request, metadata=(("authorization", f"Bearer {token}"),), timeout=10).agent
        assert agent.slug == "demo-agent"
        with pytest.raises(grpc.RpcError) as refused:
            registry.GetAgent(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # The same process serves HTTP/JSON on the port of the endpoint table's `http` row.
    (row,) = [m for line in lines if (m := re.match(r"^http\s+(http://\S+)\s+(\d+)\s+SERVING$", line))]
    http, pid = row[1], int(row[2])
    assert pid == endpoints["gateway"].pid
    bearer = {"authorization": f"Bearer {token}"}
    who_http = httpx.get(f"{http}/v1/whoami", headers=bearer, timeout=10)
    assert who_http.status_code == 200, who_http.text
    assert who_http.json() == {
        "subject": "dev@agentorch.local",
        "organizationSlug": "demo",
        "roles": ["admin"],
        "authentication": "jwt",
        "groups": [],  # the demo organization has a record but no members: the dev token's roles apply
        "managedMembership": False,
        "forbidSelfApproval": False,
    }
    agent_http = httpx.get(f"{http}/v1/{DEMO_AGENT}", headers=bearer, timeout=10)
    assert agent_http.json()["agent"]["slug"] == "demo-agent"
    assert httpx.get(f"{http}/v1/{DEMO_AGENT}", timeout=10).status_code == 401


def _cli_with_the_dev_token(endpoints: dict[str, Endpoint], data_dir: Path) -> None:
    """`up` leaves its dev token in the data dir (owner-only), where the gateway CLI finds it by default."""
    assert (data_dir / "dev-token").stat().st_mode & 0o777 == 0o600
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTORCH_TOKEN", "AGENTORCH_GATEWAY")}
    gateway = endpoints["gateway"].address
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "whoami", "--gateway", gateway, "--data-dir", str(data_dir), "-o", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["organizationSlug"] == "demo"


def _reflected_services(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in reply.list_services_response.service}
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    return names
