"""The preview of a plan change returns the invoice the change would create, line for line, and the real
change creates exactly those lines and totals (time-skipping server, Waffo and WaafiPay emulators)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from billing.change_preview import ChangePreview
from billing.gateway import Customer
from billing.invoices import InvoiceLine, InvoiceState
from billing.proration import Proration
from billing.subscriptions import PeriodStatus, SubscriptionStatus
from tests.subscriptions.test_engine_invoiced import Engine, priced, set_wallet, start


def line_row(line: InvoiceLine) -> tuple[str, str, int, str]:
    return (line.kind.value, line.description, line.amount.amount_minor, line.amount.currency)


async def test_preview_of_an_upgrade_now_is_the_invoice_the_change_creates(engine: Engine) -> None:
    wallet = "252611111140"
    await set_wallet(engine, wallet, ["approve", "approve"])
    now = await engine.env.get_current_time()
    # April has 30 days: April 16 00:00 is exactly half of period 1 (less the moments the server takes).
    anchor = datetime(now.year + 1, 4, 1, tzinfo=UTC)
    sub_id = "sub-prev"
    await engine.create(
        start(
            sub_id,
            provider="waafipay",
            billing_mode=None,
            plan=priced("basic", "30.00"),
            customer=Customer(customer_id="cust-prev", phone=wallet),
            billing_anchor=anchor,
        )
    )
    engine.orders += [f"{sub_id}-p1", f"{sub_id}-c1"]
    await engine.skip_to(anchor)
    await engine.until(sub_id, lambda s: s.current_period == 1 and s.status is SubscriptionStatus.ACTIVE)
    await engine.skip_to(anchor + timedelta(days=15))

    pro = priced("pro", "60.00")
    preview = await engine.stack.billing.preview_change(sub_id, pro)
    assert isinstance(preview, ChangePreview)
    # By hand: half of April left: credit -15.00 (half of 30.00), charge 30.00 (half of 60.00), net 15.00.
    assert (preview.credit.amount_minor, preview.charge.amount_minor, preview.net.amount_minor) == (-1500, 3000, 1500)
    assert preview.invoice is not None
    assert preview.invoice.invoice_id == f"{sub_id}-c1"
    assert [line_row(line) for line in preview.invoice.lines] == [
        ("proration_credit", "Unused time on Basic", -1500, "USD"),
        ("proration_charge", "Remaining time on Pro", 3000, "USD"),
    ]
    expected_totals = (1500, 0, 1500, 1500)
    invoice_preview = preview.invoice
    assert (
        invoice_preview.subtotal,
        invoice_preview.discount,
        invoice_preview.total,
        invoice_preview.amount_due,
    ) == expected_totals
    # The response keeps every proration field: read as a Proration (extra fields forbidden), it still parses.
    as_proration = Proration.model_validate_json(
        preview.model_copy(update={"invoice": None}).model_dump_json(exclude={"invoice"})
    )
    assert (as_proration.net, as_proration.fraction_remaining) == (preview.net, preview.fraction_remaining)

    changed = await engine.stack.billing.change_plan(sub_id, pro)
    invoice = changed.invoice(f"{sub_id}-c1")
    assert invoice is not None
    assert [line_row(line) for line in invoice.lines] == [line_row(line) for line in invoice_preview.lines]
    assert (invoice.subtotal, invoice.discount, invoice.total, invoice.amount_due) == expected_totals
    assert invoice.currency == invoice_preview.currency
    for actual, previewed in zip(invoice.lines, invoice_preview.lines, strict=True):
        # The same fraction of the period, but for the moments between the two requests.
        gap = Fraction(previewed.numerator, previewed.denominator) - Fraction(actual.numerator, actual.denominator)
        assert Fraction(0) <= gap < Fraction(5, 30 * 86400)
    assert changed.adjustments[0].amount.amount_minor == invoice.amount_due
    paid = await engine.until(sub_id, lambda s: s.adjustments[0].status is PeriodStatus.PAID)
    settled = paid.invoice(f"{sub_id}-c1")
    assert settled is not None and settled.state is InvoiceState.PAID and settled.amount_paid == 1500


async def test_preview_of_a_downgrade_that_carries_credit_has_no_invoice(engine: Engine) -> None:
    created = await engine.create(start("sub-prev-dwn", plan=priced("basic", "30.00")))
    await engine.customer(await engine.invoice("sub-prev-dwn", 1), "pay")
    await engine.until("sub-prev-dwn", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    window = created.calendar.period(1)
    await engine.skip_to(window.start + (window.end - window.start) / 2)
    preview = await engine.stack.billing.preview_change("sub-prev-dwn", priced("lite", "10.00"))
    assert preview.net.is_negative() and preview.invoice is None
    changed = await engine.stack.billing.change_plan("sub-prev-dwn", priced("lite", "10.00"))
    assert len(changed.invoices) == 1, "a downgrade that carries credit creates no invoice"
