"""Invoice numbers: the ``invoices.allocate`` activity asks the merchant's ``InvoiceSequenceWorkflow`` for one.

The sequence workflow (``workflows/invoice_sequence.py``) hands out gap-free numbers, idempotently per
document id; this activity asks with signal-with-start (starting it on the activity's own task queue if it
does not run yet) and reads the number with its ``number_of`` query. Asking again for the same id returns the same
number, so a retried or replayed allocation never takes a second one. The calling workflow confirms the
number once it stored it on the document: ``invoices.confirm`` signals ``confirm`` to the sequence.

Subscriptions run ``invoices.allocate`` as a local activity first, with ``wait_s`` set: it then asks with
the ``allocate`` Update (update-with-start, one round trip), waits at most that long for the sequence's
answer and fails with :data:`NUMBER_NOT_READY` otherwise, so a workflow task never holds its worker's slots
for long while the sequence (on the same task queue) waits for one; the workflow then asks again through
the ordinary activity, which waits as long as it takes (the same id, the same number).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing.invoices import (
    INVOICE_SERIES,
    SERIES_PREFIXES,
    InvoiceNumber,
    SequenceState,
    document_number,
    sequence_workflow_id,
)

SEQUENCE_WORKFLOW = "InvoiceSequenceWorkflow"
#: The error type of an allocation whose ``wait_s`` ran out before the sequence answered.
NUMBER_NOT_READY = "NumberNotReady"


class AllocateNumber(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The document's own id; the same id always gets the same number.
    document_id: str = Field(min_length=1, max_length=128)
    series: str = INVOICE_SERIES
    #: At most this long waiting for the sequence's answer (a local activity's bound); None: until it answers.
    wait_s: float | None = Field(default=None, gt=0)


class ConfirmNumber(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence_workflow_id: str
    document_id: str


#: At most this many workflow tasks of one worker wait for a number at once (``local_number_waits``).
LOCAL_WAITS_CAP = 16


def local_number_waits(max_cached_workflows: int, workflow_task_slots: int) -> int:
    """How many workflow tasks may wait for a number at once on a worker: a quarter of its cache and of its
    workflow task slots (at most :data:`LOCAL_WAITS_CAP`), so the sequence, which needs one of each to answer,
    and the other workflows always find one. Zero (every number through the ordinary activity) for a worker
    whose cache holds fewer than four runs."""
    return max(0, min(LOCAL_WAITS_CAP, max_cached_workflows // 4, workflow_task_slots // 4))


class InvoiceActivities:
    def __init__(self, client: Client, merchant: str, local_waits: int = LOCAL_WAITS_CAP) -> None:
        self.client = client
        self.merchant = merchant
        #: Bounded waits (``wait_s``, a workflow task's local activity) allowed at once on this worker.
        self.local_waits = local_waits
        self._waiting = 0

    def all(self) -> list[Callable[..., object]]:
        return [self.allocate, self.confirm]

    @activity.defn(name="invoices.allocate")
    async def allocate(self, call: AllocateNumber) -> InvoiceNumber:
        if call.series not in SERIES_PREFIXES:
            raise ValueError(f"series: unknown series {call.series!r}")
        workflow_id = sequence_workflow_id(self.merchant, call.series)
        if call.wait_s is None:
            sequence = await self._requested(workflow_id, call.document_id)
        else:
            if self._waiting >= self.local_waits:
                # Enough workflow tasks of this worker wait already: this one lets its slot go at once.
                raise ApplicationError(
                    f"{self._waiting} numbers already awaited in workflow tasks here",
                    type=NUMBER_NOT_READY,
                    non_retryable=True,
                )
            self._waiting += 1
            try:
                sequence = await asyncio.wait_for(self._updated(workflow_id, call.document_id), call.wait_s)
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                # An Update accepted stays with the sequence: asking again for this id answers the same number
                # (one never accepted numbered nothing).
                raise ApplicationError(
                    f"no number for {call.document_id} within {call.wait_s:g} s",
                    type=NUMBER_NOT_READY,
                    non_retryable=True,
                ) from None
            finally:
                self._waiting -= 1
        return InvoiceNumber(
            merchant=self.merchant,
            series=call.series,
            sequence=sequence,
            number=document_number(call.series, sequence),
            sequence_workflow_id=workflow_id,
        )

    async def _requested(self, workflow_id: str, document_id: str) -> int:
        """Signal-with-start, then read the number: the same idempotent allocation as the ``allocate`` Update."""
        handle = await self.client.start_workflow(
            SEQUENCE_WORKFLOW,
            SequenceState(),
            id=workflow_id,
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="request",
            start_signal_args=[document_id],
        )
        return await self._number_of(handle, document_id)

    async def _updated(self, workflow_id: str, document_id: str) -> int:
        """The ``allocate`` Update with start: one round trip, answered with the sequence's next workflow task
        (a bounded wait polls nothing: many waiting at once would otherwise load the sequence with queries)."""
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            SEQUENCE_WORKFLOW,
            SequenceState(),
            id=workflow_id,
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        number: int = await self.client.execute_update_with_start_workflow(
            "allocate", document_id, start_workflow_operation=operation, result_type=int
        )
        return number

    @staticmethod
    async def _number_of(handle: WorkflowHandle[Any, Any], document_id: str) -> int:
        """The number once the sequence applied the request; the activity's timeout bounds the wait."""
        while True:
            number: int | None = await handle.query("number_of", document_id, result_type=int | None)  # type: ignore[arg-type]
            if number is not None:
                return number
            await asyncio.sleep(0.05)

    @activity.defn(name="invoices.confirm")
    async def confirm(self, call: ConfirmNumber) -> bool:
        """Tell the sequence the number is stored with its document. False: no sequence runs under that id
        (nothing to confirm to: a confirmation only lets the sequence forget the id sooner)."""
        try:
            await self.client.get_workflow_handle(call.sequence_workflow_id).signal("confirm", call.document_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
