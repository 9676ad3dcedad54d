"""The worker of one runs replica: its loops, the tick that claims and dispatches due work, agent calls and their
heartbeats.

One loop finds due work with a single indexed query (`run_steps.due_at <= now`), claims it under each run's row
lock (skipping runs another replica holds), and dispatches it:

- built-in steps (noop, echo, template) run inside the claiming transaction: one commit per step; templates
  that may take time (loops, macros, calls, filters) render on a worker thread (`rendering.Renderer`), within
  the configured limits, so the event loop keeps serving while they render;
- checkpoint steps open a checkpoint and wait, holding no task, timer or memory;
- agent steps get a lease and an asyncio task; a heartbeat extends the leases of this replica's steps, and the
  result is written under the same fence (run, step, attempt, owner), so a step taken over by another replica
  can never succeed twice; streamed output goes to the log as it arrives (`deltas.DeltaStream`).

When idle the loop sleeps until the next due time or a wake-up (a local commit, or another replica's
announcement over LISTEN/NOTIFY); it never polls per run. Every transition goes through `transitions.Transitions`
(the write path the use cases share): one transaction that changes state and appends events, announced after
commit. The loops run under the process's supervisor (restarted with back-off; NOT_SERVING while they cannot run).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from services.common.db import is_connection_failure, utcnow
from services.common.logs import get_logger
from services.common.supervisor import Liveness, Supervisor
from services.common.templating import DEFAULT_LIMITS, TemplateLimits, TemplateRenderError
from services.runs.app import checkpoint_timers
from services.runs.app.broker import Announcement, Broker
from services.runs.app.deltas import DeltaStream
from services.runs.app.executor import InputRequired, StepExecutor, StepFailed, StepRequest
from services.runs.app.rendering import Renderer
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import RunsUnitOfWork, UnitOfWorkFactory
from services.runs.config import EngineConfig
from services.runs.domain import machine, routing
from services.runs.domain.model import (
    BUILT_IN_KINDS,
    CheckpointStatus,
    Decision,
    NewCheckpoint,
    RunState,
    RunStatus,
    StepSpec,
    StepStatus,
)
from services.runs.domain.rendering import (
    checkpoint_sources,
    render_checkpoint,
    render_inputs,
    render_step_text,
    step_sources,
)
from services.runs.domain.revisions import revision_count, template_revision

log = get_logger("agentorch.runs.engine")
CONTENDED_PAUSE_SECONDS = 0.05
# A tick starts no threaded render once its renders took this long: the steps left wait for the next transaction,
# so one run's slow templates hold no lock (and, on SQLite, the write lock) for more than this plus one render.
TICK_RENDER_SECONDS = 0.2


class Engine:
    """The worker of one replica (see the module docstring). `start(supervisor)` runs its loops; `tick()` is one
    pass over due work; every write goes through `transitions`, the write path the use cases share."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        transitions: Transitions,
        executor: StepExecutor,
        broker: Broker,
        settings: EngineConfig | None = None,
        *,
        template_limits: TemplateLimits = DEFAULT_LIMITS,
        worker_id: str | None = None,
    ) -> None:
        self._uow = uow_factory
        self._transitions = transitions
        self._executor = executor
        self._settings = settings or EngineConfig()
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._supervisor: Supervisor | None = None
        self._loops: list[str] = []  # names of the supervised loops
        self._stopping = False
        self._by_run: dict[str, set[asyncio.Task[None]]] = {}  # agent calls in flight, per run
        self._renderer = Renderer(template_limits)
        self._tick_rendered_from = 0.0  # the renderer's `spent` when the current tick began
        broker.on_work(self.wake)
        broker.on_announcement(self._on_announcement)

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self._settings.lease_seconds)

    def wake(self) -> None:
        self._wake.set()

    async def start(self, supervisor: Supervisor) -> None:
        """Start the loops under `supervisor`: a loop that fails is restarted with back-off, and one that keeps
        failing (its database gone) turns the replica NOT_SERVING until it recovers."""
        self._supervisor = supervisor
        lease = self._settings.lease_seconds
        self._loops = [f"{self.worker_id} work", f"{self.worker_id} heartbeat"]
        # The work loop reports progress at least every idle_wait_seconds, the heartbeat every lease/3.
        supervisor.spawn(self._loops[0], self._work_loop, stall_seconds=self._settings.idle_wait_seconds * 3)
        supervisor.spawn(self._loops[1], self._heartbeat_loop, stall_seconds=lease)
        if self._settings.retention_days > 0:
            self._loops.append(f"{self.worker_id} retention")
            supervisor.spawn(self._loops[2], self._retention_loop)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; give running agent calls `grace` seconds, then abandon them (their leases expire and
        another replica takes them over with the same idempotency keys)."""
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            for name in self._loops:
                await self._supervisor.cancel(name)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._renderer.close()

    # --- the loop ---------------------------------------------------------------------------------------------------

    async def _work_loop(self, liveness: Liveness) -> None:
        """Tick until stopped. A failed tick (the database restarting) raises: the supervisor logs it and starts
        the loop again after a back-off, so nothing here swallows an error or spins on one."""
        while not self._stopping:
            handled = await self.tick()
            liveness.alive()
            if handled:
                continue
            wait = await self._idle_wait()
            # Nothing to do now, though something is due: another transaction holds it (another replica, a decision
            # in flight) or agent capacity is full. Its commit wakes us (locally or over NOTIFY); else retry soon.
            await self._sleep(wait if wait > 0 else CONTENDED_PAUSE_SECONDS)

    async def _idle_wait(self) -> float:
        if len(self._tasks) >= self._settings.max_concurrency:
            # At capacity the due agent steps cannot start: sleep until a finishing step commits (which wakes us)
            # instead of spinning on work that is due but cannot be dispatched.
            return self._settings.idle_wait_seconds
        async with self._uow() as uow:
            next_due = await uow.runs.next_due_at()
        if next_due is None:
            return self._settings.idle_wait_seconds
        seconds = (next_due - utcnow()).total_seconds()
        return min(max(seconds, 0.0), self._settings.idle_wait_seconds)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: on 3.11 it can swallow a cancellation
                await self._wake.wait()
        self._wake.clear()

    async def _heartbeat_loop(self, liveness: Liveness) -> None:
        """Extend the leases of this replica's agent steps every lease/3. A renewal that fails raises (restarted
        with back-off); if renewals keep failing past the lease, other replicas take the steps over (fenced)."""
        interval = self._settings.lease_seconds / 3
        while not self._stopping:
            await asyncio.sleep(interval)
            if self._tasks:
                async with self._uow() as uow:
                    await uow.runs.renew_leases(self.worker_id, utcnow() + self.lease)
                    await uow.commit()
            liveness.alive()

    async def _retention_loop(self, liveness: Liveness) -> None:
        while not self._stopping:
            deleted = await self.purge(dt.timedelta(days=self._settings.retention_days))
            if deleted:
                log.info("retention deleted finished runs", runs=deleted, days=self._settings.retention_days)
            liveness.alive()
            await asyncio.sleep(self._settings.retention_interval_seconds)

    async def purge(self, older_than: dt.timedelta, batch: int = 500) -> int:
        """Delete runs (with their steps, events and checkpoints) that ended more than `older_than` ago, in
        batches of one transaction each; safe to run on every replica at once."""
        total = 0
        while True:
            async with self._uow() as uow:
                deleted = await uow.runs.delete_finished_before(utcnow() - older_than, batch)
                await uow.commit()
            total += deleted
            if deleted < batch:
                return total

    async def tick(self) -> int:
        """Claim and dispatch due work once; returns the number of steps that changed. A due step that changed
        nothing (an agent step with no capacity left) does not count, nor is its run written."""
        capacity = self._settings.max_concurrency - len(self._tasks)
        dispatch: list[StepRequest] = []
        handled = 0
        self._tick_rendered_from = self._renderer.spent
        async with self._uow() as uow:
            now = utcnow()
            claimed = await uow.runs.claim_due(now, self._settings.batch_size)
            touched: list[RunState] = []
            for run in claimed.values():
                due = sorted(
                    (st for st in run.steps.values() if st.due_at is not None and st.due_at <= now),
                    key=lambda st: st.due_at or now,
                )
                changed = 0
                for state in due:
                    before = len(run.events)
                    request = await self._handle_due(uow, run, state.step_id, now, capacity - len(dispatch) > 0)
                    if request is not None:
                        dispatch.append(request)
                    changed += len(run.events) > before  # every transition records at least one event
                if changed:
                    handled += changed
                    touched.append(run)
            if touched:
                await self._transitions.commit(uow, touched, now)
        for request in dispatch:
            self._spawn(request)
        return handled

    async def _handle_due(
        self, uow: RunsUnitOfWork, run: RunState, step_id: str, now: dt.datetime, can_dispatch: bool
    ) -> StepRequest | None:
        state = run.steps.get(step_id)
        if state is None or state.due_at is None or state.due_at > now or run.status.final:
            return None
        spec = run.spec.step(step_id)
        if state.status is StepStatus.WAITING:  # a checkpoint's timer: reminder, escalation level or expiry
            await checkpoint_timers.fire(uow, run, spec, now, self._expire_checkpoint)
            return None
        if self._rendered_enough(step_sources(run, spec)):
            return None  # leave it due for the next transaction
        if state.status is StepStatus.RUNNING:  # lease expired: the previous owner is gone or stalled
            attempt = machine.take_over(run, step_id, self.worker_id, now, self.lease)
            log.warning("took over step", run=run.name, step=step_id, attempt=attempt)
            return await self._request(run, spec, attempt, now)
        if state.status is not StepStatus.READY:
            return None
        if spec.kind == "checkpoint":
            await self._open_checkpoint(run, spec, now)
            return None
        if spec.kind in BUILT_IN_KINDS:
            attempt = machine.claim(run, step_id, self.worker_id, now, self.lease)
            try:
                output = await self._built_in_output(run, spec)
            except TemplateRenderError as exc:
                machine.fail(run, step_id, attempt, self.worker_id, str(exc), now, retryable=False)
            else:
                machine.succeed(run, step_id, attempt, self.worker_id, output, now)
            return None
        if not can_dispatch:
            return None
        attempt = machine.claim(run, step_id, self.worker_id, now, self.lease)
        return await self._request(run, spec, attempt, now)

    def _rendered_enough(self, sources: list[str]) -> bool:
        """This tick's threaded renders took long enough, and these templates would need one more."""
        spent = self._renderer.spent - self._tick_rendered_from
        return spent >= TICK_RENDER_SECONDS and self._renderer.threaded(sources)

    async def _built_in_output(self, run: RunState, spec: StepSpec) -> Any:
        if spec.kind == "noop":
            return None
        limits = self._renderer.limits

        def output() -> str:
            return render_step_text(run, spec, render_inputs(run, spec, limits), limits)

        return await self._renderer.run(step_sources(run, spec), output)

    async def _request(self, run: RunState, spec: StepSpec, attempt: int, now: dt.datetime) -> StepRequest | None:
        limits = self._renderer.limits

        def rendered() -> tuple[dict[str, str], str]:
            inputs = render_inputs(run, spec, limits)
            return inputs, render_step_text(run, spec, inputs, limits)

        try:
            inputs, prompt = await self._renderer.run(step_sources(run, spec), rendered)
        except TemplateRenderError as exc:
            machine.fail(run, spec.id, attempt, self.worker_id, str(exc), now, retryable=False)
            return None
        agent = run.agents.get(spec.agent, {})
        reply, agent_context = machine.reply_for(run.steps[spec.id])
        return StepRequest(
            run=run.name,
            organization_slug=run.organization_slug,
            step_id=spec.id,
            attempt=attempt,
            idempotency_key=machine.idempotency_key(run, spec.id, attempt),
            agent_slug=spec.agent,
            agent=agent,
            prompt=prompt,
            inputs=inputs,
            credentials=spec.credentials,
            timeout_seconds=spec.timeout_seconds,
            reply=reply,
            agent_context=agent_context,
            revision=template_revision(run.steps[spec.id]),
            previous_context=dict(run.steps[spec.id].agent_context or {}),
        )

    async def _open_checkpoint(self, run: RunState, spec: StepSpec, now: dt.datetime) -> None:
        assert spec.checkpoint is not None
        block = spec.checkpoint
        limits = self._renderer.limits
        try:
            title, text, deliverables = await self._renderer.run(
                checkpoint_sources(block), lambda: render_checkpoint(run, block, limits)
            )
        except TemplateRenderError as exc:
            attempt = machine.claim(run, spec.id, self.worker_id, now, self.lease)
            machine.fail(run, spec.id, attempt, self.worker_id, str(exc), now, retryable=False)
            return
        due = now + dt.timedelta(seconds=block.due_in_seconds) if block.due_in_seconds else None
        checkpoint = NewCheckpoint(
            checkpoint_id=str(uuid.uuid4()),
            step_id=spec.id,
            title=title,
            context=text,
            deliverables=deliverables,
            assignees=block.assignees,
            role=block.role,
            due_at=due,
            on_expiry=block.on_expiry,
            revision=revision_count(run.steps[spec.id]),
            approvals_required=block.approvals_required,
            forbid_self_approval=(
                run.forbid_self_approval if block.forbid_self_approval is None else block.forbid_self_approval
            ),
            reason_codes=block.reason_codes,
            remind_before_seconds=block.remind_before_seconds,
            escalation=block.escalation,
        )
        machine.open_checkpoint(run, spec.id, checkpoint, now)

    async def _expire_checkpoint(self, uow: RunsUnitOfWork, run: RunState, spec: StepSpec, now: dt.datetime) -> None:
        """Apply the checkpoint's on_expiry: approve, reject, fail the run, or escalate (once) to a higher role."""
        state = run.steps[spec.id]
        record = await uow.checkpoints.get(state.checkpoint_id)
        if record is None:
            return
        expiry = record.on_expiry  # not the spec's: an escalated checkpoint rejects at its next expiry
        block = spec.checkpoint
        if expiry == "escalate" and block is not None and block.escalate_to and block.due_in_seconds:
            due = now + dt.timedelta(seconds=block.due_in_seconds)
            remind = routing.remind_at(due, record.remind_before_seconds)  # the reminder moves with the due time
            if await uow.checkpoints.escalate(state.checkpoint_id, block.escalate_to, due, remind):
                machine.escalate(run, spec.id, block.escalate_to, due, timer_at=remind)
            return
        recorded = await uow.checkpoints.record_decision(
            state.checkpoint_id, CheckpointStatus.EXPIRED, expiry, "", {}, "system", now
        )
        if not recorded:  # decided by a human in the meantime
            return
        # The same output shape as a human decision, so later steps read `payload`/`comment` either way.
        output: dict[str, Any] = {"comment": "", "payload": {}, "decided_by": "system"}
        if expiry == "approve":
            machine.decide(run, spec.id, Decision.APPROVE, output, now, expired=True)
        elif expiry == "fail_run":
            machine.fail_run_on_expiry(run, spec.id, now)
        else:
            machine.decide(run, spec.id, Decision.REJECT, output, now, expired=True)

    # --- agent steps ------------------------------------------------------------------------------------------------

    def _spawn(self, request: StepRequest) -> None:
        task = asyncio.create_task(self._execute(request), name=f"step {request.idempotency_key}")
        run_id = request.run.rsplit("/", 1)[-1]
        self._tasks.add(task)
        self._by_run.setdefault(run_id, set()).add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            tasks = self._by_run.get(run_id)
            if tasks is not None:
                tasks.discard(finished)
                if not tasks:
                    del self._by_run[run_id]

        task.add_done_callback(done)

    def _on_announcement(self, announcement: Announcement) -> None:
        """A run ended (cancelled, failed, completed — here or on another replica): stop its agent calls. Their
        results could not be recorded anyway (the fence refuses them); cancelling closes the agents' requests."""
        tasks = self._by_run.get(announcement.run_id)
        if tasks and RunStatus(announcement.run_status).final:
            log.info("run ended: cancelling its agent calls", run=announcement.run_id, calls=len(tasks))
            for task in tasks:
                task.cancel()

    async def _execute(self, request: StepRequest) -> None:
        run_id = request.run.rsplit("/", 1)[-1]
        stream = DeltaStream(self._transitions, self.worker_id, run_id, request, self._settings.delta_interval_seconds)
        asked: InputRequired | None = None
        answered_in: dict[str, Any] = {}
        try:
            call = self._executor.execute(request, stream.emit)
            result = await (asyncio.wait_for(call, request.timeout_seconds) if request.timeout_seconds else call)
        except TimeoutError:
            error, retryable, output = f"timed out after {request.timeout_seconds:g}s", True, None
        except InputRequired as exc:
            asked, error, retryable, output = exc, "", False, None
        except StepFailed as exc:
            error, retryable, output = exc.message, exc.retryable, None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an executor bug must not kill the engine; the step fails visibly
            log.exception("executor raised", step=request.idempotency_key)
            error, retryable, output = f"executor error: {type(exc).__name__}", True, None
        else:
            error, retryable, output = "", False, result.output
            answered_in = _agent_context(result.metadata)

        def report(run: RunState, now: dt.datetime) -> bool:
            stream.flush_into(run)
            if asked is not None:
                checkpoint = _input_checkpoint(request, asked.question)
                return machine.await_input(
                    run,
                    request.step_id,
                    request.attempt,
                    self.worker_id,
                    checkpoint,
                    asked.question,
                    asked.context,
                    now,
                )
            if error:
                return machine.fail(
                    run, request.step_id, request.attempt, self.worker_id, error, now, retryable=retryable
                )
            return machine.succeed(
                run, request.step_id, request.attempt, self.worker_id, output, now, agent_context=answered_in
            )

        try:
            # A database restart must not cost the agent call: keep trying to record its result for as long as the
            # lease lasts (heartbeats keep it while they can), then let another replica take the step over.
            async for attempt in self._recording_retries():
                with attempt:
                    await self._transitions.apply(run_id, report)
        except Exception:
            log.exception("could not record a step result; the lease will expire and the step be retried")

    def _recording_retries(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(is_connection_failure),
            wait=wait_exponential_jitter(multiplier=0.1, jitter=0.1, max=2.0),
            stop=stop_after_delay(self._settings.lease_seconds),
            reraise=True,
        )


def _agent_context(metadata: dict[str, Any]) -> dict[str, Any]:
    """The A2A task and context ids of an answer (kept so that a revision continues the same conversation)."""
    return {k: str(metadata[k]) for k in ("task_id", "context_id") if metadata.get(k)}


def _input_checkpoint(request: StepRequest, question: str) -> NewCheckpoint:
    return NewCheckpoint(
        checkpoint_id=str(uuid.uuid4()),
        step_id=request.step_id,
        title=f"{request.agent_slug} needs input",
        context=question,
        deliverables=(),
        assignees=(),
        role="approver",
        due_at=None,
        on_expiry="reject",
    )
