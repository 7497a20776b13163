"""Credit notes for refunds: what a refunded invoice order reports, and the credit note it gives. Pure.

When a refund of an order that collected an invoice SUCCEEDS, the order reports it to the workflow that
issued it (:class:`RefundReport`, signal ``order_refunded``); the subscription gives one credit note per
refund, under a number of the merchant's gap-free credit-note series (``CN-000001``; the same
``InvoiceSequenceWorkflow`` machinery as invoices, series ``credit-notes``). A refund whose outcome is
unknown, pending or failed is never reported: nothing was given back (yet).

* **Once per refund.** The credit note's document id is :func:`credit_note_id` (order id and refund id):
  the number is allocated once per id, and a report for an id that has a credit note (a redelivery, a
  report repeated after a continue-as-new) gives nothing new.
* **Never more than collected.** :func:`refund_credit_note` builds the note with
  :func:`billing.invoices.credit_note`, which refuses a note that would take the invoice's notes past its
  ``amount_paid`` (``InputError`` naming ``amount``) or a note on an invoice that is not paid. The order
  already refuses a refund larger than what is refundable; this is the invoice's own guard.
* **Lines.** One line: the invoice's first charge line (its kind, dates and description), for the amount
  refunded, with the exact fraction of what the invoice collected as its quantity (1/1 for a full refund).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.errors import InvalidAmountError, NotFoundError
from billing.invoices import CreditNote, Invoice, InvoiceLine, LineKind, credit_note
from billing.money import Money

__all__ = [
    "CREDIT_NOTE_CREATED",
    "ORDER_REFUNDED_SIGNAL",
    "RefundReport",
    "credit_note_data",
    "credit_note_id",
    "invoice_of_order",
    "refund_credit_note",
]

#: The signal an invoice order sends its issuer for each SUCCEEDED refund.
ORDER_REFUNDED_SIGNAL = "order_refunded"
#: The merchant event that announces a credit note.
CREDIT_NOTE_CREATED = "credit_note.created"
#: Placeholder number of a credit note checked before its number is allocated.
UNNUMBERED = "CN-unnumbered"
_DOCUMENT_ID_LIMIT = 128


class RefundReport(BaseModel):
    """What an invoice order tells its issuer about one refund that SUCCEEDED."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str = Field(min_length=1, max_length=128)
    refund_id: str = Field(min_length=1, max_length=128)
    amount: Money
    reason: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _positive(self) -> RefundReport:
        if not self.amount.is_positive():
            raise InvalidAmountError(f"a refund gives back a positive amount, got {self.amount}", field="amount")
        return self


def credit_note_id(order_id: str, refund_id: str) -> str:
    """The credit note's document id: one per refund of an order (its number is allocated once per id)."""
    document = f"{order_id}:{refund_id}"
    if len(document) <= _DOCUMENT_ID_LIMIT:
        return document
    # Long ids: the refund id is shortened to a digest, still one document id per refund.
    return f"{order_id}:h{hashlib.sha256(refund_id.encode()).hexdigest()[:32]}"


def invoice_of_order(invoices: list[Invoice], order_id: str) -> Invoice:
    """The invoice ``order_id`` collected (its latest attempt's order); NotFoundError naming ``order_id``."""
    found = next((i for i in invoices if i.order_id == order_id), None)
    if found is None:
        raise NotFoundError(f"no invoice was collected by order {order_id}", field="order_id")
    return found


def _refund_line(invoice: Invoice, amount: Money) -> InvoiceLine:
    charged = next(
        (line for line in invoice.lines if line.kind not in (LineKind.PRORATION_CREDIT, LineKind.DISCOUNT)),
        invoice.lines[0],
    )
    kind = charged.kind if charged.kind is not LineKind.CREDIT_APPLIED else LineKind.ONE_TIME
    return InvoiceLine(
        kind=kind,
        description=f"Refund of {invoice.number}: {charged.description}"[:500],
        period_start=charged.period_start,
        period_end=charged.period_end,
        numerator=amount.amount_minor,
        denominator=max(invoice.amount_paid, 1),
        amount=amount,
    )


def refund_credit_note(
    invoice: Invoice,
    existing: list[CreditNote],
    report: RefundReport,
    *,
    number: str = UNNUMBERED,
    at: datetime | None = None,
) -> CreditNote:
    """The credit note of ``report`` against ``invoice``, given the invoice's ``existing`` notes (those in
    flight included). Raises what :func:`billing.invoices.credit_note` raises: InvalidStateError (the
    invoice is not paid), CurrencyMismatchError, InputError naming ``amount`` (more than collected)."""
    note = credit_note(
        invoice,
        existing,
        number=number,
        lines=[_refund_line(invoice, report.amount)],
        reason=report.reason or f"refund {report.refund_id} of order {report.order_id}",
    )
    return note.model_copy(
        update={
            "credit_note_id": credit_note_id(report.order_id, report.refund_id),
            "invoice_id": invoice.invoice_id,
            "order_id": report.order_id,
            "refund_id": report.refund_id,
            "currency": invoice.currency,
            "created_at": at,
        }
    )


def credit_note_data(subscription: dict[str, Any], note: CreditNote) -> dict[str, Any]:
    """A credit note as its merchant event carries it (``credit_note.created``): ids and minor units only
    (not the reason: free text a merchant may have filled with personal data)."""
    return {
        **subscription,
        "credit_note": {
            "number": note.number,
            "credit_note_id": note.credit_note_id,
            "invoice_number": note.invoice_number,
            "invoice_id": note.invoice_id,
            "order_id": note.order_id,
            "refund_id": note.refund_id,
            "amount": note.amount,
            "currency": note.currency,
        },
    }
