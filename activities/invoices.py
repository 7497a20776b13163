"""Invoice numbers: the ``invoices.allocate`` activity asks the merchant's ``InvoiceSequenceWorkflow`` for one.

The sequence workflow (``workflows/invoice_sequence.py``) hands out gap-free numbers, idempotently per
document id; this activity asks with signal-with-start (starting it on the activity's own task queue if it
does not run yet) and reads the number with its ``number_of`` query. Asking again for the same id returns the same
number, so a retried or replayed allocation never takes a second one. The calling workflow confirms the
number once it stored it on the document: ``invoices.confirm`` signals ``confirm`` to the sequence.

Subscriptions run ``invoices.allocate`` as a local activity first, with ``wait_s`` set: it then asks with
an Update (update-with-start, one round trip), waits at most that long for the sequence's answer and fails
with :data:`NUMBER_NOT_READY` otherwise, so a workflow task never holds its worker's slot for long; the
workflow then asks again through the ordinary activity, which waits as long as it takes (the same id, the
same number). The numbers a worker's tasks ask one sequence for at once travel together
(:class:`SequenceBatches`): the server runs at most a few Updates of one workflow at a time (10 by default)
and refuses more, so one Update per number would queue a burst of renewals behind the server's retries.
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
    SEQUENCE_MAX_BATCH,
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


class SequenceBatches:
    """The numbers this worker process asks sequences for, sent together: each sequence gets at most
    :data:`IN_FLIGHT` ``allocate_many`` Updates at once, each carrying every id asked since the one before
    (at most ``SEQUENCE_MAX_BATCH``). A caller that stops waiting (its bound ran out) leaves its id in the batch: the
    sequence numbers it, and asking again answers that number."""

    #: ``allocate_many`` Updates to one sequence in flight at once from this process.
    IN_FLIGHT = 2

    def __init__(self, client: Client) -> None:
        self.client = client
        #: Per sequence: the ids not sent yet, each with the future its callers wait on.
        self._waiting: dict[str, dict[str, asyncio.Future[int]]] = {}
        self._in_flight: dict[str, int] = {}
        self._senders: set[asyncio.Task[None]] = set()
        #: Updates sent (``allocate_many``), for tests and benchmarks.
        self.updates = 0

    async def number(self, workflow_id: str, document_id: str, task_queue: str) -> int:
        waiting = self._waiting.setdefault(workflow_id, {})
        future = waiting.get(document_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # Read, so that a batch failed after its callers stopped waiting logs nothing.
            future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
            waiting[document_id] = future
            if self._in_flight.get(workflow_id, 0) < self.IN_FLIGHT:
                self._in_flight[workflow_id] = self._in_flight.get(workflow_id, 0) + 1
                sender = asyncio.create_task(self._send(workflow_id, task_queue))
                self._senders.add(sender)
                sender.add_done_callback(self._senders.discard)
        return await asyncio.shield(future)

    async def _send(self, workflow_id: str, task_queue: str) -> None:
        try:
            while waiting := self._waiting.get(workflow_id):
                batch = dict(list(waiting.items())[:SEQUENCE_MAX_BATCH])
                for document_id in batch:
                    del waiting[document_id]
                if not waiting:
                    del self._waiting[workflow_id]
                await self._allocate(workflow_id, task_queue, batch)
        finally:
            self._in_flight[workflow_id] -= 1
            if not self._in_flight[workflow_id]:
                del self._in_flight[workflow_id]

    async def _allocate(self, workflow_id: str, task_queue: str, batch: dict[str, asyncio.Future[int]]) -> None:
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            SEQUENCE_WORKFLOW,
            SequenceState(),
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        self.updates += 1
        try:
            numbers: list[int] = await self.client.execute_update_with_start_workflow(
                "allocate_many", list(batch), start_workflow_operation=operation, result_type=list[int]
            )
        except Exception as exc:  # every caller of the batch gets the error (and asks again)
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for future, number in zip(batch.values(), numbers, strict=True):
            if not future.done():
                future.set_result(number)


class InvoiceActivities:
    def __init__(self, client: Client, merchant: str, waits: LocalWaits | None = None) -> None:
        self.client = client
        self.merchant = merchant
        #: The worker's bounded waits (``wait_s``, a workflow task's local activity), shared with the balance's.
        self.waits = waits or LocalWaits()
        self.batches = SequenceBatches(client)

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
            task_queue = ledger_task_queue(activity.info().task_queue)
            sequence = await self.waits.bounded(
                lambda: self.batches.number(workflow_id, call.document_id, task_queue), call.wait_s,
                f"the number of {call.document_id}", error_type=NUMBER_NOT_READY,
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
