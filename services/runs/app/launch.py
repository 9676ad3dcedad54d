"""Launching a run: resolve and pin the definition through the registry, check the inputs, snapshot the agents,
and write the run with its first event in one transaction. Idempotent per (organization, request_id)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from services.common import authz
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import FieldViolation, OrganizationNotFound, ValidationFailed
from services.common.structs import struct_to_dict
from services.runs.app.credential_aliases import CredentialDirectory, check_aliases
from services.runs.app.registry import Registry, ResolvedDefinition
from services.runs.app.runs import RunView
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import DuplicateRequest, UnitOfWorkFactory
from services.runs.app.versions import version_number
from services.runs.domain import machine
from services.runs.domain.definition import read_definition
from services.runs.domain.errors import (
    AdHocCredentialsNeedAdmin,
    InvalidLaunch,
    LaunchRejected,
    RequestIdReused,
    RunNotFound,
)
from services.runs.domain.inputs import resolve_inputs
from services.runs.domain.model import OriginType, RunSpec, RunState, RunStatus, StepState
from services.runs.domain.names import parse_org
from services.runs.domain.records import RunRecord
from services.runs.domain.versions import VersionRef, parse_version_ref

MAX_METADATA_BYTES = 16 * 1024
MAX_REQUEST_ID = 128
AGENT_LOOKUPS = 8  # registry calls in flight at once while a launch pins its agents


@dataclass(frozen=True)
class LaunchRequest:
    parent: str
    origin_type: OriginType | None
    orchestration: str = ""
    orchestration_version: int = 0
    plan: str = ""
    ad_hoc_definition: Any = None  # a protobuf Struct, passed through to the registry for validation
    ad_hoc_templates: list[dict[str, str]] = field(default_factory=list)
    prompt_inputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""


def launch_fingerprint(request: LaunchRequest) -> str:
    """The SHA-256 of the canonical launch request: every parameter that shapes the run, keys sorted (AIP-155: a
    request_id retried with the same parameters is the same request; with others it is refused)."""
    definition = request.ad_hoc_definition
    canonical = {
        "origin_type": request.origin_type.value if request.origin_type else "",
        "orchestration": request.orchestration,
        "orchestration_version": request.orchestration_version,
        "plan": request.plan,
        "ad_hoc_definition": _plain(definition),
        "ad_hoc_templates": request.ad_hoc_templates,
        "prompt_inputs": request.prompt_inputs,
        "metadata": request.metadata,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _plain(definition: Any) -> Any:
    """An ad hoc definition as JSON data (a protobuf Struct from the API, or already plain data)."""
    return struct_to_dict(definition) if hasattr(definition, "DESCRIPTOR") else definition


def same_request(org: str, request_id: str, existing: tuple[str, str], fingerprint: str) -> str:
    """The run of a repeated request_id, if the request is the same (REQUEST_ID_REUSED otherwise). A run written
    before fingerprints were kept ("") is answered as before."""
    run_id, stored = existing
    if stored and stored != fingerprint:
        raise RequestIdReused(request_id, f"organizations/{org}/runs/{run_id}")
    return run_id


class Launcher:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        registry: Registry,
        transitions: Transitions,
        credentials: CredentialDirectory | None = None,
    ) -> None:
        self._uow = uow_factory
        self._registry = registry
        self._transitions = transitions
        self._credentials = credentials  # None: aliases are checked only when a step calls its agent

    async def launch(self, request: LaunchRequest) -> str | RunView:
        """Returns the new run as written (no need to read it back), or, for a repeated request_id, the existing
        run's id."""
        principal = authz.require_principal()
        org = self._validate(request)
        authz.authorize(principal, org, "operator", hidden=lambda: OrganizationNotFound(org))
        fingerprint = launch_fingerprint(request)
        if request.request_id:
            async with self._uow() as uow:
                existing = await uow.runs.find_by_request(org, request.request_id)
            if existing:
                return same_request(org, request.request_id, existing, fingerprint)
        resolved = await self._resolve(principal, org, request)
        try:
            spec = read_definition(resolved.definition, [(t["name"], t["template"]) for t in resolved.prompt_templates])
        except ValueError as exc:
            raise LaunchRejected(f"the definition cannot be executed: {exc}") from None
        aliases = tuple(dict.fromkeys(alias for s in spec.steps for alias in s.credentials))
        if request.origin_type is OriginType.AD_HOC and aliases and not authz.has_role(principal, "admin"):
            raise AdHocCredentialsNeedAdmin(aliases)
        inputs, violations = resolve_inputs(spec.parameters, request.prompt_inputs)
        if violations:
            raise InvalidLaunch(violations)
        if self._credentials is not None:
            await check_aliases(self._credentials, principal, org, spec, request.origin_type)
        agents = await self._agents(principal, org, spec)
        run = RunState(
            run_id=str(uuid.uuid4()),
            organization_slug=org,
            spec=spec,
            status=RunStatus.PENDING,
            inputs=inputs,
            steps={s.id: StepState(s.id) for s in spec.steps},
            agents=agents,
            forbid_self_approval=principal.policy.forbid_self_approval,  # pinned: later policy changes don't apply
        )
        created = utcnow()
        record = RunRecord(
            origin_type=request.origin_type or OriginType.AD_HOC,
            origin=resolved.origin,
            orchestration=resolved.orchestration,
            definition=resolved.definition,
            prompt_templates=resolved.prompt_templates,
            agents=agents,
            metadata=request.metadata,
            request_id=request.request_id or None,
            request_fingerprint=fingerprint if request.request_id else "",
            created_by=principal.subject,
            created_at=created,
            updated_at=created,
        )
        machine.create(run, created)
        try:
            async with self._uow() as uow:
                await self._transitions.create(uow, run, record, created)
        except DuplicateRequest:  # the same request_id, launched concurrently: answer with that run
            async with self._uow() as again:
                existing = await again.runs.find_by_request(org, request.request_id)
            if existing is None:
                raise RunNotFound(request.request_id) from None
            return same_request(org, request.request_id, existing, fingerprint)
        return RunView(run, record, [])  # a new run has no checkpoint open yet: only the engine opens them

    async def _agents(self, principal: Principal, org: str, spec: RunSpec) -> dict[str, Any]:
        """The registry snapshot of every agent the definition calls, fetched concurrently (at most AGENT_LOOKUPS
        at once). The first failure in the definition's order is raised, as if they were fetched one by one."""
        slugs = spec.referenced_agents()
        bound = asyncio.Semaphore(AGENT_LOOKUPS)

        async def fetch(slug: str) -> dict[str, Any] | None:
            async with bound:
                return await self._registry.agent(principal, org, slug)

        found = await asyncio.gather(*(fetch(slug) for slug in slugs), return_exceptions=True)
        agents: dict[str, Any] = {}
        for slug, agent in zip(slugs, found, strict=True):
            if isinstance(agent, BaseException):
                raise agent
            if agent is None:
                step = next(s.id for s in spec.steps if s.agent == slug)
                raise LaunchRejected(f"agent {slug!r} (used by step {step!r}) does not exist in organization {org!r}")
            agents[slug] = agent
        return agents

    def _validate(self, request: LaunchRequest) -> str:
        violations: list[FieldViolation] = []
        org = ""
        try:
            org = parse_org(request.parent)
        except ValidationFailed as exc:
            violations += exc.violations
        if request.origin_type is None:
            violations.append(FieldViolation("source", "set one of orchestration, plan or ad_hoc"))
        if request.orchestration_version < 0:
            violations.append(FieldViolation("orchestration_version", "must be 0 (current) or a version number"))
        if request.orchestration_version and request.origin_type is not OriginType.SAVED_ORCHESTRATION:
            violations.append(FieldViolation("orchestration_version", "only applies to an orchestration launch"))
        if request.origin_type is OriginType.SAVED_ORCHESTRATION:
            ref = parse_version_ref(request.orchestration, "orchestration")
            if isinstance(ref, FieldViolation):
                violations.append(ref)
            elif ref.pinned and request.orchestration_version:
                violations.append(
                    FieldViolation("orchestration_version", "the orchestration names a version already: give it once")
                )
        if len(json.dumps(request.metadata).encode()) > MAX_METADATA_BYTES:
            violations.append(FieldViolation("metadata", f"must be at most {MAX_METADATA_BYTES} bytes of JSON"))
        rid = request.request_id
        if rid and (len(rid) > MAX_REQUEST_ID or not rid.isprintable() or not rid.isascii()):
            violations.append(FieldViolation("request_id", f"must be 1-{MAX_REQUEST_ID} printable ASCII characters"))
        if violations:
            raise InvalidLaunch(violations)
        return org

    async def _resolve(self, principal: Principal, org: str, request: LaunchRequest) -> ResolvedDefinition:
        if request.origin_type is OriginType.SAVED_ORCHESTRATION:
            if not request.orchestration.startswith(f"organizations/{org}/"):
                raise InvalidLaunch(
                    [FieldViolation("orchestration", f"must be an orchestration of organizations/{org}")]
                )
            ref = parse_version_ref(request.orchestration, "orchestration")
            assert isinstance(ref, VersionRef)  # checked by _validate
            number = await version_number(self._registry, principal, ref) or request.orchestration_version
            return await self._registry.orchestration(principal, ref.orchestration, number)
        if request.origin_type is OriginType.PLAN:
            if not request.plan.startswith(f"organizations/{org}/plans/"):
                raise InvalidLaunch([FieldViolation("plan", f"must be a plan of organizations/{org}")])
            return await self._registry.plan(principal, request.plan)
        return await self._registry.validate(principal, org, request.ad_hoc_definition, request.ad_hoc_templates)
