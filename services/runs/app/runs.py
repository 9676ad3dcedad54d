"""Run queries and operator controls (cancel, pause, resume, retry from a step)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from services.common import authz, pagination
from services.common.context import Principal
from services.common.errors import FieldViolation, OrganizationNotFound, ValidationFailed
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import RunsUnitOfWork, UnitOfWorkFactory
from services.runs.app.versions import VersionLookup, version_number
from services.runs.domain import machine
from services.runs.domain.errors import RunNotFound
from services.runs.domain.model import OriginType, RunState, RunStatus
from services.runs.domain.names import RunName, parse_org
from services.runs.domain.records import RunRecord, StoredEvent
from services.runs.domain.versions import parse_version_ref

MAX_REASON = 1000
DEFAULT_EVENT_PAGE = 100
MAX_EVENT_PAGE = 1000


@dataclass(frozen=True)
class Intervention:
    """An operator's action on a run (retry, resume, override), read from its OPERATOR_INTERVENTION events."""

    step_id: str
    kind: str
    by: str
    time: dt.datetime


@dataclass(frozen=True)
class RunView:
    state: RunState
    record: RunRecord
    open_checkpoints: list[str]
    interventions: tuple[Intervention, ...] = ()


@dataclass(frozen=True)
class RunFilter:
    status: RunStatus | None = None
    orchestration: str = ""
    origin_type: OriginType | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def authorize_run(principal: Principal, name: RunName, role: str) -> None:
    authz.authorize(principal, name.organization_slug, role, hidden=lambda: RunNotFound(str(name)))


class RunQueries:
    """Reads of runs. `versions` looks version labels up (in the registry) for a ListRuns filter that names one."""

    def __init__(self, uow_factory: UnitOfWorkFactory, versions: VersionLookup | None = None) -> None:
        self._uow = uow_factory
        self._versions = versions

    async def get(self, name: str) -> RunView:
        principal = authz.require_principal()
        parsed = RunName.parse(name)
        authorize_run(principal, parsed, "viewer")
        async with self._uow() as uow:
            return await self.view(uow, parsed)

    async def view(self, uow: RunsUnitOfWork, name: RunName) -> RunView:
        loaded = await uow.runs.load_view(name.run_id)
        if loaded is None or loaded[0].organization_slug != name.organization_slug:
            raise RunNotFound(str(name))
        state, record = loaded
        checkpoint_ids = await uow.checkpoints.open_ids_for_run(name.run_id)
        interventions = tuple(
            Intervention(e.step_id, str(e.data.get("kind", "")), str(e.data.get("by", "")), e.created_at)
            for e in await uow.runs.interventions(name.run_id)
        )
        return RunView(state, record, [f"{name}/checkpoints/{cid}" for cid in checkpoint_ids], interventions)

    async def list_page(
        self, parent: str, criteria: RunFilter, page_size: int, page_token: str
    ) -> tuple[list[RunView], str]:
        principal = authz.require_principal()
        org = parse_org(parent)
        authz.authorize(principal, org, "viewer", hidden=lambda: OrganizationNotFound(org))
        orchestration, origin = await self._pinned(principal, criteria.orchestration)
        fingerprint = [
            org,
            str(criteria.status),
            criteria.orchestration,
            str(criteria.origin_type),
            str(criteria.start),
            str(criteria.end),
        ]
        paging = pagination.Paging(page_size, page_token, pagination.TIME_AND_ID, "runs", *fingerprint)
        async with self._uow() as uow:
            ids = await uow.runs.list_runs(
                org,
                status=criteria.status,
                orchestration=orchestration,
                origin=origin,
                origin_type=criteria.origin_type,
                start=criteria.start,
                end=criteria.end,
                before=paging.after,
                limit=paging.limit,
            )
            views = [await self.view(uow, RunName(org, run_id)) for run_id in ids[: paging.size]]
        more = len(ids) > paging.size
        return views, paging.token_after(views, lambda v: (v.record.created_at, v.state.run_id), more=more)

    async def _pinned(self, principal: Principal, orchestration: str) -> tuple[str, str]:
        """A filter's orchestration and, when it names a version (by number or label), that version's name."""
        ref = parse_version_ref(orchestration, "orchestration")
        if isinstance(ref, FieldViolation):
            raise ValidationFailed([ref])
        if not ref.pinned:
            return orchestration, ""
        number = ref.number
        if ref.label:
            if self._versions is None:
                raise ValidationFailed.single("orchestration", "version labels cannot be looked up here")
            number = await version_number(self._versions, principal, ref)
        return ref.orchestration, ref.version_name(number)

    async def events(self, name: str, after: int, page_size: int) -> tuple[list[StoredEvent], bool]:
        principal = authz.require_principal()
        parsed = RunName.parse(name)
        violations = []
        if after < 0:
            violations.append(FieldViolation("after_sequence", "must be 0 or positive"))
        if not 0 <= page_size <= MAX_EVENT_PAGE:
            violations.append(
                FieldViolation("page_size", f"must be between 0 (default {DEFAULT_EVENT_PAGE}) and {MAX_EVENT_PAGE}")
            )
        if violations:
            raise ValidationFailed(violations)
        authorize_run(principal, parsed, "viewer")
        limit = page_size or DEFAULT_EVENT_PAGE
        async with self._uow() as uow:
            if await uow.runs.organization_of(parsed.run_id) != parsed.organization_slug:
                raise RunNotFound(str(parsed))
            rows = await uow.runs.events(parsed.run_id, after=after, limit=limit + 1)
        return rows[:limit], len(rows) > limit


class RunControls:
    """Operator controls. Which run states accept each one is the state machine's (machine.RULES): a refused control
    is an InvalidTransition naming the run's state, and writes nothing."""

    def __init__(self, transitions: Transitions, queries: RunQueries, uow_factory: UnitOfWorkFactory) -> None:
        self._transitions = transitions
        self._queries = queries
        self._uow = uow_factory

    async def cancel(self, name: str, reason: str) -> RunView:
        if len(reason) > MAX_REASON:
            raise ValidationFailed.single("reason", f"must be at most {MAX_REASON} characters")
        return await self._control(name, lambda run, now: machine.cancel(run, reason, now))

    async def pause(self, name: str) -> RunView:
        return await self._control(name, machine.pause)

    async def resume(self, name: str) -> RunView:
        by = authz.require_principal().subject
        return await self._control(name, lambda run, now: machine.resume(run, now, by=by))

    async def retry(self, name: str, from_step: str) -> RunView:
        by = authz.require_principal().subject
        return await self._control(name, lambda run, now: machine.retry_from(run, from_step, now, by=by))

    async def _control(self, name: str, change: Callable[[RunState, dt.datetime], object]) -> RunView:
        principal = authz.require_principal()
        parsed = RunName.parse(name)
        authorize_run(principal, parsed, "operator")

        def guarded(run: RunState, now: dt.datetime) -> None:
            if run.organization_slug != parsed.organization_slug:
                raise RunNotFound(str(parsed))
            change(run, now)

        if await self._transitions.apply(parsed.run_id, guarded) is None:
            raise RunNotFound(str(parsed))
        async with self._uow() as uow:
            return await self._queries.view(uow, parsed)
