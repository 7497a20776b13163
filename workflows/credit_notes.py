"""Credit notes for refunds of invoice orders: the subscription issues one credit note per refund its
invoice orders report (``workflows/refund_reports.py``). Workflow code (rules in ``billing/credit_notes.py``).

The ``order_refunded`` handler checks the note against the
invoice (paid, never more than collected, counting notes in flight) before it takes a number, so a refused
report leaves no gap in the series; then allocates the number for the note's document id (the same id, the
same number), stores the note, confirms the number and announces ``credit_note.created``. A report for a
refund that already has a note, stored or in flight, gives nothing new.
"""

from __future__ import annotations

from billing import events
from billing.credit_notes import (
    CREDIT_NOTE_CREATED,
    RefundReport,
    credit_note_data,
    credit_note_id,
    invoice_of_order,
    refund_credit_note,
)
from billing.errors import InputError
from billing.invoices import CREDIT_NOTE_SERIES, CreditNote
from billing.subscriptions import SubscriptionInput
from workflows.common import clock_now
from workflows.subscription_invoicing import Invoicing


class CreditNotes(Invoicing):
    """Credit notes of a subscription's invoices, one per refund an invoice order reported."""

    def __init__(self, start: SubscriptionInput) -> None:
        super().__init__(start)
        #: Notes checked and waiting for their number, by document id (they count against the invoice).
        self._crediting: dict[str, CreditNote] = {}

    def credit_notes(self) -> list[CreditNote]:
        return self.sub.credit_notes

    async def order_refunded(self, report: RefundReport) -> None:
        sub, now = self.sub, clock_now()
        document_id = credit_note_id(report.order_id, report.refund_id)
        if document_id in self._crediting or any(n.credit_note_id == document_id for n in sub.credit_notes):
            sub.note(now, "credit_note", f"refund {report.refund_id} of {report.order_id}: already credited")
            return
        try:
            invoice = invoice_of_order(sub.invoices, report.order_id)
            # Checked before a number is taken: a refused note leaves no gap in the series.
            pending = refund_credit_note(invoice, [*sub.credit_notes, *self._crediting.values()], report, at=now)
        except InputError as exc:
            sub.note(now, "credit_note", f"refund {report.refund_id} of {report.order_id}: none: {exc}")
            return
        self._crediting[document_id] = pending
        try:
            allocated = await self._allocate(document_id, CREDIT_NOTE_SERIES)
        finally:
            del self._crediting[document_id]
        note = pending.model_copy(update={"number": allocated.number})
        sub.credit_notes.append(note)
        sub.note(
            clock_now(), "credit_note", f"{note.number} on {note.invoice_number}: {report.amount} ({report.refund_id})"
        )
        await self._confirm(allocated, document_id)
        self.events.log.announce(
            f"credit-note:{document_id}",
            "created",
            CREDIT_NOTE_CREATED,
            lambda: credit_note_data(events.subscription_data(sub), note),
            clock_now(),
        )
        self.events.kick()
