"""A year of one engine-charged WaafiPay subscription on the time-skipping server, every invoice checked
against a table computed by hand: a 20 % coupon repeating 3 periods, an upgrade in period 1 (proration
credit and charge lines on the discounted prices), period 2's renewal declined at the emulator and paid by
the dunning retry, a downgrade in period 6 whose unused part goes to the customer's balance and pays
periods 7 and 8 and part of 9, and refunds giving gap-free credit notes never above what an invoice
collected. Invoice numbers are gap-free and unique; every object's merchant events are numbered without a
gap or a duplicate."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from billing import errors
from billing.coupons import Coupon, CouponDuration
from billing.gateway import Customer
from billing.invoices import CREDIT_NOTE_SERIES, INVOICE_SERIES, Invoice, InvoiceState
from billing.money import Money
from billing.subscriptions import PeriodStatus, SubscriptionStatus
from tests.orders.test_refund_outcomes import Merchant
from tests.subscriptions.test_credit_notes import refund, sequence_last
from tests.subscriptions.test_engine_invoiced import Engine, priced, set_wallet, start

SUB = "sub-year"

#: By hand, from the plans (basic 30.00, pro 60.00, lite 10.00 a month), the coupon (20 % off periods 1-3)
#: and the dates (anchor April 1; the upgrade half-way through April, 30 days; the downgrade half-way
#: through September, 30 days). Row: number, invoice id, order that collected it, state, lines (kind,
#: minor units), (subtotal, discount, total, balance applied, amount due, amount paid).
#:
#: * p1: basic 30.00 less 20 % = 24.00.
#: * c1: the upgrade on April 16: unused half of basic's discounted 24.00 credited (-12.00), the remaining
#:   half of pro's discounted 48.00 charged (24.00): 12.00 charged now.
#: * p2, p3: pro 60.00 less 20 % = 48.00 (p2's first charge declined; the retry r1 paid the same invoice).
#: * p4-p6: pro 60.00, the coupon over.
#: * The downgrade on September 16: unused half of pro's 60.00 (-30.00), the remaining half of lite's 10.00
#:   (5.00): net -25.00, to the customer's balance; no invoice.
#: * p7, p8: lite 10.00 paid by the balance (25.00 -> 15.00 -> 5.00), nothing charged; p9: the last 5.00
#:   of the balance, 5.00 charged; p10-p13: lite 10.00.
EXPECTED: list[tuple[Any, ...]] = [
    (
        "INV-000001",
        f"{SUB}-p1",
        f"{SUB}-p1",
        "paid",
        (("period", 3000), ("discount", -600)),
        (3000, 600, 2400, 0, 2400, 2400),
    ),
    (
        "INV-000002",
        f"{SUB}-c1",
        f"{SUB}-c1",
        "paid",
        (("proration_credit", -1200), ("proration_charge", 2400)),
        (1200, 0, 1200, 0, 1200, 1200),
    ),
    (
        "INV-000003",
        f"{SUB}-p2",
        f"{SUB}-p2-r1",
        "paid",
        (("period", 6000), ("discount", -1200)),
        (6000, 1200, 4800, 0, 4800, 4800),
    ),
    (
        "INV-000004",
        f"{SUB}-p3",
        f"{SUB}-p3",
        "paid",
        (("period", 6000), ("discount", -1200)),
        (6000, 1200, 4800, 0, 4800, 4800),
    ),
    ("INV-000005", f"{SUB}-p4", f"{SUB}-p4", "paid", (("period", 6000),), (6000, 0, 6000, 0, 6000, 6000)),
    ("INV-000006", f"{SUB}-p5", f"{SUB}-p5", "paid", (("period", 6000),), (6000, 0, 6000, 0, 6000, 6000)),
    ("INV-000007", f"{SUB}-p6", f"{SUB}-p6", "paid", (("period", 6000),), (6000, 0, 6000, 0, 6000, 6000)),
    (
        "INV-000008",
        f"{SUB}-p7",
        f"{SUB}-p7",
        "paid",
        (("period", 1000), ("credit_applied", -1000)),
        (1000, 0, 1000, 1000, 0, 0),
    ),
    (
        "INV-000009",
        f"{SUB}-p8",
        f"{SUB}-p8",
        "paid",
        (("period", 1000), ("credit_applied", -1000)),
        (1000, 0, 1000, 1000, 0, 0),
    ),
    (
        "INV-000010",
        f"{SUB}-p9",
        f"{SUB}-p9",
        "paid",
        (("period", 1000), ("credit_applied", -500)),
        (1000, 0, 1000, 500, 500, 500),
    ),
    ("INV-000011", f"{SUB}-p10", f"{SUB}-p10", "paid", (("period", 1000),), (1000, 0, 1000, 0, 1000, 1000)),
    ("INV-000012", f"{SUB}-p11", f"{SUB}-p11", "paid", (("period", 1000),), (1000, 0, 1000, 0, 1000, 1000)),
    ("INV-000013", f"{SUB}-p12", f"{SUB}-p12", "paid", (("period", 1000),), (1000, 0, 1000, 0, 1000, 1000)),
    ("INV-000014", f"{SUB}-p13", f"{SUB}-p13", "paid", (("period", 1000),), (1000, 0, 1000, 0, 1000, 1000)),
]

#: What the wallet was charged, push by push (p2's declined push charges nothing; p7 and p8 are not pushed).
CHARGED = ["24.00", "12.00", "48.00", "48.00", "60.00", "60.00", "60.00", "5.00", "10.00", "10.00", "10.00", "10.00"]

#: Refunds and the credit notes they give, by hand: number, invoice number, order, refund id, amount, the
#: line (kind, amount, numerator, denominator: the refunded part of what the invoice collected).
CREDIT_NOTES = [
    ("CN-000001", "INV-000003", f"{SUB}-p2-r1", "r-p2", 800, ("period", 800, 800, 4800)),
    ("CN-000002", "INV-000002", f"{SUB}-c1", "r-c1", 1200, ("proration_charge", 1200, 1200, 1200)),
    ("CN-000003", "INV-000005", f"{SUB}-p4", "r-p4a", 1000, ("period", 1000, 1000, 6000)),
    ("CN-000004", "INV-000005", f"{SUB}-p4", "r-p4b", 5000, ("period", 5000, 5000, 6000)),
    # p9 collected 5.00 (the balance paid the other 5.00): all of what was collected, nothing of the balance.
    ("CN-000005", "INV-000010", f"{SUB}-p9", "r-p9", 500, ("period", 500, 500, 500)),
]


def row(invoice: Invoice) -> tuple[Any, ...]:
    """An invoice as a row of ``EXPECTED``; the balance applied is read from its ``credit_applied`` lines."""
    applied = -sum(line.amount.amount_minor for line in invoice.lines if line.kind.value == "credit_applied")
    return (
        invoice.number,
        invoice.invoice_id,
        invoice.order_id,
        invoice.state.value,
        tuple((line.kind.value, line.amount.amount_minor) for line in invoice.lines),
        (invoice.subtotal, invoice.discount, invoice.total, applied, invoice.amount_due, invoice.amount_paid),
    )


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


async def test_a_year_with_a_coupon_an_upgrade_a_recovered_renewal_a_downgrade_and_refunds(
    announced: tuple[Engine, Merchant],
) -> None:
    engine, merchant = announced
    billing = engine.stack.billing
    await billing.create_coupon(
        Coupon(code="YEAR20", percent_off_bp=2000, duration=CouponDuration.REPEATING, periods=3)
    )
    wallet = "252611111150"
    # One answer per push, the last one staying: p1, the upgrade, p2 short of balance, p2's retry, then the rest.
    await set_wallet(engine, wallet, ["approve", "approve", "insufficient", "approve"])
    now = await engine.env.get_current_time()
    anchor = datetime(now.year + 1, 4, 1, tzinfo=UTC)
    created = await engine.create(
        start(
            SUB,
            provider="waafipay",
            billing_mode=None,
            plan=priced("basic", "30.00"),
            customer=Customer(customer_id="cust-year", phone=wallet),
            billing_anchor=anchor,
            coupon="YEAR20",
        )
    )
    calendar = created.calendar
    assert calendar is not None
    # The orders started (p7 and p8 are paid by the balance without one), for the fixture to close.
    engine.orders += [f"{SUB}-p1", f"{SUB}-c1", f"{SUB}-p2", f"{SUB}-p2-r1"]
    engine.orders += [f"{SUB}-p{n}" for n in (3, 4, 5, 6, 9, 10, 11, 12, 13)]

    async def refunded(order_id: str, refund_id: str, amount: str, notes: int) -> None:
        """Refund, then wait for its credit note: each note's number then follows the order of the refunds."""
        await refund(engine, order_id, refund_id, amount)
        await engine.until(SUB, lambda s: len(s.credit_notes) == notes)

    async def renew(number: int) -> None:
        await engine.skip_to(calendar.period_start(number))
        await engine.until(
            SUB,
            lambda s: (
                s.current_period == number
                and s.status is SubscriptionStatus.ACTIVE
                and s.invoices[-1].state is InvoiceState.PAID
            ),
        )

    await renew(1)

    # Period 1, half-way: the upgrade, charged at once.
    await engine.skip_to(anchor + timedelta(days=15))
    changed = await billing.change_plan(SUB, priced("pro", "60.00"))
    assert changed.adjustments[0].order_id == f"{SUB}-c1"
    await engine.until(SUB, lambda s: s.adjustments[0].status is PeriodStatus.PAID)

    # Period 2: declined, past due with its invoice open; the dunning retry a day later pays the same invoice.
    await engine.skip_to(calendar.period_start(2))
    past_due = await engine.until(SUB, lambda s: s.status is SubscriptionStatus.PAST_DUE)
    assert past_due.period_record(2).status is PeriodStatus.FAILED and not past_due.period_record(2).hard_failure
    p2 = past_due.invoice(f"{SUB}-p2")
    assert p2 is not None and p2.state is InvoiceState.OPEN
    await engine.env.sleep(timedelta(days=1, seconds=5))
    await engine.until(
        SUB,
        lambda s: s.current_period == 2 and s.status is SubscriptionStatus.ACTIVE and s.invoices[-1].amount_paid,
    )
    await refunded(f"{SUB}-p2-r1", "r-p2", "8.00", notes=1)
    await refunded(f"{SUB}-c1", "r-c1", "12.00", notes=2)

    for number in range(3, 7):
        await renew(number)
        if number == 4:
            await refunded(f"{SUB}-p4", "r-p4a", "10.00", notes=3)
            await refunded(f"{SUB}-p4", "r-p4b", "50.00", notes=4)
            with pytest.raises(errors.InvalidAmountError):
                await refund(engine, f"{SUB}-p4", "r-p4c", "0.01")

    # Period 6, half-way: the downgrade; its net credit goes to the customer's balance, not an invoice.
    window = calendar.period(6)
    await engine.skip_to(window.start + (window.end - window.start) / 2)
    preview = await billing.preview_change(SUB, priced("lite", "10.00"))
    assert (preview.credit, preview.charge, preview.net) == (usd("-30.00"), usd("5.00"), usd("-25.00"))
    downgraded = await billing.change_plan(SUB, priced("lite", "10.00"))
    assert downgraded.credit_balance.is_zero() and len(downgraded.invoices) == 7
    merchant_id = billing.invoice_merchant
    assert (await billing.get_balance("cust-year", merchant=merchant_id)).of("USD") == usd("25.00")

    for number in range(7, 14):
        await renew(number)
        if number == 9:
            with pytest.raises(errors.InvalidAmountError):
                await refund(engine, f"{SUB}-p9", "r-p9-all", "10.00")
            await refunded(f"{SUB}-p9", "r-p9", "5.00", notes=5)

    sub = await engine.until(SUB, lambda s: len(s.credit_notes) == 5)
    assert [row(i) for i in sub.invoices] == EXPECTED
    assert [r.number for r in sub.periods] == list(range(1, 14))
    assert all(r.status is PeriodStatus.PAID for r in sub.periods)
    assert sub.status is SubscriptionStatus.ACTIVE

    # Fractions: whole periods are 1/1; the upgrade's lines are half of April, less the second (and
    # milliseconds) the test server took to get there.
    assert all(
        (line.numerator, line.denominator) == (1, 1)
        for i in sub.invoices
        for line in i.lines
        if line.kind.value == "period"
    )
    for line in sub.invoices[1].lines:
        fraction = Fraction(line.numerator, line.denominator)
        assert Fraction(1, 2) - Fraction(5, 30 * 86400) < fraction <= Fraction(1, 2)
    assert [line.description for line in sub.invoices[1].lines] == [
        "Unused time on Basic, less coupon YEAR20",
        "Remaining time on Pro, less coupon YEAR20",
    ]

    numbers = [i.number for i in sub.invoices]
    assert numbers == [f"INV-{n:06d}" for n in range(1, 15)] and len(set(numbers)) == len(numbers)
    assert await sequence_last(engine, INVOICE_SERIES) == 14, "no invoice number taken twice or skipped"

    # Credit notes: gap-free, each on the invoice its order collected, never above what that invoice collected.
    assert [
        (
            n.number,
            n.invoice_number,
            n.order_id,
            n.refund_id,
            n.amount,
            tuple((line.kind.value, line.amount.amount_minor, line.numerator, line.denominator) for line in n.lines),
        )
        for n in sub.credit_notes
    ] == [(number, inv, order, rid, amount, (line,)) for number, inv, order, rid, amount, line in CREDIT_NOTES]
    assert await sequence_last(engine, CREDIT_NOTE_SERIES) == 5, "the refused refunds took no number"
    credited: dict[str, int] = defaultdict(int)
    for note in sub.credit_notes:
        credited[note.invoice_number] += note.amount
    collected = {i.number: i.amount_paid for i in sub.invoices}
    assert all(amount <= collected[number] for number, amount in credited.items())
    assert credited["INV-000005"] == collected["INV-000005"], "p4 refunded in full, and no more"
    assert credited["INV-000010"] == collected["INV-000010"] == 500, "p9: what was collected, not the balance's part"

    # The wallet, by the emulator's own ledger: each push charged once, the refunds given back.
    ledger = (await engine.stack.control.get(f"{engine.stack.emulator_url}/waafipay/control/ledger")).json()
    assert [e["amount"] for e in ledger["entries"] if e["kind"] == "charge"] == CHARGED
    assert [e["amount"] for e in ledger["entries"] if e["kind"] == "refund"] == [
        "8.00",
        "12.00",
        "10.00",
        "50.00",
        "5.00",
    ]

    # The balance: credited once by the downgrade, consumed by p7, p8 and p9 and nothing else.
    balance = await billing.get_balance("cust-year", merchant=merchant_id)
    assert balance.balances == [Money.zero("USD")]
    # (An apply that took nothing is not recorded: p1-p6 and p10-p13 left no entry.)
    moves = [(e.kind.value, e.amount.amount_minor, e.reference) for e in reversed(balance.recent)]
    assert moves[1:] == [
        ("apply_up_to", -1000, f"{SUB}-p7"),
        ("apply_up_to", -1000, f"{SUB}-p8"),
        ("apply_up_to", -500, f"{SUB}-p9"),
    ]
    assert moves[0][:2] == ("credit", 2500) and moves[0][2].startswith(f"downgrade:{SUB}:")

    # Merchant events: per object, numbered 1, 2, 3 ... with no gap and no duplicate, sent in order.
    events = await merchant.until(
        lambda found: (
            [e.type for e in found].count("credit_note.created") == 5
            and [e.type for e in found if e.object_id == SUB].count("invoice.paid") == 14
        )
    )
    assert len({e.id for e in events}) == len(events), "no event delivered twice"
    per_object: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in events:
        per_object[(event.object, event.object_id)].append(event.sequence)
    assert (("subscription", SUB)) in per_object and len(per_object) > 1
    for key, sequences in per_object.items():
        assert sequences == list(range(1, len(sequences) + 1)), f"{key}: {sequences}"
    paid = [e.data["invoice"]["number"] for e in events if e.type == "invoice.paid" and e.object_id == SUB]
    assert paid == numbers
    notes = [e.data["credit_note"]["number"] for e in events if e.type == "credit_note.created"]
    assert notes == [n[0] for n in CREDIT_NOTES]
