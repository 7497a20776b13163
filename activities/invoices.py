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
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.local_waits import LocalWaits
from billing.invoices import (
    INVOICE_SERIES,
    SERIES_PREFIXES,
    InvoiceNumber,
    SequenceState,
    document_number,
    sequence_workflow_id,
)
from billing.queues import ledger_task_queue

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


class InvoiceActivities:
    def __init__(self, client: Client, merchant: str, waits: LocalWaits | None = None) -> None:
        self.client = client
        self.merchant = merchant
        #: The worker's bounded waits (``wait_s``, a workflow task's local activity), shared with the balance's.
        self.waits = waits or LocalWaits()

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
            sequence = await self.waits.bounded(
                lambda: self._updated(workflow_id, call.document_id), call.wait_s, f"the number of "
                f"{call.document_id}", error_type=NUMBER_NOT_READY,
            )  # fmt: skip
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
            task_queue=ledger_task_queue(activity.info().task_queue),
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
            task_queue=ledger_task_queue(activity.info().task_queue),
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
