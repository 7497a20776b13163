"""InvoiceSequenceWorkflow: gap-free, never-reused invoice numbers for one merchant and series.

``allocate(invoice_id)`` (an Update) hands out the next number, ``allocate_many(invoice_ids)`` one for each id
in one Update; asking again with the same invoice id returns the same number, so a caller that crashes
between allocation and use asks again and gets no gap and no second number. ``request(invoice_id)`` (a
signal, for signal-with-start callers) allocates the same way; such callers read the number with the
``number_of`` query. ``confirm(invoice_id)`` (a signal) says the number is stored on the invoice.

Bounded memory rule: at continue-as-new, confirmed ids are dropped and unconfirmed ones carried over. A
caller confirms only after the number is durably stored with its invoice, and from then on reads the
number from the invoice, never from the sequence: so every id that may still be asked for is kept.
"""

from __future__ import annotations

from temporalio import workflow

from billing.invoices import SEQUENCE_HISTORY_LIMIT as HISTORY_LIMIT
from billing.invoices import SEQUENCE_MAX_BATCH as MAX_BATCH
from billing.invoices import SequenceState, sequence_workflow_id
from workflows.common import ledger_queue_to_continue_on

__all__ = ["HISTORY_LIMIT", "MAX_BATCH", "InvoiceSequenceWorkflow", "SequenceState", "sequence_workflow_id"]


@workflow.defn
class InvoiceSequenceWorkflow:
    @workflow.init
    def __init__(self, state: SequenceState) -> None:
        # The input is taken here, not in run: updates delivered with the first task run before run does.
        self._last = state.last
        self._pending: dict[str, int] = dict(state.pending)
        self._history_limit = state.history_limit
        self._confirmed: set[str] = set()

    @workflow.run
    async def run(self, state: SequenceState) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().get_current_history_length() > self._history_limit
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        pending = tuple((k, v) for k, v in self._pending.items() if k not in self._confirmed)
        workflow.continue_as_new(
            SequenceState(last=self._last, pending=pending, history_limit=self._history_limit),
            task_queue=ledger_queue_to_continue_on(),
        )

    @workflow.update
    def allocate(self, invoice_id: str) -> int:
        return self._number(invoice_id)

    @workflow.update
    def allocate_many(self, invoice_ids: list[str]) -> list[int]:
        """``allocate`` for each id, in order, in one Update: a worker sends the numbers its workflow tasks
        ask for at once together (the server runs at most a few Updates of one workflow at a time)."""
        return [self._number(invoice_id) for invoice_id in invoice_ids]

    @allocate_many.validator
    def _check_many(self, invoice_ids: list[str]) -> None:
        if not invoice_ids or len(invoice_ids) > MAX_BATCH:
            raise ValueError(f"invoice_ids: must be 1 to {MAX_BATCH} ids")
        for invoice_id in invoice_ids:
            self._check(invoice_id)

    def _number(self, invoice_id: str) -> int:
        known = self._pending.get(invoice_id)
        if known is not None:
            return known
        self._last += 1
        self._pending[invoice_id] = self._last
        return self._last

    @workflow.signal
    def request(self, invoice_id: str) -> None:
        """``allocate`` as a signal (signal-with-start), for callers that then read ``number_of``: the same
        idempotent allocation. An id the validator would refuse is ignored (it is never numbered)."""
        try:
            self._check(invoice_id)
        except ValueError:
            return
        self._number(invoice_id)

    @workflow.query
    def number_of(self, invoice_id: str) -> int | None:
        """The number allocated to ``invoice_id`` and not confirmed yet; None if there is none."""
        return self._pending.get(invoice_id)

    @allocate.validator
    def _check(self, invoice_id: str) -> None:
        if not invoice_id or len(invoice_id) > 128:
            raise ValueError("invoice_id: must be 1 to 128 characters")

    @workflow.signal
    def confirm(self, invoice_id: str) -> None:
        if invoice_id in self._pending:
            self._confirmed.add(invoice_id)

    @workflow.query
    def last(self) -> int:
        return self._last
