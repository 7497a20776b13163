"""Invoices of subscriptions on the time-skipping server: every engine-charged and engine-invoiced period,
every upgrade charge and every provider-charged period gets a numbered invoice whose lines and totals are
checked against tables computed by hand here; numbers are gap-free and unique per merchant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from billing import events
from billing.gateway import Customer
from billing.idempotency import subscription_key
from billing.invoices import INVOICE_SERIES, Invoice, InvoiceState, sequence_workflow_id
from billing.subscriptions import (
    DunningOutcome,
    PeriodStatus,
    SubmitSubscription,
    SubscriptionInput,
    SubscriptionStatus,
    subscription_workflow_id,
)
from billing.temporal import data_converter
from tests.orders.test_refund_outcomes import Merchant
from tests.subscriptions.test_engine_invoiced import POLICY, Engine, priced, set_wallet, start
from tests.support.stack import order_stack
from worker import WORKFLOWS, checking_workflow_runner
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_invoicing import NUMBERS_IN_TASK_PATCH


def table(invoice: Invoice) -> tuple[Any, ...]:
    """An invoice as a row of the hand-computed tables: number, id, state, lines, totals, paid."""
    lines = tuple((line.kind.value, line.amount.amount_minor) for line in invoice.lines)
    return (
        invoice.number,
        invoice.invoice_id,
        invoice.state.value,
        lines,
        (invoice.subtotal, invoice.discount, invoice.total, invoice.amount_due, invoice.amount_paid),
    )


async def sequence_last(engine: Engine) -> int:
    handle = engine.stack.client.get_workflow_handle(
        sequence_workflow_id(engine.stack.billing.invoice_merchant, INVOICE_SERIES)
    )
    last: int = await handle.query("last", result_type=int)
    return last


async def test_engine_charged_three_periods_with_an_upgrade_and_a_recovered_renewal(engine: Engine) -> None:
    wallet = "252611111130"
    # One answer per push: period 1, the upgrade's charge, period 2 declined then its retry, period 3.
    await set_wallet(engine, wallet, ["approve", "approve", "insufficient", "approve", "approve"])
    now = await engine.env.get_current_time()
    # April has 30 days: the upgrade on April 16 00:00 is exactly half-way through period 1.
    anchor = datetime(now.year + 1, 4, 1, tzinfo=UTC)
    sub_id = "sub-inv"
    created = await engine.create(
        start(
            sub_id,
            provider="waafipay",
            billing_mode=None,
            plan=priced("basic", "30.00"),
            customer=Customer(customer_id="cust-inv", phone=wallet),
            billing_anchor=anchor,
        )
    )
    assert created.calendar is not None
    engine.orders += [f"{sub_id}-p1", f"{sub_id}-c1", f"{sub_id}-p2", f"{sub_id}-p2-r1", f"{sub_id}-p3"]
    await engine.skip_to(anchor)
    await engine.until(sub_id, lambda s: s.current_period == 1 and s.status is SubscriptionStatus.ACTIVE)

    await engine.skip_to(anchor + timedelta(days=15))
    changed = await engine.stack.billing.change_plan(sub_id, priced("pro", "60.00"))
    assert changed.adjustments[0].order_id == f"{sub_id}-c1"
    await engine.until(sub_id, lambda s: s.adjustments[0].status is PeriodStatus.PAID)

    await engine.skip_to(created.calendar.period_start(2))
    await engine.until(sub_id, lambda s: s.status is SubscriptionStatus.PAST_DUE)
    during_dunning = await engine.get(sub_id)
    assert during_dunning.invoice(f"{sub_id}-p2") is not None
    assert during_dunning.invoice(f"{sub_id}-p2").state is InvoiceState.OPEN  # type: ignore[union-attr]
    await engine.env.sleep(timedelta(days=1, seconds=5))
    await engine.until(sub_id, lambda s: s.current_period == 2 and s.status is SubscriptionStatus.ACTIVE)

    await engine.skip_to(created.calendar.period_start(3))
    sub = await engine.until(sub_id, lambda s: s.current_period == 3 and s.invoices[-1].state is InvoiceState.PAID)

    # By hand: basic 30.00 for April; half of April left at the upgrade: credit -15.00 (half of 30.00),
    # charge 30.00 (half of 60.00), net 15.00; then pro 60.00 for May (declined once, the retry paid the
    # same invoice) and for June.
    assert [table(i) for i in sub.invoices] == [
        ("INV-000001", f"{sub_id}-p1", "paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
        (
            "INV-000002",
            f"{sub_id}-c1",
            "paid",
            (("proration_credit", -1500), ("proration_charge", 3000)),
            (1500, 0, 1500, 1500, 1500),
        ),
        ("INV-000003", f"{sub_id}-p2", "paid", (("period", 6000),), (6000, 0, 6000, 6000, 6000)),
        ("INV-000004", f"{sub_id}-p3", "paid", (("period", 6000),), (6000, 0, 6000, 6000, 6000)),
    ]
    p1, c1, p2, p3 = sub.invoices
    may_1 = datetime(anchor.year, 5, 1, tzinfo=UTC)
    assert (p1.period, p1.lines[0].period_start, p1.lines[0].period_end) == (1, anchor.isoformat(), may_1.isoformat())
    assert p1.lines[0].description == "Basic, period 1"
    for line in c1.lines:
        # Half of the period, less the second (and milliseconds) the test server took to get there.
        fraction = Fraction(line.numerator, line.denominator)
        assert Fraction(1, 2) - Fraction(1, 30 * 86400) * 5 < fraction <= Fraction(1, 2)
    assert [line.description for line in c1.lines] == ["Unused time on Basic", "Remaining time on Pro"]
    assert p2.order_id == f"{sub_id}-p2-r1", "the retry collected the same invoice"
    assert p2.lines[0].description == "Pro, period 2"
    assert p3.period == 3
    assert all(i.merchant == engine.stack.billing.invoice_merchant and not i.charged_by_provider for i in sub.invoices)
    assert all(i.customer_id == "cust-inv" and i.currency == "USD" for i in sub.invoices)
    assert await sequence_last(engine) == 4, "no number was taken twice or skipped"


async def test_downgrade_credit_is_applied_on_the_next_invoices(engine: Engine) -> None:
    created = await engine.create(start("sub-inv-dwn", plan=priced("basic", "30.00")))
    await engine.customer(await engine.invoice("sub-inv-dwn", 1), "pay")
    await engine.until("sub-inv-dwn", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    window = created.calendar.period(1)
    await engine.skip_to(window.start + (window.end - window.start) / 2)
    changed = await engine.stack.billing.change_plan("sub-inv-dwn", priced("lite", "10.00"))
    # Half the period left: credit -15.00, charge 5.00, net -10.00 to the customer's balance (no invoice
    # for a credit).
    assert changed.credit_balance.amount_minor == 0
    balance = await engine.stack.billing.get_balance("cust-e", merchant=engine.stack.billing.invoice_merchant)
    assert balance.of("USD").amount_minor == 1000
    assert len(changed.invoices) == 1
    await engine.skip_to(created.calendar.period_start(2))
    sub = await engine.until("sub-inv-dwn", lambda s: s.current_period == 2)
    assert [table(i) for i in sub.invoices] == [
        ("INV-000001", "sub-inv-dwn-p1", "paid", (("period", 3000),), (3000, 0, 3000, 3000, 3000)),
        (
            "INV-000002",
            "sub-inv-dwn-p2",
            "paid",
            (("period", 1000), ("credit_applied", -1000)),
            (1000, 0, 1000, 0, 0),
        ),
    ]


async def test_dunning_gives_up_uncollectible_and_a_cancel_before_the_charge_voids(engine: Engine) -> None:
    policy = POLICY.model_copy(update={"dunning_exhausted": DunningOutcome.UNPAID})
    await engine.create(start("sub-inv-unc", policy=policy))
    for attempt, wait in enumerate([timedelta(0), *POLICY.dunning_schedule]):
        if wait:
            await engine.env.sleep(wait + timedelta(seconds=5))
        order_id = await engine.invoice("sub-inv-unc", 1)
        await engine.customer(order_id, "fail")
        await engine.until(
            "sub-inv-unc",
            lambda s, a=attempt: s.period_record(1).attempts == a + 1 or s.status is SubscriptionStatus.UNPAID,
        )
    unpaid = await engine.until("sub-inv-unc", lambda s: s.status is SubscriptionStatus.UNPAID)
    assert [(i.number, i.state) for i in unpaid.invoices] == [("INV-000001", InvoiceState.UNCOLLECTIBLE)]

    await engine.create(start("sub-inv-void"))
    first = await engine.invoice("sub-inv-void", 1)
    await engine.customer(first, "fail")
    await engine.until("sub-inv-void", lambda s: s.period_record(1).status is PeriodStatus.FAILED)
    cancelled = await engine.stack.billing.cancel_subscription("sub-inv-void", reason="customer left")
    assert [(i.number, i.state) for i in cancelled.invoices] == [("INV-000002", InvoiceState.VOID)]
    assert cancelled.status is SubscriptionStatus.CANCELLED


async def test_provider_managed_periods_get_the_same_invoices_marked_charged_by_provider(engine: Engine) -> None:
    stack = engine.stack
    await engine.create(start("sub-inv-waffo", billing_mode=None, plan=priced("basic", "9.99")))
    await waffo_control(engine, "sub-inv-waffo", "pay")
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    await engine.until("sub-inv-waffo", lambda s: s.status is SubscriptionStatus.ACTIVE)
    await waffo_control(engine, "sub-inv-waffo", "renew", {"succeed": False})
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    await engine.until("sub-inv-waffo", lambda s: len(s.invoices) == 2)
    await waffo_control(engine, "sub-inv-waffo", "renew", {"succeed": True})
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    sub = await engine.until(
        "sub-inv-waffo", lambda s: len(s.invoices) == 2 and s.invoices[1].state is InvoiceState.PAID
    )
    assert [table(i) for i in sub.invoices] == [
        ("INV-000001", "sub-inv-waffo-p1", "paid", (("period", 999),), (999, 0, 999, 999, 999)),
        ("INV-000002", "sub-inv-waffo-p2", "paid", (("period", 999),), (999, 0, 999, 999, 999)),
    ]
    assert all(i.charged_by_provider and i.order_id is None for i in sub.invoices)


async def waffo_control(engine: Engine, subscription_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    response = await engine.stack.control.post(
        f"/subscriptions/{subscription_key(subscription_id)}/{action}", json=body or {}
    )
    response.raise_for_status()


async def test_merchant_events_announce_invoices_created_paid_and_voided(
    announced: tuple[Engine, Merchant],
) -> None:
    engine, merchant = announced
    created = await engine.create(start("sub-inv-ev", plan=priced("basic", "30.00")))
    await engine.customer(await engine.invoice("sub-inv-ev", 1), "pay")
    await engine.until("sub-inv-ev", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(2))
    await engine.customer(await engine.invoice("sub-inv-ev", 2), "fail")
    await engine.until("sub-inv-ev", lambda s: s.period_record(2).status is PeriodStatus.FAILED)
    await engine.stack.billing.cancel_subscription("sub-inv-ev")
    events = await merchant.until(lambda found: "invoice.voided" in [e.type for e in found])
    invoice_events = [
        (e.type, e.data["invoice"]["number"], e.data["invoice"]["state"])
        for e in events
        if e.type.startswith("invoice.")
    ]
    assert invoice_events == [
        ("invoice.created", "INV-000001", "open"),
        ("invoice.paid", "INV-000001", "paid"),
        ("invoice.created", "INV-000002", "open"),
        ("invoice.voided", "INV-000002", "void"),
    ]
    sequences = [e.sequence for e in events if e.object_id == "sub-inv-ev"]
    assert sequences == list(range(1, len(sequences) + 1)), "one sequence per subscription, no gap, in order"
    paid = next(e for e in events if e.type == "invoice.paid")
    assert paid.data["invoice"]["amount_paid"] == 3000 and paid.data["invoice"]["order_id"] == "sub-inv-ev-p1"


async def test_a_dunning_retry_collects_the_invoice_amount_not_the_full_price_again(engine: Engine) -> None:
    created = await engine.create(start("sub-inv-retry", plan=priced("basic", "30.00")))
    await engine.customer(await engine.invoice("sub-inv-retry", 1), "pay")
    await engine.until("sub-inv-retry", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    window = created.calendar.period(1)
    await engine.skip_to(window.start + (window.end - window.start) / 2)
    changed = await engine.stack.billing.change_plan("sub-inv-retry", priced("lite", "20.00"))
    # Half the period left: credit -15.00, charge 10.00: 5.00 to the customer's balance, which period 2
    # consumes (20.00 - 5.00 = 15.00 due).
    billing = engine.stack.billing
    assert changed.credit_balance.amount_minor == 0
    assert (await billing.get_balance("cust-e", merchant=billing.invoice_merchant)).of("USD").amount_minor == 500
    await engine.skip_to(created.calendar.period_start(2))
    first = await engine.invoice("sub-inv-retry", 2)
    await engine.customer(first, "fail")
    await engine.until("sub-inv-retry", lambda s: s.status is SubscriptionStatus.PAST_DUE)
    await engine.env.sleep(timedelta(days=1, seconds=5))
    retry = await engine.invoice("sub-inv-retry", 2)
    assert retry == "sub-inv-retry-p2-r1"
    assert (await engine.stack.billing.get_order(retry)).amount.amount_minor == 1500, "the invoice's amount due"
    await engine.customer(retry, "pay")
    sub = await engine.until("sub-inv-retry", lambda s: s.current_period == 2)
    assert table(sub.invoices[1]) == (
        "INV-000002",
        "sub-inv-retry-p2",
        "paid",
        (("period", 2000), ("credit_applied", -500)),
        (2000, 0, 2000, 1500, 1500),
    )
    assert sub.credit_balance.amount_minor == 0
    ledger = await billing.get_balance("cust-e", merchant=billing.invoice_merchant)
    assert ledger.of("USD").amount_minor == 0
    assert [e.reference for e in ledger.recent if e.kind.value == "apply_up_to"] == ["sub-inv-retry-p2"], (
        "the retry collected the same invoice without consuming the balance again"
    )


@pytest.fixture
async def two_slots(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Engine]:
    """A worker that runs two workflow tasks at once: the subscriptions' and their merchant's sequence's. On
    the dev server: the time-skipping one skips time while a workflow task waits for a local activity, and
    times the task out."""
    async with order_stack(dev_server_env.client, workflow_slots=2) as stack:
        running = Engine(dev_server_env, stack)
        try:
            yield running
        finally:
            await running.close()


async def test_numbers_taken_at_once_on_a_worker_with_two_workflow_task_slots(two_slots: Engine) -> None:
    """Provider-managed subscriptions take their first invoice's number in the workflow task that applies the
    first payment, from the sequence on the same worker: six at once cannot all hold the two slots waiting
    for the sequence. Every one gets its number, gap-free and unique, within the test's time (a task waits
    a bounded time, and on a worker this small one task at most: the others ask through an ordinary activity
    and let their slots go). Tasks that waited until the sequence answered never got it (a 60 s local wait
    and no cap on waits made this test fail, when sequences shared the subscriptions' queue)."""
    ids = [f"sub-slot-{i}" for i in range(6)]
    for sub_id in ids:
        await two_slots.create(start(sub_id, billing_mode=None))
    await asyncio.gather(*(waffo_control(two_slots, sub_id, "pay") for sub_id in ids))
    await two_slots.stack.hub.waffo.drain_notifications(timeout_s=10)
    subs = await asyncio.gather(*(two_slots.until(sub_id, lambda s: len(s.invoices) == 1) for sub_id in ids))
    numbers = sorted(sub.invoices[0].number for sub in subs)
    assert numbers == [f"INV-{n:06d}" for n in range(1, 7)]
    assert await sequence_last(two_slots) == 6


async def test_a_run_started_before_numbers_in_task_takes_them_past_its_patch_and_replays(engine: Engine) -> None:
    """A run whose memo lacks the ``numbers-in-task`` feature (started by a client from before) asks the
    patch at its first number: live, it takes the number in the task (no allocate activity); its history,
    patch marker included, replays on today's code."""
    request = start("sub-inv-patch")
    older = [f for f in events.features_memo()[events.FEATURES_MEMO] if f != events.NUMBERS_IN_TASK_FEATURE]
    client = engine.stack.client
    operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        SubscriptionWorkflow.run,
        SubscriptionInput(request=request),
        id=subscription_workflow_id(request.subscription_id),
        task_queue=engine.stack.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        memo={events.FEATURES_MEMO: older},
    )
    engine.subscriptions.append(request.subscription_id)
    submit = SubmitSubscription(subscription_id=request.subscription_id, fingerprint=request.fingerprint())
    await client.execute_update_with_start_workflow(
        SubscriptionWorkflow.submit, submit, start_workflow_operation=operation
    )
    sub = await engine.until(request.subscription_id, lambda s: len(s.invoices) == 1)
    assert sub.invoices[0].number == "INV-000001"
    history = await client.get_workflow_handle(subscription_workflow_id(request.subscription_id)).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "invoices.allocate" not in scheduled and "invoices.confirm" not in scheduled
    markers = [
        e.marker_recorded_event_attributes for e in history.events if e.HasField("marker_recorded_event_attributes")
    ]
    patches = [m for m in markers if m.marker_name == "core_patch" and NUMBERS_IN_TASK_PATCH in str(m.details)]
    assert len(patches) == 1
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=data_converter(), workflow_runner=checking_workflow_runner()
    )
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None


async def test_balances_asked_at_once_on_a_worker_with_two_workflow_task_slots(two_slots: Engine) -> None:
    """Each engine-invoiced subscription's first invoice asks its customer's balance (a workflow of its own,
    started by the question) in the workflow task that issues it: six customers at once cannot all hold the
    two slots waiting for six balance workflows that need a slot to answer. Every invoice is issued within
    the test's time, the balance asked once per invoice. (A local activity that waited until the balance
    answered, retried without bound, stalled every one of them.)"""
    ids = [f"sub-bal-{i}" for i in range(6)]
    await asyncio.gather(
        *(
            two_slots.create(start(sub_id, customer=Customer(customer_id=f"cust-{sub_id}", email="b@example.com")))
            for sub_id in ids
        )
    )
    subs = await asyncio.gather(*(two_slots.until(sub_id, lambda s: len(s.invoices) == 1) for sub_id in ids))
    assert sorted(sub.invoices[0].number for sub in subs) == [f"INV-{n:06d}" for n in range(1, 7)]
    billing = two_slots.stack.billing
    for sub in subs:
        assert sub.invoices[0].amount_due == 999, "nothing on the balance: the whole period is due"
        ledger = await billing.get_balance(sub.customer_id, merchant=billing.invoice_merchant)
        assert ledger.of("USD").amount_minor == 0 and not ledger.recent, "nothing moved"
        # One task of a worker this small may wait (the balance answers from the ledger queue's worker): the
        # balance is answered once per invoice, in the task (a local activity's marker with its result) or,
        # when the wait was taken or ran out, through the ordinary activity.
        history = await two_slots.stack.client.get_workflow_handle(
            f"subscription-{sub.subscription_id}"
        ).fetch_history()
        asked = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        answered_in_task = [
            m
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
            and (m := e.marker_recorded_event_attributes).marker_name == "core_local_activity"
            and "balance.apply_up_to" in str(m.details["data"])
            and not m.HasField("failure")
        ]
        assert asked.count("balance.apply_up_to") + len(answered_in_task) == 1, (asked, answered_in_task)
