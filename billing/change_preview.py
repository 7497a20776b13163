"""The preview of a plan change: its proration and the invoice the change would create, line for line.

Pure: no I/O, no clock, no Temporal. A :class:`ChangePreview` is a :class:`billing.proration.Proration` (the
same fields, unchanged, so a preview read as a proration still parses) plus ``invoice``: the invoice the
change made now would create, or None when it creates none.

Which changes create an invoice (the same rules as ``workflows/subscription_engine.py``):

* engine modes, net positive (an upgrade): an invoice with the proration credit and charge lines, under
  the id of the upgrade's charge (``{subscription}-c{n}``), collected by an order of that id;
* engine modes, net zero or negative (a downgrade): no invoice; the credit is carried to the next invoices;
* provider-managed: no invoice from the engine at the change; the provider charges the new plan's first
  period itself, and that period's invoice is recorded as charged by the provider.

The lines are :meth:`billing.subscriptions.Subscription.proration_lines`, the function the real change
uses, from the same :func:`billing.proration.prorate`; the totals come from
:func:`billing.invoices.compute_totals`. The real change, made at the same instant, creates exactly these
lines and totals (a change a moment later has the fraction of the period left at that moment).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from billing.gateway import SubscriptionPlan
from billing.invoices import InvoiceLine, compute_totals
from billing.proration import Proration
from billing.subscriptions import ENGINE_MODES, Subscription

__all__ = ["ChangePreview", "InvoicePreview", "adjustment_invoice_id", "change_preview"]


class InvoicePreview(BaseModel):
    """An invoice not issued yet: its id, lines and totals (a number is given only when it is issued)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_id: str
    currency: str
    lines: list[InvoiceLine] = Field(min_length=1)
    subtotal: int
    discount: int
    total: int
    amount_due: int


class ChangePreview(Proration):
    """What a plan change now would credit and charge, and the invoice it would create (None: none)."""

    invoice: InvoicePreview | None = None


def adjustment_invoice_id(sub: Subscription) -> str:
    """The id of the next upgrade charge of ``sub``: its order id and its invoice id."""
    return f"{sub.subscription_id}-c{len(sub.adjustments) + 1}"


def change_preview(
    sub: Subscription,
    plan: SubscriptionPlan,
    proration: Proration,
    *,
    invoices: bool = True,
    coupon_notes: dict[str, str | None] | None = None,
) -> ChangePreview:
    """``proration`` with the invoice a change of ``sub`` to ``plan`` would create (``invoices``: whether
    the subscription issues invoices at all; ``coupon_notes``: ``Subscription.change_coupon_notes``, the
    coupon each price was discounted by, as the real change names it on its lines)."""
    invoice = None
    if invoices and sub.mode in ENGINE_MODES and proration.net.is_positive():
        lines = sub.proration_lines(sub.plan, plan, proration, **(coupon_notes or {}))
        currency = sub.plan.amount.currency
        totals = compute_totals(lines, currency)
        invoice = InvoicePreview(
            invoice_id=adjustment_invoice_id(sub), currency=currency, lines=lines, **totals.model_dump()
        )
    return ChangePreview(**proration.model_dump(), invoice=invoice)
