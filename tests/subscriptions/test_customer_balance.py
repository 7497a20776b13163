"""Engine modes and the customer's credit balance, on the time-skipping server: a merchant's credit and a
downgrade's unused part go to the balance, and the next invoices consume it first (a `credit_applied` line,
the amount due reduced; a fully covered invoice is paid without a charge). Every invoice consumes once, by
its id; the history replays under the checking sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio.worker import Replayer

from billing.gateway import Customer
from billing.invoices import InvoiceState
from billing.money import Money
from billing.subscriptions import PeriodStatus, SubscriptionStatus, subscription_workflow_id
from billing.temporal import data_converter
from tests.subscriptions.test_engine_invoiced import Engine, priced, start
from tests.subscriptions.test_invoices import table
from worker import WORKFLOWS, checking_workflow_runner


async def test_invoices_consume_the_customer_balance_first_and_a_downgrade_credits_it(engine: Engine) -> None:
    billing = engine.stack.billing
    merchant = billing.invoice_merchant
    customer = Customer(customer_id="cust-bal", email="b@example.com")
    await billing.credit_balance(
        "cust-bal", Money.parse("35.00", "USD"), reason="goodwill", reference="goodwill-1", merchant=merchant
    )
    sub_id = "sub-bal"
    created = await engine.create(start(sub_id, plan=priced("basic", "30.00"), customer=customer))
    assert created.calendar is not None

    # Period 1: the balance (35.00) pays all of it; nothing is charged.
    first = await engine.until(sub_id, lambda s: s.period_record(1).status is PeriodStatus.PAID)
    assert first.status is SubscriptionStatus.ACTIVE

    # Period 2: what is left (5.00) is applied; 25.00 is collected through the order.
    await engine.skip_to(created.calendar.period_start(2))
    order_id = await engine.invoice(sub_id, 2)
    assert (await billing.get_order(order_id)).amount == Money.parse("25.00", "USD")
    await engine.customer(order_id, "pay")
    await engine.until(sub_id, lambda s: s.period_record(2).status is PeriodStatus.PAID)

    # Half of period 2 left: lite 10.00 credits 15.00 and charges 5.00; the net 10.00 goes to the balance.
    window = created.calendar.period(2)
    await engine.skip_to(window.start + (window.end - window.start) / 2)
    changed = await billing.change_plan(sub_id, priced("lite", "10.00"))
    assert changed.credit_balance.amount_minor == 0, "not carried on the subscription"
    after_downgrade = await billing.get_balance("cust-bal", currency="USD", merchant=merchant)
    assert after_downgrade.of("USD") == Money.parse("10.00", "USD")
    downgrade = after_downgrade.recent[0]
    assert (downgrade.kind.value, downgrade.reason, downgrade.reference) == (
        "credit",
        "downgrade",
        f"downgrade:{sub_id}:g1:1",
    )

    # Period 3: the balance covers lite's 10.00; paid without a charge.
    await engine.skip_to(created.calendar.period_start(3))
    sub = await engine.until(sub_id, lambda s: s.current_period == 3 and s.invoices[-1].state is InvoiceState.PAID)
    assert sub.period_record(3).status is PeriodStatus.PAID
    assert [table(i) for i in sub.invoices] == [
        ("INV-000001", f"{sub_id}-p1", "paid", (("period", 3000), ("credit_applied", -3000)), (3000, 0, 3000, 0, 0)),
        (
            "INV-000002",
            f"{sub_id}-p2",
            "paid",
            (("period", 3000), ("credit_applied", -500)),
            (3000, 0, 3000, 2500, 2500),
        ),
        ("INV-000003", f"{sub_id}-p3", "paid", (("period", 1000), ("credit_applied", -1000)), (1000, 0, 1000, 0, 0)),
    ]
    assert sub.invoices[0].lines[1].description == "Customer balance applied"

    ledger = await billing.get_balance("cust-bal", merchant=merchant)
    assert ledger.balances == [Money.zero("USD")]
    assert [(e.kind.value, e.amount.amount_minor, e.reference) for e in reversed(ledger.recent)] == [
        ("credit", 3500, "goodwill-1"),
        ("apply_up_to", -3000, f"{sub_id}-p1"),
        ("apply_up_to", -500, f"{sub_id}-p2"),
        ("credit", 1000, f"downgrade:{sub_id}:g1:1"),
        ("apply_up_to", -1000, f"{sub_id}-p3"),
    ], "each invoice consumed once"
    assert sum(e.amount.amount_minor for e in ledger.recent) == 0

    # The run's history (three consumptions and a downgrade's credit as local activity markers) replays.
    history = await billing.temporal.get_workflow_handle(subscription_workflow_id(sub_id)).fetch_history()
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=checking_workflow_runner(), data_converter=data_converter()
    )
    await replayer.replay_workflow(history)
    await billing.temporal.get_workflow_handle(subscription_workflow_id(sub_id)).terminate("test done")


async def test_an_invoice_voided_unpaid_gives_back_what_the_balance_paid_of_it(engine: Engine) -> None:
    """The balance pays part of period 1, the customer declines the rest, the merchant cancels: the invoice
    is void, so what the balance paid of it goes back to the balance, once."""
    billing = engine.stack.billing
    merchant = billing.invoice_merchant
    customer = Customer(customer_id="cust-void", email="v@example.com")
    await billing.credit_balance(
        "cust-void", Money.parse("5.00", "USD"), reason="goodwill", reference="goodwill-v", merchant=merchant
    )
    sub_id = "sub-bal-void"
    await engine.create(start(sub_id, customer=customer))
    order_id = await engine.invoice(sub_id, 1)
    assert (await billing.get_order(order_id)).amount == Money.parse("4.99", "USD"), "9.99 less the 5.00"
    await engine.customer(order_id, "fail")
    await engine.until(sub_id, lambda s: s.period_record(1).status is PeriodStatus.FAILED)
    cancelled = await billing.cancel_subscription(sub_id, reason="customer left")
    assert [i.state for i in cancelled.invoices] == [InvoiceState.VOID]

    async def balance_entries() -> list[tuple[str, int, str]]:
        ledger = await billing.get_balance("cust-void", merchant=merchant)
        return [(e.kind.value, e.amount.amount_minor, e.reference) for e in reversed(ledger.recent)]

    expected = [
        ("credit", 500, "goodwill-v"),
        ("apply_up_to", -500, f"{sub_id}-p1"),
        ("credit", 500, f"{sub_id}-p1:void"),
    ]
    for _ in range(100):
        if await balance_entries() == expected:
            break
        await engine.env.sleep(timedelta(seconds=1))
    assert await balance_entries() == expected
    assert (await billing.get_balance("cust-void", merchant=merchant)).of("USD") == Money.parse("5.00", "USD")
    await billing.temporal.get_workflow_handle(subscription_workflow_id(sub_id)).terminate("test done")
