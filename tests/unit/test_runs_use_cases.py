"""The runs use cases (launch, checkpoint decisions, operator controls) on an in-memory unit of work and registry:
no database, no network. What each writes, what it announces (and when: after the commit), and that a refused or
invalid request writes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.common import context
from services.common.context import Principal, RequestContext
from services.common.errors import PermissionDenied, ValidationFailed
from services.runs.app.broker import Broker
from services.runs.app.checkpoints import CheckpointService
from services.runs.app.engine import Engine
from services.runs.app.launch import AGENT_LOOKUPS, Launcher, LaunchRequest
from services.runs.app.registry import ResolvedDefinition
from services.runs.app.runs import RunControls, RunQueries, RunView
from services.runs.app.transitions import Transitions
from services.runs.config import EngineConfig
from services.runs.domain.errors import (
    AdHocCredentialsNeedAdmin,
    CheckpointNotFound,
    InvalidLaunch,
    InvalidTransition,
    LaunchRejected,
    RunNotFound,
)
from services.runs.domain.model import CheckpointStatus, Decision, EventType, OriginType, RunStatus, StepStatus
from services.runs.domain.records import StoredEvent
from tests.support.agents import ScriptedExecutor
from tests.support.fake_runs import FakeRegistry, FakeRunsDatabase

ORG = "acme"
PARENT = f"organizations/{ORG}"
FLOW = f"{PARENT}/agents/helper/orchestrations/flow"


@dataclass
class RecordingBroker(Broker):
    """The real broker, noting how many commits the database had seen when each batch was published."""

    database: FakeRunsDatabase = field(default_factory=FakeRunsDatabase)
    published: list[tuple[int, list[StoredEvent]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def publish(self, events: Sequence[StoredEvent]) -> None:
        self.published.append((self.database.commits, list(events)))
        super().publish(events)


@dataclass
class App:
    database: FakeRunsDatabase
    registry: FakeRegistry
    broker: RecordingBroker
    launcher: Launcher
    controls: RunControls
    checkpoints: CheckpointService
    engine: Engine


@pytest.fixture
def app() -> App:
    database = FakeRunsDatabase()
    registry = FakeRegistry()
    registry.add_agent(ORG, "helper")
    broker = RecordingBroker(database=database)
    transitions = Transitions(database.uow, broker, notify=lambda stored: [f"{e.run_id}:{e.sequence}" for e in stored])
    queries = RunQueries(database.uow)
    engine = Engine(database.uow, transitions, ScriptedExecutor(), broker, EngineConfig(), worker_id="w1")
    return App(
        database,
        registry,
        broker,
        Launcher(database.uow, registry, transitions),
        RunControls(transitions, queries, database.uow),
        CheckpointService(database.uow, transitions, queries),
        engine,
    )


@contextmanager
def acting_as(org: str = ORG, *roles: str, subject: str = "ana@example.com") -> Iterator[Principal]:
    principal = Principal(subject=subject, organization_slug=org, roles=frozenset(roles or ("admin",)))
    token = context.bind(RequestContext(request_id="test", principal=principal))
    try:
        yield principal
    finally:
        context.reset(token)


def definition(*steps: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"schema_version": 1, "parameters": parameters or [], "phases": [{"id": "p0", "steps": list(steps)}]}


def echo(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "kind": "echo", "message": f"{step_id} done"}


def agent(step_id: str, slug: str = "helper", **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "kind": "agent", "agent": slug, "prompt": f"do {step_id}", **fields}


def checkpoint(step_id: str = "review", **block: Any) -> dict[str, Any]:
    return {"id": step_id, "kind": "checkpoint", "checkpoint": {"title": "Go on?", **block}}


def saved(app: App, document: dict[str, Any]) -> None:
    app.registry.orchestrations[FLOW] = ResolvedDefinition(document, [], f"{FLOW}/versions/1", FLOW)


async def launched(app: App, document: dict[str, Any], **fields: Any) -> RunView:
    saved(app, document)
    request = LaunchRequest(parent=PARENT, origin_type=OriginType.SAVED_ORCHESTRATION, orchestration=FLOW, **fields)
    with acting_as():
        view = await app.launcher.launch(request)
    assert isinstance(view, RunView)
    return view


def written(app: App) -> tuple[int, int]:
    """What the database holds: (runs, checkpoints)."""
    return len(app.database.tables.runs), len(app.database.tables.checkpoints)


# --- launch -------------------------------------------------------------------------------------------------------


async def test_launch_writes_the_run_with_its_first_events_and_announces_them_after_the_commit(app: App) -> None:
    view = await launched(app, definition(echo("a"), echo("b")), metadata={"ticket": "T-1"})
    run_id = view.state.run_id
    assert view.state.status is RunStatus.PENDING
    assert view.record.created_by == "ana@example.com"
    assert view.record.origin == f"{FLOW}/versions/1"
    assert written(app) == (1, 0)
    events = app.database.events_of(run_id)
    assert [e.type for e in events] == [EventType.RUN_CREATED.value]
    assert [e.sequence for e in events] == [1]
    assert app.database.tables.records[run_id].metadata == {"ticket": "T-1"}
    assert {s.step_id: s.status for s in app.database.tables.runs[run_id].steps.values()} == {
        "a": StepStatus.READY,
        "b": StepStatus.READY,
    }
    assert app.broker.published == [(1, events)]  # published once, after the one commit
    assert app.database.notified == [f"{run_id}:1"]  # other replicas hear of it in the same transaction


async def test_launch_pins_every_agent_the_definition_calls(app: App) -> None:
    app.registry.add_agent("", "shared")  # a platform-wide agent
    view = await launched(app, definition(agent("a"), agent("b", "shared"), agent("c")))
    assert set(view.record.agents) == {"helper", "shared"}
    assert view.record.agents["shared"]["name"] == "organizations//agents/shared"
    assert sorted(app.registry.agent_lookups) == ["helper", "shared"]  # each agent once, however many steps


async def test_launch_fetches_the_agents_concurrently_within_a_bound(app: App) -> None:
    slugs = [f"agent-{i}" for i in range(AGENT_LOOKUPS + 4)]
    for slug in slugs:
        app.registry.add_agent(ORG, slug)
    view = await launched(app, definition(*(agent(f"s{i}", slug) for i, slug in enumerate(slugs))))
    assert set(view.record.agents) == set(slugs)
    assert app.registry.peak_agent_lookups == AGENT_LOOKUPS  # not one after another, and never more at once


async def test_launch_names_the_first_missing_agent_and_writes_nothing(app: App) -> None:
    saved(app, definition(agent("a"), agent("b", "ghost"), agent("c", "phantom")))
    request = LaunchRequest(parent=PARENT, origin_type=OriginType.SAVED_ORCHESTRATION, orchestration=FLOW)
    with acting_as(), pytest.raises(LaunchRejected, match="agent 'ghost' \\(used by step 'b'\\)"):
        await app.launcher.launch(request)
    assert written(app) == (0, 0)
    assert app.database.commits == 0
    assert app.broker.published == []


async def test_launch_validates_every_field_at_once_and_writes_nothing(app: App) -> None:
    request = LaunchRequest(parent="orgs/acme", origin_type=None, request_id="x" * 200, metadata={"m": "y" * 20000})
    with acting_as(), pytest.raises(InvalidLaunch) as caught:
        await app.launcher.launch(request)
    assert [v.field for v in caught.value.violations] == [
        "parent",
        "source",
        "metadata",
        "request_id",
    ]
    assert written(app) == (0, 0)


async def test_launch_checks_the_inputs_against_the_declared_parameters(app: App) -> None:
    saved(app, definition(echo("a"), parameters=[{"name": "topic", "type": "string", "required": True}]))
    request = LaunchRequest(
        parent=PARENT,
        origin_type=OriginType.SAVED_ORCHESTRATION,
        orchestration=FLOW,
        prompt_inputs={"topic": 3, "extra": "x"},
    )
    with acting_as(), pytest.raises(InvalidLaunch) as caught:
        await app.launcher.launch(request)
    assert sorted(v.field for v in caught.value.violations) == ["prompt_inputs.extra", "prompt_inputs.topic"]
    assert written(app) == (0, 0)


async def test_an_ad_hoc_definition_naming_credentials_needs_an_admin(app: App) -> None:
    request = LaunchRequest(
        parent=PARENT, origin_type=OriginType.AD_HOC, ad_hoc_definition=definition(agent("a", credentials=["key"]))
    )
    with acting_as(ORG, "operator"), pytest.raises(AdHocCredentialsNeedAdmin):
        await app.launcher.launch(request)
    assert written(app) == (0, 0)
    with acting_as(ORG, "admin"):
        assert isinstance(await app.launcher.launch(request), RunView)


async def test_a_repeated_request_id_answers_with_the_first_run(app: App) -> None:
    first = await launched(app, definition(echo("a")), request_id="launch-1")
    saved(app, definition(echo("a")))
    request = LaunchRequest(
        parent=PARENT, origin_type=OriginType.SAVED_ORCHESTRATION, orchestration=FLOW, request_id="launch-1"
    )
    with acting_as():
        again = await app.launcher.launch(request)
    assert again == first.state.run_id
    assert written(app) == (1, 0)


async def test_a_request_id_launched_twice_at_once_makes_one_run(app: App) -> None:
    """Both launches find no run with the request_id, then both insert: the second insert is a DuplicateRequest,
    writes nothing, and answers with the run that won (the agent lookup is where the two interleave)."""
    saved(app, definition(agent("a")))
    request = LaunchRequest(
        parent=PARENT, origin_type=OriginType.SAVED_ORCHESTRATION, orchestration=FLOW, request_id="launch-1"
    )
    with acting_as():
        first, second = await asyncio.gather(app.launcher.launch(request), app.launcher.launch(request))
    assert app.registry.peak_agent_lookups == 2  # they did overlap
    assert isinstance(first, RunView)
    assert second == first.state.run_id
    assert written(app) == (1, 0)
    assert app.database.commits == 1


# --- checkpoint decisions -----------------------------------------------------------------------------------------


async def waiting(app: App, *steps: dict[str, Any]) -> tuple[RunView, str]:
    """A launched run whose checkpoint the engine opened (one tick); returns the run and the checkpoint's name."""
    view = await launched(app, definition(*(steps or (checkpoint(),))))
    assert await app.engine.tick() == 1
    (record,) = app.database.tables.checkpoints.values()
    return view, record.name


async def test_an_approval_is_written_once_with_the_step_s_success(app: App) -> None:
    view, name = await waiting(app, checkpoint(), {**echo("after"), "depends_on": ["review"]})
    commits, published = app.database.commits, len(app.broker.published)
    with acting_as(ORG, "approver", subject="boss@example.com"):
        decided = await app.checkpoints.decide(name, Decision.APPROVE, "ship it", {"n": 1})
    assert decided.checkpoint.status is CheckpointStatus.APPROVED
    assert (decided.checkpoint.comment, decided.checkpoint.decided_by) == ("ship it", "boss@example.com")
    run = app.database.tables.runs[view.state.run_id]
    assert run.steps["review"].status is StepStatus.SUCCEEDED
    assert run.steps["review"].output == {
        "decision": "approve",
        "comment": "ship it",
        "payload": {"n": 1},
        "decided_by": "boss@example.com",
    }
    assert run.steps["after"].status is StepStatus.READY
    assert app.database.commits == commits + 1
    (after_commit, events) = app.broker.published[published]
    assert after_commit == commits + 1
    assert [e.type for e in events][:2] == [EventType.CHECKPOINT_DECIDED.value, EventType.STEP_SUCCEEDED.value]


async def test_a_second_decision_is_refused_with_the_checkpoint_s_status(app: App) -> None:
    view, name = await waiting(app)
    with acting_as(ORG, "approver"):
        await app.checkpoints.decide(name, Decision.REJECT, "no", {})
        before = (app.database.commits, app.database.events_of(view.state.run_id))
        with pytest.raises(InvalidTransition) as caught:
            await app.checkpoints.decide(name, Decision.APPROVE, "", {})
    refused = caught.value
    assert (refused.resource, refused.current_status, refused.action) == (name, "rejected", "decide")
    assert refused.message == f"checkpoint {name} is rejected; cannot decide it again"
    assert (app.database.commits, app.database.events_of(view.state.run_id)) == before


async def test_deciding_needs_the_checkpoint_s_role_and_writes_nothing_without_it(app: App) -> None:
    _, name = await waiting(app, checkpoint(role="admin"))
    commits = app.database.commits
    with acting_as(ORG, "approver"), pytest.raises(PermissionDenied) as caught:
        await app.checkpoints.decide(name, Decision.APPROVE, "", {})
    assert caught.value.metadata == {"required_role": "admin"}
    assert app.database.commits == commits
    assert app.database.tables.checkpoints[name.rsplit("/", 1)[1]].status is CheckpointStatus.OPEN


async def test_a_decision_s_bad_fields_are_all_named(app: App) -> None:
    _, name = await waiting(app)
    commits = app.database.commits
    with acting_as(ORG, "approver"), pytest.raises(ValidationFailed) as caught:
        await app.checkpoints.decide(name, None, "x" * 5000, {"big": "y" * 70000})
    assert [v.field for v in caught.value.violations] == ["decision", "comment", "payload"]
    assert app.database.commits == commits


async def test_a_checkpoint_of_another_organization_is_not_found(app: App) -> None:
    _, name = await waiting(app)
    with acting_as("other", "admin"), pytest.raises(CheckpointNotFound):
        await app.checkpoints.decide(name, Decision.APPROVE, "", {})
    assert app.database.tables.checkpoints[name.rsplit("/", 1)[1]].status is CheckpointStatus.OPEN


# --- operator controls --------------------------------------------------------------------------------------------


async def test_pause_resume_and_cancel_follow_the_state_machine(app: App) -> None:
    view = await launched(app, definition(echo("a")))
    name = view.state.name
    with acting_as(ORG, "operator"):
        paused = await app.controls.pause(name)
        assert (paused.state.status, paused.state.status_reason) == (RunStatus.PAUSED, "operator")
        assert app.database.tables.runs[view.state.run_id].steps["a"].due_at is None  # nothing starts
        resumed = await app.controls.resume(name)
        assert resumed.state.status is RunStatus.PENDING
        cancelled = await app.controls.cancel(name, "wrong topic")
        assert (cancelled.state.status, cancelled.state.status_reason) == (RunStatus.CANCELLED, "wrong topic")
    types = [e.type for e in app.database.events_of(view.state.run_id)]
    assert types.count(EventType.RUN_STATUS_CHANGED.value) == 3


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ("pause", "is cancelled; cannot pause it (only a pending or running run, or one waiting on a checkpoint)"),
        ("resume", "is cancelled; cannot resume it (only a run paused by an operator)"),
        ("cancel", "is cancelled; cannot cancel it"),
    ],
)
async def test_a_refused_control_names_the_run_s_state_and_writes_nothing(app: App, control: str, message: str) -> None:
    view = await launched(app, definition(echo("a")))
    name = view.state.name
    with acting_as(ORG, "operator"):
        await app.controls.cancel(name, "")
        before = (app.database.commits, app.database.events_of(view.state.run_id), len(app.broker.published))
        with pytest.raises(InvalidTransition) as caught:
            await (app.controls.cancel(name, "") if control == "cancel" else getattr(app.controls, control)(name))
    refused = caught.value
    assert (refused.resource, refused.current_status, refused.action) == (name, "cancelled", control)
    assert refused.message == f"run {name} {message}"
    assert before == (app.database.commits, app.database.events_of(view.state.run_id), len(app.broker.published))


async def test_retry_restarts_a_failed_run_from_its_failed_step(app: App) -> None:
    view, name = await waiting(app)
    with acting_as(ORG, "admin"):
        await app.checkpoints.decide(name, Decision.REJECT, "no", {})
        assert app.database.tables.runs[view.state.run_id].status is RunStatus.FAILED
        with pytest.raises(ValidationFailed) as unknown:
            await app.controls.retry(view.state.name, "nope")
        assert [v.field for v in unknown.value.violations] == ["from_step"]
        retried = await app.controls.retry(view.state.name, "")
    assert retried.state.status is RunStatus.RUNNING
    assert retried.state.steps["review"].status is StepStatus.READY
    changes = [e.data for e in app.database.events_of(view.state.run_id) if e.type == "run_status_changed"]
    assert {"from": "failed", "to": "running", "reason": "retried from review"} in changes


async def test_retry_of_a_run_that_did_not_fail_is_refused(app: App) -> None:
    view = await launched(app, definition(echo("a")))
    with acting_as(ORG, "operator"), pytest.raises(InvalidTransition) as caught:
        await app.controls.retry(view.state.name, "a")
    assert (caught.value.current_status, caught.value.action) == ("pending", "retry")


async def test_controls_on_a_missing_or_foreign_run_are_not_found(app: App) -> None:
    view = await launched(app, definition(echo("a")))
    missing = f"{PARENT}/runs/{uuid.uuid4()}"
    with acting_as(ORG, "operator"), pytest.raises(RunNotFound):
        await app.controls.pause(missing)
    with acting_as("other", "operator"), pytest.raises(RunNotFound):
        await app.controls.pause(view.state.name.replace(f"/{ORG}/", "/other/"))
    with acting_as(ORG, "viewer"), pytest.raises(PermissionDenied):
        await app.controls.pause(view.state.name)
    assert app.database.tables.runs[view.state.run_id].status is RunStatus.PENDING
