"""Invoices and credit notes: pure, exact, integer minor units. No I/O, no clock, no Temporal.

An :class:`Invoice` is a list of :class:`InvoiceLine` in one currency. Its totals come from one function,
:func:`compute_totals`, and an invoice whose stated totals disagree with its lines is refused.

Rounding rule: a line is rounded once, when it is made (:func:`fractional_amount`, half to even, the same
rule as :mod:`billing.proration`); totals are exact integer sums of line amounts and are never rounded
again. A fractional quantity is an exact rational (numerator / denominator ints), never a float.

Signs: ``period``, ``proration_charge`` and ``one_time`` lines are >= 0; ``proration_credit``,
``discount`` and ``credit_applied`` lines are <= 0.

* subtotal = sum of period, proration and one-time lines
* discount = minus the sum of discount lines (a non-negative number)
* total = subtotal - discount (must not be negative: carry an excess credit to the customer balance)
* amount_due = total + credit_applied lines (must not be negative)

States never move backwards::

    draft -> open -> paid | void | uncollectible
    draft -> void
    uncollectible -> paid (the money arrived late: money wins) | void

A paid invoice is never voided (issue a credit note); a void one is never paid.

A :class:`CreditNote` gives back part of what a paid invoice collected; the credit notes of one invoice
together never exceed its ``amount_paid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.errors import CurrencyMismatchError, InputError, InvalidStateError
from billing.money import Money
from billing.proration import round_half_even

__all__ = [
    "CreditNote",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumber",
    "InvoiceState",
    "LineKind",
    "SequenceState",
    "Totals",
    "compute_totals",
    "credit_note",
    "fractional_amount",
    "sequence_workflow_id",
    "transition",
]

#: Series of document numbers, each its own gap-free sequence per merchant, and the prefix of its numbers.
INVOICE_SERIES = "invoices"
CREDIT_NOTE_SERIES = "credit-notes"
SERIES_PREFIXES = {INVOICE_SERIES: "INV", CREDIT_NOTE_SERIES: "CN"}
#: Continue the sequence workflow as new once its history passes this many events.
SEQUENCE_HISTORY_LIMIT = 2000
#: At most this many ids in one ``allocate_many`` Update of a sequence.
SEQUENCE_MAX_BATCH = 200


def sequence_workflow_id(merchant: str, series: str) -> str:
    """The one ``InvoiceSequenceWorkflow`` of a merchant and series."""
    return f"invoice-seq:{merchant}:{series}"


def document_number(series: str, sequence: int) -> str:
    """The printed number of the ``sequence``-th document of ``series``: ``INV-000042``, ``CN-000003``."""
    return f"{SERIES_PREFIXES.get(series, series.upper())}-{sequence:06d}"


@dataclass(frozen=True)
class SequenceState:
    """What one run of ``InvoiceSequenceWorkflow`` hands the next: the last number given and the
    (document id, number) pairs not yet confirmed."""

    last: int = 0
    pending: tuple[tuple[str, int], ...] = ()
    history_limit: int = SEQUENCE_HISTORY_LIMIT


class InvoiceNumber(BaseModel):
    """A number handed out for one document id (the ``invoices.allocate`` activity's answer)."""

    model_config = ConfigDict(frozen=True)

    merchant: str
    series: str
    sequence: int = Field(ge=1)
    number: str
    #: Where to confirm the number once it is stored with its document.
    sequence_workflow_id: str


class LineKind(StrEnum):
    PERIOD = "period"
    PRORATION_CREDIT = "proration_credit"
    PRORATION_CHARGE = "proration_charge"
    DISCOUNT = "discount"
    CREDIT_APPLIED = "credit_applied"
    ONE_TIME = "one_time"


_NON_POSITIVE = {LineKind.PRORATION_CREDIT, LineKind.DISCOUNT, LineKind.CREDIT_APPLIED}


class InvoiceState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


#: Allowed moves. Anything else (including every move out of PAID or VOID) is refused.
TRANSITIONS: dict[InvoiceState, frozenset[InvoiceState]] = {
    InvoiceState.DRAFT: frozenset({InvoiceState.OPEN, InvoiceState.VOID}),
    InvoiceState.OPEN: frozenset({InvoiceState.PAID, InvoiceState.VOID, InvoiceState.UNCOLLECTIBLE}),
    InvoiceState.UNCOLLECTIBLE: frozenset({InvoiceState.PAID, InvoiceState.VOID}),
    InvoiceState.PAID: frozenset(),
    InvoiceState.VOID: frozenset(),
}


def fractional_amount(unit: Money, numerator: int, denominator: int) -> Money:
    """``unit * numerator / denominator`` rounded half to even to the currency's minor unit."""
    if denominator <= 0:
        raise InputError("must be a positive integer", field="denominator")
    if numerator < 0:
        raise InputError("must not be negative", field="numerator")
    return Money(
        amount_minor=round_half_even(Fraction(unit.amount_minor * numerator, denominator)), currency=unit.currency
    )


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: LineKind
    description: str = Field(min_length=1, max_length=500)
    period_start: str | None = None
    period_end: str | None = None
    #: Exact fraction of the period or quantity this line covers (1/1 for a whole period).
    numerator: int = Field(default=1, ge=0)
    denominator: int = Field(default=1, ge=1)
    amount: Money

    @model_validator(mode="after")
    def _sign(self) -> Self:
        if self.kind in _NON_POSITIVE and self.amount.amount_minor > 0:
            raise InputError(f"a {self.kind.value} line must not be positive", field="amount")
        if self.kind not in _NON_POSITIVE and self.amount.amount_minor < 0:
            raise InputError(f"a {self.kind.value} line must not be negative", field="amount")
        return self


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True)

    subtotal: int
    discount: int
    total: int
    amount_due: int


def compute_totals(lines: list[InvoiceLine], currency: str) -> Totals:
    """The one place invoice totals are computed; exact integer sums (see the module docstring)."""
    subtotal = discount = credit = 0
    for index, line in enumerate(lines):
        if line.amount.currency != currency:
            raise CurrencyMismatchError(
                f"line {index} is in {line.amount.currency}, the invoice in {currency}", field="lines"
            )
        if line.kind is LineKind.DISCOUNT:
            discount -= line.amount.amount_minor
        elif line.kind is LineKind.CREDIT_APPLIED:
            credit -= line.amount.amount_minor
        else:
            subtotal += line.amount.amount_minor
    total = subtotal - discount
    if total < 0:
        raise InputError("credits and discounts exceed the charges; carry the excess to the balance", field="lines")
    amount_due = total - credit
    if amount_due < 0:
        raise InputError("applied credit exceeds the total", field="lines")
    return Totals(subtotal=subtotal, discount=discount, total=total, amount_due=amount_due)


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str = Field(min_length=1, max_length=64)
    merchant: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=128)
    currency: str
    lines: list[InvoiceLine]
    subtotal: int = 0
    discount: int = 0
    total: int = 0
    amount_due: int = 0
    amount_paid: int = 0
    state: InvoiceState = InvoiceState.DRAFT
    #: The engine's id of the invoice (``{subscription}-p{n}``, ``{subscription}-c{n}``): its number is
    #: allocated once per id.
    invoice_id: str | None = Field(default=None, max_length=128)
    subscription_id: str | None = None
    #: The order that collects it (the latest attempt), if the engine charges it.
    order_id: str | None = None
    #: The billing period it bills (and the plan generation the period belongs to).
    period: int | None = None
    generation: int = 1
    #: The provider charged it itself (provider-managed subscriptions): the engine records what was charged.
    charged_by_provider: bool = False
    created_at: datetime | None = None
    #: When it was paid, voided or given up as uncollectible.
    settled_at: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        number: str,
        merchant: str,
        customer_id: str,
        currency: str,
        lines: list[InvoiceLine],
        **details: object,
    ) -> Self:
        """A draft invoice with its totals computed from ``lines``; ``details`` are the optional fields."""
        totals = compute_totals(lines, currency)
        return cls.model_validate(
            {
                "number": number,
                "merchant": merchant,
                "customer_id": customer_id,
                "currency": currency,
                "lines": lines,
                **totals.model_dump(),
                **details,
            }
        )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if compute_totals(self.lines, self.currency) != Totals(
            subtotal=self.subtotal, discount=self.discount, total=self.total, amount_due=self.amount_due
        ):
            raise InputError("stated totals disagree with the lines", field="total")
        if self.amount_paid not in (0, self.amount_due) or (self.amount_paid and self.state is not InvoiceState.PAID):
            raise InputError("only a paid invoice has an amount paid, and it is the amount due", field="amount_paid")
        return self


def transition(invoice: Invoice, to: InvoiceState) -> Invoice:
    """``invoice`` moved to ``to``; a backward or sideways move raises InvalidStateError. Same state: no-op."""
    if to is invoice.state:
        return invoice
    if to not in TRANSITIONS[invoice.state]:
        raise InvalidStateError(f"invoice {invoice.number} is {invoice.state.value}; it cannot become {to.value}")
    paid = invoice.amount_due if to is InvoiceState.PAID else 0
    return invoice.model_copy(update={"state": to, "amount_paid": paid})


class CreditNote(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str = Field(min_length=1, max_length=64)
    invoice_number: str = Field(min_length=1, max_length=64)
    lines: list[InvoiceLine] = Field(min_length=1)
    amount: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=500)
    #: Where it came from (a refund of an invoice order: ``billing.credit_notes``); None when issued alone.
    credit_note_id: str | None = Field(default=None, max_length=128)
    invoice_id: str | None = Field(default=None, max_length=128)
    order_id: str | None = None
    refund_id: str | None = None
    currency: str | None = None
    created_at: datetime | None = None


def credit_note(
    invoice: Invoice, existing: list[CreditNote], *, number: str, lines: list[InvoiceLine], reason: str
) -> CreditNote:
    """A credit note on a paid ``invoice``. Its lines are positive amounts given back; together with
    ``existing`` notes they never exceed ``invoice.amount_paid``."""
    if invoice.state is not InvoiceState.PAID:
        raise InvalidStateError(f"invoice {invoice.number} is {invoice.state.value}; only a paid invoice is credited")
    amount = 0
    for line in lines:
        if line.amount.currency != invoice.currency:
            raise CurrencyMismatchError(f"line in {line.amount.currency}, invoice in {invoice.currency}", field="lines")
        amount += line.amount.amount_minor
    if amount <= 0:
        raise InputError("a credit note gives back a positive amount", field="lines")
    already = sum(n.amount for n in existing if n.invoice_number == invoice.number)
    if already + amount > invoice.amount_paid:
        raise InputError(
            f"credit notes would total {already + amount}, more than the {invoice.amount_paid} collected",
            field="amount",
        )
    return CreditNote(number=number, invoice_number=invoice.number, lines=lines, amount=amount, reason=reason)
