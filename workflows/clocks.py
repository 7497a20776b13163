"""TestClockWorkflow: one test clock's simulated time and the subscription runs attached to it.

Workflow id ``test-clock-{clock_id}`` (``billing.clocks``). The clock only records: ``attach`` adds a
subscription workflow id (before that subscription starts), ``move`` sets the simulated time forward. The
client's ``advance`` drives the steps and tells each attached subscription the new time
(``SubscriptionWorkflow.clock_sync``). It has no timer: it waits for commands, and continues as new when
Temporal suggests it. Workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from activities.clocks import ClockActivities
from billing.clocks import MAX_ATTACHED, WORKER_REFUSED, AttachToClock, ClockStart, ClockState, MoveClock
from billing.errors import InputError, InvalidStateError
from workflows.common import clock_now, rejected


@workflow.defn(name="TestClockWorkflow")
class SimulatedClockWorkflow:
    @workflow.init
    def __init__(self, start: ClockStart) -> None:
        self.state = start.state or ClockState(clock_id=start.clock_id, now=start.start or clock_now())
        #: Whether the worker allows test clocks (None: not asked yet); a continued clock was allowed.
        self.permitted: bool | None = True if start.state is not None else None

    @workflow.run
    async def run(self, start: ClockStart) -> ClockState:
        if start.state is None:
            # The worker knows its providers: a clock is refused where they are not the emulators.
            self.permitted = await workflow.execute_activity_method(
                ClockActivities.permitted,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=5)),
                summary="test clocks allowed?",
            )
        if not self.permitted:
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.state
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(ClockStart(clock_id=self.state.clock_id, state=self.state))

    @workflow.update
    async def current(self) -> ClockState:
        """The clock as it is (for a client that starts it with this update), once the worker allowed it."""
        await self._allowed(None)
        return self.state

    @workflow.update
    async def attach(self, request: AttachToClock) -> ClockState:
        await self._allowed("test_clock")
        if request.workflow_id not in self.state.attached:
            self.state.attached.append(request.workflow_id)
            self._publish()
        return self.state

    @attach.validator
    def _validate_attach(self, request: AttachToClock) -> None:
        if request.workflow_id not in self.state.attached and len(self.state.attached) >= MAX_ATTACHED:
            raise rejected(InvalidStateError(f"at most {MAX_ATTACHED} subscriptions per clock", field="test_clock"))

    @workflow.update
    async def move(self, request: MoveClock) -> ClockState:
        await self._allowed(None)
        self.state.now = max(self.state.now, request.to)
        self._publish()
        return self.state

    @move.validator
    def _validate_move(self, request: MoveClock) -> None:
        if request.to < self.state.now:
            raise rejected(
                InputError(f"the clock is at {self.state.now.isoformat()}; it only moves forward", field="to")
            )

    @workflow.query
    def show(self) -> ClockState:
        return self.state

    async def _allowed(self, field: str | None) -> None:
        await workflow.wait_condition(lambda: self.permitted is not None)
        if not self.permitted:
            raise rejected(InvalidStateError(WORKER_REFUSED, field=field))

    def _publish(self) -> None:
        workflow.set_current_details(
            f"simulated time: {self.state.now.isoformat()}\n\n{len(self.state.attached)} subscription(s) attached"
        )
