"""Customer balance movements asked by workflows: the ``balance.credit`` and ``balance.apply_up_to`` activities.

Each asks the customer's ``CustomerBalanceWorkflow`` (``workflows/balance.py``) with update-with-start, on the
activity's own task queue, for the worker's merchant. A movement is idempotent by its reference (a
downgrade's ``downgrade:<subscription>:g<generation>``, an invoice's id), so a retried activity, or one whose
answer was lost, moves nothing twice: asking again answers the entry recorded the first time.

Subscriptions started with the memo feature ``balance-waits-bounded`` ask as a local activity with ``wait_s``
set: the wait is bounded and counted with the worker's other such waits (``activities.local_waits``), and on
``NotReady`` the workflow asks again through the ordinary activity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.errors import to_application_error
from activities.local_waits import LocalWaits
from billing.balance import BalanceChange, BalanceState, LedgerEntry, MovementKind, balance_workflow_id
from billing.errors import ERRORS, InputError
from billing.queues import ledger_task_queue

BALANCE_WORKFLOW = "CustomerBalanceWorkflow"


class BalanceCall(BaseModel):
    """One movement on a customer's balance (the worker's merchant)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    change: BalanceChange
    #: At most this long waiting for the balance's answer (a workflow task's local activity,
    #: ``activities.local_waits``); None: until it answers.
    wait_s: float | None = Field(default=None, gt=0)


class BalanceActivities:
    def __init__(self, client: Client, merchant: str, waits: LocalWaits | None = None) -> None:
        self.client = client
        self.merchant = merchant
        #: The worker's bounded waits, shared with the invoice numbers'.
        self.waits = waits or LocalWaits()

    def all(self) -> list[Callable[..., object]]:
        return [self.credit, self.apply_up_to]

    @activity.defn(name="balance.credit")
    async def credit(self, call: BalanceCall) -> LedgerEntry:
        return await self._move(MovementKind.CREDIT, call)

    @activity.defn(name="balance.apply_up_to")
    async def apply_up_to(self, call: BalanceCall) -> LedgerEntry:
        return await self._move(MovementKind.APPLY_UP_TO, call)

    async def _move(self, kind: MovementKind, call: BalanceCall) -> LedgerEntry:
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            BALANCE_WORKFLOW,
            BalanceState(merchant=self.merchant, customer_id=call.customer_id),
            id=balance_workflow_id(self.merchant, call.customer_id),
            task_queue=ledger_task_queue(activity.info().task_queue),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Credit balance of customer `{call.customer_id}`",
        )

        async def moved() -> LedgerEntry:
            entry: LedgerEntry = await self.client.execute_update_with_start_workflow(
                kind.value, call.change, start_workflow_operation=operation, result_type=LedgerEntry
            )
            return entry

        try:
            if call.wait_s is None:
                return await moved()
            return await self.waits.bounded(moved, call.wait_s, f"the balance of {call.customer_id}")
        except WorkflowUpdateFailedError as exc:
            raise to_application_error(refusal(exc)) from exc


def refusal(exc: WorkflowUpdateFailedError) -> InputError:
    """The balance refused the movement (a conflicting reference, bad input): the same InputError class,
    field named, so asking again (which would change nothing) is not retried."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        cls = ERRORS.get(cause.type or "")
        field = cause.details[0] if cause.details and isinstance(cause.details[0], str) else None
        if cls is not None and issubclass(cls, InputError):
            return cls(cause.message, field=field)
    return InputError(f"refused by the balance: {cause or exc}")
