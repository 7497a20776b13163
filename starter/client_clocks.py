"""Test clocks in the Python client (``billing.clocks``): create, show, advance, and attaching a subscription.

:class:`ClockCommands` is part of :class:`starter.client.BillingClient`. ``advance`` drives the steps: it
tells every attached subscription the clock's time (``SubscriptionWorkflow.clock_sync``, answered once the
run is idle again with its next due time), moves the clock to the earliest due time (or the target), and
repeats until the target is reached and every attached run caught up with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing import errors
from billing.clocks import (
    AttachToClock,
    ClockPosition,
    ClockStart,
    ClockState,
    ClockStep,
    ClockSync,
    MoveClock,
    check_advance,
    clock_workflow_id,
    require_test_clocks,
)
from billing.orders import CancelRequest, order_workflow_id
from billing.subscriptions import ENGINE_MODES, StartSubscription
from workflows.clocks import SimulatedClockWorkflow
from workflows.order import OrderWorkflow
from workflows.subscription import SubscriptionWorkflow

#: How long one attached subscription may take to catch up with one step (its invoice order settling).
STEP_WAIT = timedelta(minutes=2)


def _raise_clock_error(exc: WorkflowUpdateFailedError, clock_id: str) -> NoReturn:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in {"InputError", "InvalidStateError"}:
        cls = errors.InvalidStateError if cause.type == "InvalidStateError" else errors.InputError
        field = cause.details[0] if cause.details and isinstance(cause.details[0], str) else None
        raise cls(cause.message, field=field) from exc
    raise errors.BillingError(f"test clock {clock_id}: {cause or exc}") from exc


class ClockCommands:
    """Test clocks: only where ``BILLING_TEST_CLOCKS=enabled`` (the worker's providers are the emulators)."""

    temporal: Client
    task_queue: str

    async def create_test_clock(self, *, clock_id: str | None = None, start: datetime | None = None) -> ClockState:
        """A new clock at ``start`` (None: now). Idempotent by ``clock_id``: an existing clock is returned."""
        require_test_clocks()
        request = ClockStart(clock_id=clock_id or f"clk-{uuid.uuid4().hex[:12]}", start=start)
        operation = WithStartWorkflowOperation(
            SimulatedClockWorkflow.run,
            request,
            id=clock_workflow_id(request.clock_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Test clock {request.clock_id}",
        )
        try:
            state: ClockState = await self.temporal.execute_update_with_start_workflow(
                SimulatedClockWorkflow.current, start_workflow_operation=operation
            )
        except WorkflowUpdateFailedError as exc:
            _raise_clock_error(exc, request.clock_id)
        return state

    async def get_test_clock(self, clock_id: str) -> ClockState:
        try:
            state: ClockState = await self.temporal.get_workflow_handle(clock_workflow_id(clock_id)).query(
                SimulatedClockWorkflow.show
            )
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no test clock {clock_id}", field="test_clock") from exc
            raise
        return state

    async def attach_to_clock(self, clock_id: str, request: StartSubscription, workflow_id: str) -> datetime:
        """Register a subscription about to start with the clock; the clock's time, where the run starts."""
        require_test_clocks(field="test_clock")
        if request.mode not in ENGINE_MODES:
            raise errors.InvalidStateError(
                f"only engine-billed subscriptions follow a test clock; {request.mode.value} billing runs on the "
                "provider's own calendar",
                field="test_clock",
            )
        state = await self._clock_update(
            clock_id, SimulatedClockWorkflow.attach, AttachToClock(workflow_id=workflow_id)
        )
        return state.now

    async def advance_test_clock(
        self,
        clock_id: str,
        to: datetime,
        *,
        progress: Callable[[ClockStep], None] | None = None,
        step_wait: timedelta = STEP_WAIT,
    ) -> ClockState:
        """Move the clock to ``to`` through every due time of its subscriptions, in order; returns once every
        attached subscription caught up with ``to`` (idle: waiting for a later time, or ended)."""
        state = await self.get_test_clock(clock_id)
        check_advance(state, to)
        while True:
            step = await self._sync_all(state, step_wait)
            if progress is not None:
                progress(step)
            if state.now >= to:
                return state
            ahead = [when for when in step.due.values() if when is not None and when > state.now]
            state = await self._clock_update(clock_id, SimulatedClockWorkflow.move, MoveClock(to=min([*ahead, to])))

    async def _sync_all(self, state: ClockState, step_wait: timedelta) -> ClockStep:
        """Every attached run caught up with ``state.now``: its next due time (None: nothing more due)."""
        positions = await asyncio.gather(
            *(self._sync(workflow_id, state.now, step_wait) for workflow_id in state.attached)
        )
        known = [(workflow_id, p) for workflow_id, p in zip(state.attached, positions, strict=True) if p]
        return ClockStep(
            now=state.now,
            due={workflow_id: p.next_due for workflow_id, p in known},
            awaiting={workflow_id: p.awaiting_order for workflow_id, p in known if p.awaiting_order},
        )

    async def _close_unpaid(self, order_id: str, due: datetime) -> None:
        """The invoice's payment window ended in clock time: cancel its order (at the provider too), as the
        order's own window would have. Paid or closed meanwhile: its own outcome stands."""
        handle = self.temporal.get_workflow_handle(order_workflow_id(order_id))
        reason = f"payment window ended at {due.isoformat()} (test clock)"
        with contextlib.suppress(WorkflowUpdateFailedError):
            await handle.execute_update(OrderWorkflow.cancel, CancelRequest(reason=reason))

    async def _sync(self, workflow_id: str, now: datetime, step_wait: timedelta) -> ClockPosition | None:
        handle = self.temporal.get_workflow_handle(workflow_id)
        while True:
            try:
                description = await handle.describe()
            except RPCError as exc:
                if exc.status is RPCStatusCode.NOT_FOUND:
                    return None  # attached, but never started (its creation was refused)
                raise
            if description.raw_description.workflow_execution_info.status != (
                WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
            ):
                return None
            try:
                position: ClockPosition = await asyncio.wait_for(
                    handle.execute_update(SubscriptionWorkflow.clock_sync, ClockSync(now=now)),
                    step_wait.total_seconds(),
                )
            except TimeoutError:
                raise errors.WorkflowBusyError(
                    f"{workflow_id} did not catch up with the test clock at {now.isoformat()} within {step_wait} "
                    "(an invoice waiting for the customer's payment?); the clock stays there: pay or fail the "
                    "invoice on the emulator, then advance again"
                ) from None
            except WorkflowUpdateFailedError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError) and cause.type == errors.InvalidStateError.__name__:
                    return None  # not attached: it existed before it was named with this clock
                if "completed" in str(cause or exc).lower():
                    continue  # it ended or continued as new meanwhile: look again
                raise
            if position.handed_over:
                await asyncio.sleep(0.1)  # its next run takes over: ask that one
                continue
            if position.awaiting_order and position.next_due is not None and position.next_due <= now:
                await self._close_unpaid(position.awaiting_order, position.next_due)
                continue  # the run learns the order's end, and goes on (a dunning retry, say)
            return position if not position.finished else ClockPosition(now=position.now)

    async def _clock_update(self, clock_id: str, update: Any, argument: Any) -> ClockState:
        handle = self.temporal.get_workflow_handle(clock_workflow_id(clock_id))
        try:
            state: ClockState = await handle.execute_update(update, argument)
        except WorkflowUpdateFailedError as exc:
            _raise_clock_error(exc, clock_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise errors.NotFoundError(f"no test clock {clock_id}", field="test_clock") from exc
            raise
        return state
