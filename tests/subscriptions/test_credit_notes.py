"""Credit notes for refunds of a subscription period's invoice order, on the time-skipping server with the
Waffo emulator: each refund that SUCCEEDED gives one credit note with a number from the merchant's
gap-free ``CN`` series, never more than the invoice collected; a failed refund gives none; a repeated
report gives nothing new and takes no number."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from fractions import Fraction

import pytest

from billing import errors
from billing.credit_notes import RefundReport
from billing.idempotency import refund_key
from billing.invoices import CREDIT_NOTE_SERIES, INVOICE_SERIES, sequence_workflow_id
from billing.money import Money
from billing.orders import RefundRequest, RefundState
from billing.subscriptions import Subscription, SubscriptionStatus, subscription_workflow_id
from tests.orders.test_refund_outcomes import Merchant
from tests.subscriptions.test_engine_invoiced import POLICY, Engine, priced, start
from workflows.subscription import SubscriptionWorkflow


async def sequence_last(engine: Engine, series: str) -> int:
    handle = engine.stack.client.get_workflow_handle(
        sequence_workflow_id(engine.stack.billing.invoice_merchant, series)
    )
    last: int = await handle.query("last", result_type=int)
    return last


async def credit_notes(engine: Engine, subscription_id: str) -> list[object]:
    handle = engine.stack.client.get_workflow_handle(subscription_workflow_id(subscription_id))
    return list(await handle.query(SubscriptionWorkflow.credit_notes))


async def paid_period(engine: Engine, subscription_id: str) -> str:
    await engine.create(start(subscription_id, plan=priced("basic", "30.00")))
    order_id = await engine.invoice(subscription_id, 1)
    await engine.customer(order_id, "pay")
    await engine.until(subscription_id, lambda s: s.status is SubscriptionStatus.ACTIVE and s.invoices[0].amount_paid)
    return order_id


async def refund(engine: Engine, order_id: str, refund_id: str, amount: str, reason: str | None = None) -> None:
    await engine.stack.billing.refund(
        order_id, RefundRequest(refund_id=refund_id, amount=Money.parse(amount, "USD"), reason=reason)
    )


async def test_partial_then_full_refund_gives_two_gap_free_credit_notes_never_above_collected(
    announced: tuple[Engine, Merchant],
) -> None:
    engine, merchant = announced
    sub_id = "sub-cn"
    order_id = await paid_period(engine, sub_id)

    await refund(engine, order_id, "r1", "10.00", reason="service outage")
    first = await engine.until(sub_id, lambda s: len(s.credit_notes) == 1)
    await refund(engine, order_id, "r2", "20.00")
    sub = await engine.until(sub_id, lambda s: len(s.credit_notes) == 2)

    invoice = sub.invoices[0]
    assert (invoice.number, invoice.amount_paid) == ("INV-000001", 3000)
    # By hand: 10.00 then the remaining 20.00 of the 30.00 collected; numbers CN-000001 and CN-000002.
    rows = [
        (n.number, n.invoice_number, n.invoice_id, n.order_id, n.refund_id, n.amount, n.currency, n.reason)
        for n in sub.credit_notes
    ]
    assert rows == [
        ("CN-000001", "INV-000001", f"{sub_id}-p1", order_id, "r1", 1000, "USD", "service outage"),
        ("CN-000002", "INV-000001", f"{sub_id}-p1", order_id, "r2", 2000, "USD", f"refund r2 of order {order_id}"),
    ]
    assert first.credit_notes[0] == sub.credit_notes[0], "a note never changes once issued"
    (line,) = sub.credit_notes[0].lines
    assert (line.kind.value, line.amount.amount_minor, line.numerator, line.denominator) == ("period", 1000, 1000, 3000)
    (rest,) = sub.credit_notes[1].lines
    assert Fraction(rest.numerator, rest.denominator) == Fraction(2, 3)
    assert line.description == "Refund of INV-000001: Basic, period 1"
    assert line.period_start == invoice.lines[0].period_start
    assert sum(n.amount for n in sub.credit_notes) == invoice.amount_paid

    # A third refund is refused upstream: nothing is left to refund, so there is nothing to credit.
    with pytest.raises(errors.InvalidAmountError):
        await refund(engine, order_id, "r3", "0.01")
    assert await sequence_last(engine, CREDIT_NOTE_SERIES) == 2
    assert await sequence_last(engine, INVOICE_SERIES) == 1, "credit notes have a series of their own"
    assert len(await credit_notes(engine, sub_id)) == 2

    events = await merchant.until(lambda found: [e.type for e in found].count("credit_note.created") == 2)
    created = [e.data["credit_note"] for e in events if e.type == "credit_note.created"]
    assert [(c["number"], c["invoice_number"], c["amount"], c["currency"], c["refund_id"]) for c in created] == [
        ("CN-000001", "INV-000001", 1000, "USD", "r1"),
        ("CN-000002", "INV-000001", 2000, "USD", "r2"),
    ]
    assert all("reason" not in c for c in created), "no free text in events"


async def test_a_repeated_report_gives_one_credit_note_and_an_excessive_one_takes_no_number(engine: Engine) -> None:
    sub_id = "sub-cn-dup"
    order_id = await paid_period(engine, sub_id)
    await refund(engine, order_id, "r1", "30.00")
    await engine.until(sub_id, lambda s: len(s.credit_notes) == 1)

    handle = engine.stack.client.get_workflow_handle(subscription_workflow_id(sub_id))
    report = RefundReport(order_id=order_id, refund_id="r1", amount=Money.parse("30.00", "USD"))
    for _ in range(3):
        # The order's report delivered again (a redelivery, or a report repeated after a continue-as-new).
        await handle.signal(SubscriptionWorkflow.order_refunded, report)
    # A report the invoice cannot take: everything collected is already credited.
    too_much = RefundReport(order_id=order_id, refund_id="r-extra", amount=Money.parse("0.01", "USD"))
    await handle.signal(SubscriptionWorkflow.order_refunded, too_much)
    unknown = RefundReport(order_id=f"{sub_id}-p9", refund_id="r1", amount=Money.parse("1.00", "USD"))
    await handle.signal(SubscriptionWorkflow.order_refunded, unknown)

    def settled(s: Subscription) -> bool:
        return sum(e.event == "credit_note" for e in s.timeline) >= 6

    sub = await engine.until(sub_id, settled)
    assert [(n.number, n.refund_id, n.amount) for n in sub.credit_notes] == [("CN-000001", "r1", 3000)]
    notes = [e.detail for e in sub.timeline if e.event == "credit_note"]
    assert sum("already credited" in d for d in notes) == 3
    assert any("r-extra" in d and "more than the 3000 collected" in d for d in notes), notes
    assert any(f"{sub_id}-p9" in d and "no invoice" in d for d in notes), notes
    assert await sequence_last(engine, CREDIT_NOTE_SERIES) == 1, "a refused report takes no number"


async def test_a_failed_refund_gives_no_credit_note(engine: Engine) -> None:
    sub_id = "sub-cn-fail"
    order_id = await paid_period(engine, sub_id)
    engine.stack.hub.waffo.config.refund_delay_s = None  # refunds stay in progress until the control API
    await refund(engine, order_id, "r1", "5.00")
    response = await engine.stack.control.post(f"/refunds/{refund_key(order_id, 'r1')}/fail")
    response.raise_for_status()
    for _ in range(100):
        failed = (await engine.stack.billing.get_order(order_id)).refund("r1")
        if failed is not None and failed.status is RefundState.FAILED:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the refund did not fail")
    await engine.env.sleep(timedelta(minutes=5))
    sub = await engine.get(sub_id)
    assert sub.credit_notes == []
    # The amount is refundable again: a refund that succeeds is credited, under the first number.
    engine.stack.hub.waffo.config.refund_delay_s = 0.0
    await refund(engine, order_id, "r2", "5.00")
    sub = await engine.until(sub_id, lambda s: len(s.credit_notes) == 1)
    assert [(n.number, n.refund_id, n.amount) for n in sub.credit_notes] == [("CN-000001", "r2", 500)]


async def test_a_report_repeated_after_continue_as_new_gives_nothing_new(engine: Engine) -> None:
    sub_id = "sub-cn-can"
    policy = POLICY.model_copy(update={"max_history_events": 40})
    await engine.create(start(sub_id, plan=priced("basic", "30.00"), policy=policy))
    order_id = await engine.invoice(sub_id, 1)
    await engine.customer(order_id, "pay")
    await engine.until(sub_id, lambda s: s.status is SubscriptionStatus.ACTIVE and s.invoices[0].amount_paid)
    await refund(engine, order_id, "r1", "10.00")
    await engine.until(sub_id, lambda s: len(s.credit_notes) == 1)

    handle = engine.stack.client.get_workflow_handle(subscription_workflow_id(sub_id))
    run_with_note = (await handle.describe()).run_id
    for round_no in range(20):
        if (await handle.describe()).run_id != run_with_note:
            break
        await engine.stack.billing.cancel_subscription(sub_id, at_period_end=True, reason=f"round {round_no}")
        await engine.stack.billing.resume_subscription(sub_id)
    assert (await handle.describe()).run_id != run_with_note, "the subscription continued as new"

    report = RefundReport(order_id=order_id, refund_id="r1", amount=Money.parse("10.00", "USD"))
    await handle.signal(SubscriptionWorkflow.order_refunded, report)
    await engine.until(sub_id, lambda s: any("already credited" in e.detail for e in s.timeline))
    await refund(engine, order_id, "r2", "20.00")
    sub = await engine.until(sub_id, lambda s: len(s.credit_notes) == 2)
    assert [(n.number, n.refund_id, n.amount) for n in sub.credit_notes] == [
        ("CN-000001", "r1", 1000),
        ("CN-000002", "r2", 2000),
    ]
    assert await sequence_last(engine, CREDIT_NOTE_SERIES) == 2
