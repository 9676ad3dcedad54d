"""`agentorch up`: the whole platform on one machine, as four supervised processes with SQLite in a data dir.

The supervisor starts registry, runs, credentials, the gateway and the reference agents, waits until each reports
SERVING, seeds the demo, prints the endpoints and waits. SIGINT/SIGTERM stop every child with SIGTERM (they drain),
then SIGKILL after a grace period; a second Ctrl-C kills at once. Once the platform is up, a child that exits on
its own is restarted on its port after a back-off and its new pid printed (cli/restart.py); one that crashes
`max_crashes` times within `crash_window` seconds stops everything, naming it and its last output lines. A child
that dies before the platform was up (a configuration error, a port taken) stops everything at once: restarting it
would only fail again. Children lead their own sessions (a terminal's Ctrl-C reaches only the supervisor) and get
SIGTERM from the kernel if the supervisor dies without cleaning up (PR_SET_PDEATHSIG), so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import signal
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli import ports
from cli.devkeys import DEMO_KEY_ENV, ensure_demo_agent_key, ensure_key_file, ensure_pepper_file, key_ring
from cli.devtoken import (
    DEV_PLATFORM_ORGANIZATION,
    DEV_PLATFORM_TOKEN_FILE,
    dev_token,
    forget_gateway_address,
    gateway_jwt_env,
    save_dev_token,
    save_gateway_address,
    save_platform_token,
)
from cli.output import Console
from cli.process import Child, ChildSpec, describe_exit
from cli.restart import CrashLoop, CrashPolicy, keep_alive
from cli.seed import DemoAgents, seed_demo, seed_demo_organization

UP_LINE = "agentorch is up; press Ctrl-C to stop"
HTTP_PORT_ENV = "AGENTORCH_GATEWAY_HTTP__PORT"
BACKENDS = ("registry", "runs", "credentials")
NAMES = (*BACKENDS, "gateway", "agents")  # start order; the gateway dials its backends lazily, so no waiting in between
READY_TIMEOUT = 30.0
HEALTH_CALL_TIMEOUT = 1.0
HEALTH_POLL_INTERVAL = 0.2
SEED_TIMEOUT = 10.0
STOP_GRACE = 15.0  # above the services' default drain (10 s), so a normal stop never needs SIGKILL
LAST_LINES = 10  # of a crash-looping service's output, in the message that stops the platform
# Re-dial quickly while a child is still importing: gRPC's default back-off (1 s, growing) would delay readiness.
_POLL_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]

T = TypeVar("T")


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    base_port: int = ports.DEFAULT_BASE_PORT
    log_format: Literal["console", "json"] = "console"
    # None: an embedded SQLite file per service in data_dir. A PostgreSQL URL: one database, a schema per service.
    database_url: str | None = None
    crashes: CrashPolicy = field(default_factory=CrashPolicy)  # restarts, and when crashes stop everything

    def database(self, data_dir: Path, name: str) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{data_dir / f'{name}.db'}"


class UpError(Exception):
    """A reason not to start at all (port taken, data dir in use); reported as one line."""


def plan(options: UpOptions, assigned: ports.Ports) -> list[ChildSpec]:
    """The four processes and their environment: each backend on its own SQLite file (or its own schema of
    `options.database_url`), the gateway wired to them."""
    data_dir = options.data_dir.resolve()
    key_file = str(ensure_key_file(data_dir))
    dial = ports.connect_host(options.host)
    specs = []
    for name in BACKENDS:
        env = f"AGENTORCH_{name.upper()}_"
        specs.append(
            ChildSpec(
                name,
                f"services.{name}",
                ports.address(dial, assigned[name]),
                {
                    f"{env}SERVER__HOST": options.host,
                    f"{env}SERVER__PORT": str(assigned[name]),
                    f"{env}DATABASE__URL": options.database(data_dir, name),
                    f"{env}DATABASE__MIGRATE_ON_START": "true",
                    f"{env}LOGGING__FORMAT": options.log_format,
                    f"{env}AUTH__PRINCIPAL_KEYS_FILE": key_file,
                    **(_vault_env(data_dir) if name == "credentials" else {}),
                    **(_runs_env(dial, assigned) if name == "runs" else {}),
                    **(_agent_networks_env(env, dial) if name in ("registry", "runs") else {}),
                },
            )
        )
    gateway = {
        "AGENTORCH_GATEWAY_SERVER__HOST": options.host,
        "AGENTORCH_GATEWAY_SERVER__PORT": str(assigned["gateway"]),
        "AGENTORCH_GATEWAY_HTTP__HOST": options.host,
        HTTP_PORT_ENV: str(assigned["http"]),
        "AGENTORCH_GATEWAY_LOGGING__FORMAT": options.log_format,
        "AGENTORCH_GATEWAY_AUTH__PRINCIPAL_KEYS_FILE": key_file,
        "AGENTORCH_GATEWAY_API_KEYS__PEPPERS_FILE": str(ensure_pepper_file(data_dir)),
        "AGENTORCH_GATEWAY_DATABASE__URL": options.database(data_dir, "gateway"),
        "AGENTORCH_GATEWAY_DATABASE__MIGRATE_ON_START": "true",
        **gateway_jwt_env(data_dir),
        **{f"AGENTORCH_GATEWAY_BACKENDS__{s.name.upper()}": s.target for s in specs},
    }
    agents = ChildSpec(
        "agents",
        "reference_agents",
        ports.address(dial, assigned["a2a-agent"]),
        {DEMO_KEY_ENV: ensure_demo_agent_key(data_dir)},
        args=(
            "--a2a-port",
            str(assigned["a2a-agent"]),
            "--openai-port",
            str(assigned["openai-agent"]),
            "--api-key-env",
            DEMO_KEY_ENV,
        ),
        ready_url=f"http://{ports.address(dial, assigned['a2a-agent'])}/.well-known/agent-card.json",
    )
    return [*specs, ChildSpec("gateway", "gateway", ports.address(dial, assigned["gateway"]), gateway), agents]


def _runs_env(dial: str, assigned: ports.Ports) -> dict[str, str]:
    """The runs service calls the registry (definitions, agents) and the vault (credentials)."""
    return {
        "AGENTORCH_RUNS_CLIENTS__REGISTRY": ports.address(dial, assigned["registry"]),
        "AGENTORCH_RUNS_CLIENTS__CREDENTIALS": ports.address(dial, assigned["credentials"]),
    }


def _agent_networks_env(prefix: str, dial: str) -> dict[str, str]:
    """The reference agents listen on loopback: the registry must accept their endpoints and the runs service must
    connect to them. Production keeps the default (internal addresses refused)."""
    networks = ["127.0.0.0/8", "::1/128"]
    if dial not in ("127.0.0.1", "::1", "localhost"):
        networks.append(dial)
    return {f"{prefix}AGENTS__ALLOWED_NETWORKS": json.dumps(networks)}


def _vault_env(data_dir: Path) -> dict[str, str]:
    """Dev mode: the vault generates its key ring into the data dir (0600) on first start."""
    return {
        "AGENTORCH_CREDENTIALS_VAULT__KEYS_FILE": str(data_dir / "vault-keys.json"),
        "AGENTORCH_CREDENTIALS_VAULT__DEV_MODE": "true",
    }


def run(options: UpOptions) -> int:
    console = Console(NAMES)
    try:
        assigned = _choose_ports(options)
        with _exclusive(options.data_dir.resolve()):
            return asyncio.run(supervise(options, assigned, console))
    except UpError as exc:
        console.error(str(exc))
        return 1


async def supervise(options: UpOptions, assigned: ports.Ports, console: Console) -> int:
    """Run the platform until a signal (exit 0 when every child stopped cleanly) or a failure (exit 1)."""
    children = [Child(spec, console) for spec in plan(options, assigned)]
    signals = _Signals(asyncio.get_running_loop())
    failed = True
    try:
        for child in children:
            await child.start()
        failed = await _bring_up_and_wait(options, children, signals, console)
    except OSError as exc:
        console.error(f"cannot start the services: {exc}")
    finally:
        clean = await _stop_all(children, signals, console)
        signals.close()
        with contextlib.suppress(OSError):
            forget_gateway_address(options.data_dir.resolve())
    return 0 if clean and not failed else 1


async def _bring_up_and_wait(options: UpOptions, children: list[Child], signals: _Signals, console: Console) -> bool:
    """Returns True when the run failed (a child died before it was up, never became ready, crashed too often, or
    seeding failed)."""
    try:
        await _guarded(asyncio.gather(*(_ready(c) for c in children)), children, signals, READY_TIMEOUT)
        targets = {c.name: c.spec.target for c in children}
        seeding = seed_demo(targets, key_ring(options.data_dir.resolve()), demo_agents(options, children), SEED_TIMEOUT)
        seeded_all = await _guarded(seeding, children, signals, None)
        gateway_target = next(c for c in children if c.name == "gateway").spec.target
        platform_token = dev_token(options.data_dir.resolve(), organization=DEV_PLATFORM_ORGANIZATION)
        organization = seed_demo_organization(gateway_target, platform_token, SEED_TIMEOUT)
        seeded_all.append(await _guarded(organization, children, signals, None))
        for seeded in seeded_all:
            console.say(f"demo: {seeded.resource} {'created' if seeded.created else 'already exists'}")
        for line in _endpoints(options, children):
            console.say(line)
        token = dev_token(options.data_dir.resolve())
        await asyncio.to_thread(save_dev_token, options.data_dir.resolve(), token)  # the gateway CLI's default
        gateway = next(c for c in children if c.name == "gateway").spec.target
        await asyncio.to_thread(save_gateway_address, options.data_dir.resolve(), gateway)  # … and its address
        await asyncio.to_thread(save_platform_token, options.data_dir.resolve(), platform_token)
        console.say(f"export AGENTORCH_TOKEN={token}  # org demo, admin, 12 h")
        console.say(f"platform admin token (agentorch orgs create): {options.data_dir / DEV_PLATFORM_TOKEN_FILE}")
        console.say(UP_LINE)
        await _keep_running(children, signals, options.crashes, console)
    except _Stopped:
        return False
    except CrashLoop as exc:
        times = f"{exc.crashes} time{'s' if exc.crashes != 1 else ''}"
        console.error(
            f"{exc.child.name} crashed {times} within {options.crashes.window_seconds:g}s (the last: "
            f"{describe_exit(exc.code)}); stopping the platform. Its last output lines:"
        )
        for line in exc.child.last_lines(LAST_LINES):
            console.error(f"  {line}")
    except _ChildExited as exc:
        tail = f"; last output: {exc.child.last_words}" if exc.child.last_words else ""
        console.error(f"{exc.child.name} exited before it was ready ({describe_exit(exc.code)}){tail}")
    except TimeoutError:
        late = ", ".join(f"{c.name} ({c.health})" for c in children if c.health != "SERVING")
        console.error(f"not ready within {READY_TIMEOUT:.0f}s: {late}")
    except grpc.aio.AioRpcError as exc:
        console.error(f"seeding the demo failed: {exc.code().name}: {exc.details()}")
    return True


async def _keep_running(children: list[Child], signals: _Signals, policy: CrashPolicy, console: Console) -> None:
    """Until a signal (raise _Stopped) or a crash loop (raise CrashLoop): every child is kept alive by its keeper."""
    keepers = [
        asyncio.ensure_future(keep_alive(c, policy, console, _ready, lambda c: _announce_restart(c, console)))
        for c in children
    ]
    stop = asyncio.ensure_future(signals.stop.wait())
    try:
        done, _ = await asyncio.wait({stop, *keepers}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (stop, *keepers):
            future.cancel()
        await asyncio.gather(stop, *keepers, return_exceptions=True)
    if stop in done:
        raise _Stopped
    for keeper in keepers:
        if keeper in done:
            keeper.result()  # raises its CrashLoop


def _announce_restart(child: Child, console: Console) -> None:
    """The restarted child's rows of the endpoint table: its address and new pid."""
    console.say(f"{child.name} restarted; it serves again:")
    for line in _rows([child]):
        console.say(line)


async def _ready(child: Child) -> None:
    """Poll the child's overall health (service "") until SERVING, or its HTTP readiness URL until 200."""
    if child.spec.ready_url:
        await _http_ready(child)
        return
    async with grpc.aio.insecure_channel(child.spec.target, options=_POLL_CHANNEL_OPTIONS) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                child.health = exc.code().name
            else:
                child.health = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(HEALTH_POLL_INTERVAL)


def demo_agents(options: UpOptions, children: Sequence[Child]) -> DemoAgents:
    """Where the demo's agents listen: the reference agents child (its A2A port is its target; OpenAI next)."""
    agents = next(c for c in children if c.name == "agents")
    openai_port = agents.spec.args[agents.spec.args.index("--openai-port") + 1]
    host = agents.spec.target.rsplit(":", 1)[0]
    return DemoAgents(
        a2a_url=f"http://{agents.spec.target}",
        openai_url=f"http://{host}:{openai_port}/v1",
        api_key=ensure_demo_agent_key(options.data_dir.resolve()),
    )


async def _http_ready(child: Child) -> None:
    async with httpx.AsyncClient(timeout=HEALTH_CALL_TIMEOUT) as client:
        while True:
            try:
                response = await client.get(child.spec.ready_url)
            except httpx.HTTPError as exc:
                child.health = type(exc).__name__
            else:
                child.health = "SERVING" if response.status_code == 200 else f"HTTP {response.status_code}"
                if response.status_code == 200:
                    return
            await asyncio.sleep(HEALTH_POLL_INTERVAL)


def _endpoints(options: UpOptions, children: Sequence[Child]) -> list[str]:
    ordered = sorted(children, key=lambda c: c.name != "gateway")  # the entry point first
    gateway = ordered[0].spec.target
    http = f"http://{http_address(ordered[0])}"
    return [
        *_rows(ordered, header=True),
        f"data: {options.data_dir.resolve()}",
        f"try: buf curl --protocol grpc --http2-prior-knowledge --list-services http://{gateway}",
        f'try: curl -H "authorization: Bearer $AGENTORCH_TOKEN" {http}/v1/whoami',
    ]


def _rows(children: Sequence[Child], *, header: bool = False) -> list[str]:
    """Endpoint table rows (SERVICE, ADDRESS, PID, STATUS); the gateway's process also serves HTTP/JSON + SSE."""
    rows = [("SERVICE", "ADDRESS", "PID", "STATUS")] if header else []
    for c in children:
        rows.append((c.name, c.spec.target, str(c.pid), c.health))
        if c.name == "gateway":
            rows.append(("http", f"http://{http_address(c)}", str(c.pid), c.health))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def http_address(gateway: Child) -> str:
    """host:port of the gateway's HTTP front (its gRPC target's host, the HTTP port it was given)."""
    host = gateway.spec.target.rsplit(":", 1)[0]
    return f"{host}:{gateway.spec.env[HTTP_PORT_ENV]}"


class _Stopped(Exception):
    pass


class _ChildExited(Exception):
    def __init__(self, child: Child, code: int) -> None:
        super().__init__(child.name)
        self.child = child
        self.code = code


async def _guarded(work: Awaitable[T] | None, children: list[Child], signals: _Signals, limit: float | None) -> T:
    """Await `work` (or forever), but raise _Stopped on a signal, _ChildExited when any child exits first, and
    TimeoutError after `limit` seconds. Whatever is left unfinished is cancelled and awaited before returning."""
    exits = {asyncio.ensure_future(c.wait()): c for c in children}
    stop = asyncio.ensure_future(signals.stop.wait())
    loop = asyncio.get_running_loop()
    task: asyncio.Future[T] = asyncio.ensure_future(work) if work is not None else loop.create_future()
    waiting: set[asyncio.Future[Any]] = {task, stop, *exits}
    try:
        done, _ = await asyncio.wait(waiting, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in waiting:
            future.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    if task in done:
        return task.result()
    if stop in done:
        raise _Stopped
    for future, child in exits.items():
        if future in done:
            raise _ChildExited(child, future.result())
    raise TimeoutError


async def _stop_all(children: list[Child], signals: _Signals, console: Console) -> bool:
    """SIGTERM every running child, SIGKILL whoever is still there after STOP_GRACE (or a second Ctrl-C), reap
    all. True when each one stopped on its own with a clean status."""
    running = [c for c in children if c.running]
    if running:
        console.say(f"stopping {', '.join(c.name for c in running)}")
    for child in running:
        child.signal(signal.SIGTERM)
    everyone = asyncio.ensure_future(asyncio.gather(*(c.wait() for c in running)))
    forced = asyncio.ensure_future(signals.force.wait())
    first: set[asyncio.Future[Any]] = {everyone, forced}
    await asyncio.wait(first, timeout=STOP_GRACE, return_when=asyncio.FIRST_COMPLETED)
    forced.cancel()
    await asyncio.gather(forced, return_exceptions=True)
    late = [c for c in running if c.running]
    for child in late:
        console.error(f"{child.name} did not stop in time; killing it")
        child.signal(signal.SIGKILL)
    codes = await everyone
    for child in children:
        await child.drained(within=2.0)
    unclean = [(c, code) for c, code in zip(running, codes, strict=True) if code not in (0, -signal.SIGTERM)]
    for child, code in unclean:
        if child not in late:
            console.error(f"{child.name} stopped with {describe_exit(code)}")
    return not late and not unclean


class _Signals:
    """SIGINT/SIGTERM/SIGHUP request a stop; a second one while stopping forces SIGKILL."""

    _HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self._loop = loop
        for sig in self._HANDLED:
            loop.add_signal_handler(sig, self._received)

    def _received(self) -> None:
        (self.force if self.stop.is_set() else self.stop).set()

    def close(self) -> None:
        for sig in self._HANDLED:
            self._loop.remove_signal_handler(sig)


def _choose_ports(options: UpOptions) -> ports.Ports:
    try:
        assigned = ports.layout(options.base_port) if options.base_port else None
    except ValueError as exc:
        raise UpError(str(exc)) from None
    try:
        if assigned is None:
            return ports.free_ports(options.host)
        taken = ports.busy(options.host, assigned)
    except OSError as exc:
        raise UpError(f"cannot listen on host {options.host!r}: {exc}") from None
    if taken:
        listed = ", ".join(f"{name} {assigned[name]}" for name in taken)
        raise UpError(f"ports already in use on {options.host}: {listed} (another `agentorch up`? try --base-port)")
    return assigned


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One `up` per data dir: two would share the SQLite files behind each other's back."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = (data_dir / "up.lock").open("a")
    except OSError as exc:
        raise UpError(f"cannot use data dir {data_dir}: {exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpError(f"another `agentorch up` is already using {data_dir}") from None
        yield
