"""Test clocks on the real dev server with the real emulators: an engine-charged subscription attached to a
clock lives through three months of renewals, a declined renewal and its dunning retry in one ``advance``,
while a subscription that is not attached, in the same namespace, keeps the real time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from billing import errors
from billing.clocks import TEST_CLOCKS_VARIABLE, ClockStep, clock_workflow_id
from billing.gateway import Customer
from billing.invoices import InvoiceState
from billing.subscriptions import BillingMode, PeriodStatus, SubscriptionStatus, subscription_workflow_id
from tests.subscriptions.test_engine_invoiced import POLICY, priced, start
from tests.support.stack import OrderStack, order_stack

START = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
async def stack(dev_server_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OrderStack]:
    monkeypatch.setenv(TEST_CLOCKS_VARIABLE, "enabled")
    async with order_stack(dev_server_env.client, checked=True) as running:
        clocks: list[str] = []
        original = running.billing.create_test_clock

        async def recording(**kwargs: object) -> object:
            state = await original(**kwargs)  # type: ignore[arg-type]
            clocks.append(state.clock_id)
            return state

        running.billing.create_test_clock = recording  # type: ignore[method-assign,assignment]
        try:
            yield running
        finally:
            for clock_id in clocks:
                await running.client.get_workflow_handle(clock_workflow_id(clock_id)).terminate("test finished")


async def set_wallet(stack: OrderStack, number: str, behaviour: list[str]) -> None:
    response = await stack.control.post(
        f"{stack.emulator_url}/waafipay/control/wallets",
        json={"number": number, "balance": "500.00", "pin": "1212", "behaviour": behaviour},
    )
    response.raise_for_status()


def wallet_subscription(subscription_id: str, wallet: str, **overrides: object):  # type: ignore[no-untyped-def]
    return start(
        subscription_id,
        provider="waafipay",
        billing_mode=None,
        plan=priced("wallet", "2.00"),
        customer=Customer(customer_id=f"cust-{subscription_id}", phone=wallet),
        **overrides,
    )


async def test_advance_95_days_renews_three_times_in_order_with_a_dunning_retry(stack: OrderStack) -> None:
    tag = uuid.uuid4().hex[:6]
    attached_id, loose_id = f"clk-{tag}", f"real-{tag}"
    wallet, other_wallet = "252611119001", "252611119002"
    # One answer per push: period 1, period 2 short of balance, its retry the next day, periods 3 and 4.
    await set_wallet(stack, wallet, ["approve", "insufficient", "approve", "approve", "approve"])
    await set_wallet(stack, other_wallet, ["approve"])
    clock = await stack.billing.create_test_clock(start=START)
    assert clock.now == START and clock.attached == []

    # Not attached: its first period starts in twenty real days, and it must stay exactly as it is.
    real_anchor = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    loose = await stack.billing.create_subscription(
        wallet_subscription(loose_id, other_wallet, billing_anchor=real_anchor)
    )
    created = await stack.billing.create_subscription(
        wallet_subscription(attached_id, wallet), test_clock=clock.clock_id
    )
    assert created.mode is BillingMode.ENGINE_CHARGED
    assert created.calendar is not None and created.calendar.anchor == START, "the period starts at the clock's time"

    steps: list[ClockStep] = []
    after = await stack.billing.advance_test_clock(clock.clock_id, START + timedelta(days=95), progress=steps.append)

    assert after.now == START + timedelta(days=95)
    feb1, mar1, apr1 = (datetime(2027, month, 1, tzinfo=UTC) for month in (2, 3, 4))
    # Each due time in order: the renewals, the dunning retry one day after the decline, then the target.
    assert [step.now for step in steps] == [START, feb1, feb1 + timedelta(days=1), mar1, apr1, after.now]
    assert steps[-1].due[subscription_workflow_id(attached_id)] == datetime(2027, 5, 1, tzinfo=UTC)

    sub = await stack.billing.get_subscription(attached_id)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.current_period == 4
    assert [r.order_id for r in sub.periods] == [f"{attached_id}-p{n}" for n in (1,)] + [
        f"{attached_id}-p2-r1",
        f"{attached_id}-p3",
        f"{attached_id}-p4",
    ]
    assert all(r.status is PeriodStatus.PAID for r in sub.periods)
    assert [r.paid_at for r in sub.periods] == [START, feb1 + timedelta(days=1), mar1, apr1], "paid in clock time"
    past_due = [e.at for e in sub.timeline if e.detail.endswith("-> PAST_DUE") or "-> PAST_DUE:" in e.detail]
    assert past_due == [feb1], "the declined renewal, at its clock time"
    assert [e.at for e in sub.timeline] == sorted(e.at for e in sub.timeline), "lived in order"
    invoices = await stack.billing.list_invoices(attached_id)
    assert [(i.number, i.invoice_id, i.state) for i in invoices] == [
        (f"INV-{n:06d}", f"{attached_id}-p{n}", InvoiceState.PAID) for n in (1, 2, 3, 4)
    ]
    assert [i.created_at for i in invoices] == [START, feb1, mar1, apr1]
    ledger = (await stack.control.get(f"{stack.emulator_url}/waafipay/control/ledger")).json()["entries"]
    charges = [e for e in ledger if e["kind"] == "charge" and e.get("account", wallet) == wallet]
    assert len(charges) == 4, "four periods, four charges: the declined push moved no money"

    handle = stack.client.get_workflow_handle(subscription_workflow_id(attached_id))
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert f"simulated time: {after.now.isoformat()}" in metadata.current_details

    unattached = await stack.billing.get_subscription(loose_id)
    assert unattached.current_period == 0 and unattached.next_billing_at == real_anchor == loose.next_billing_at
    assert unattached.invoices == [] and unattached.timeline == loose.timeline
    shown = await stack.billing.get_test_clock(clock.clock_id)
    assert shown.attached == [subscription_workflow_id(attached_id)]


async def test_provider_managed_subscriptions_cannot_be_attached(stack: OrderStack) -> None:
    clock = await stack.billing.create_test_clock()
    request = start(f"pm-{uuid.uuid4().hex[:6]}", billing_mode=BillingMode.PROVIDER_MANAGED)
    with pytest.raises(errors.InvalidStateError) as refused:
        await stack.billing.create_subscription(request, test_clock=clock.clock_id)
    assert refused.value.field == "test_clock"
    assert (await stack.billing.get_test_clock(clock.clock_id)).attached == []


async def test_refused_unless_enabled(stack: OrderStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEST_CLOCKS_VARIABLE)
    with pytest.raises(errors.InvalidStateError, match=TEST_CLOCKS_VARIABLE):
        await stack.billing.create_test_clock()
    with pytest.raises(errors.InvalidStateError, match=TEST_CLOCKS_VARIABLE) as refused:
        await stack.billing.create_subscription(start(f"x-{uuid.uuid4().hex[:6]}"), test_clock="any")
    assert refused.value.field == "test_clock"


async def test_a_worker_without_the_setting_refuses_a_clock_the_client_allows(
    stack: OrderStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client believes the providers are emulators; the worker (same process here) is not told so.
    monkeypatch.setattr("starter.client_clocks.require_test_clocks", lambda **_: None)
    monkeypatch.delenv(TEST_CLOCKS_VARIABLE)
    with pytest.raises(errors.InvalidStateError, match="this worker does not allow test clocks"):
        await stack.billing.create_test_clock(clock_id=f"refused-{uuid.uuid4().hex[:6]}")


async def test_the_clock_only_moves_forward(stack: OrderStack) -> None:
    clock = await stack.billing.create_test_clock(start=START)
    with pytest.raises(errors.InputError) as refused:
        await stack.billing.advance_test_clock(clock.clock_id, START - timedelta(days=1))
    assert refused.value.field == "to"
    with pytest.raises(errors.NotFoundError):
        await stack.billing.advance_test_clock("no-such-clock", START)


async def test_engine_invoiced_waits_for_the_customer_and_closes_unpaid_invoices_at_their_clock_due(
    stack: OrderStack,
) -> None:
    sub_id = f"inv-{uuid.uuid4().hex[:6]}"
    workflow_id = subscription_workflow_id(sub_id)
    clock = await stack.billing.create_test_clock(start=START)
    request = start(sub_id, customer=Customer(customer_id=f"cust-{sub_id}", email="inv@example.com"))
    await stack.billing.create_subscription(request, test_clock=clock.clock_id)

    steps: list[ClockStep] = []
    await stack.billing.advance_test_clock(clock.clock_id, START + timedelta(days=2), progress=steps.append)
    # The first invoice's page is out: the clock moves on while the customer has three days (invoice_due) to pay.
    assert [(s.now, s.awaiting, s.due) for s in steps] == [
        (START, {workflow_id: f"{sub_id}-p1"}, {workflow_id: START + timedelta(days=3)}),
        (START + timedelta(days=2), {workflow_id: f"{sub_id}-p1"}, {workflow_id: START + timedelta(days=3)}),
    ]
    await stack.customer(f"{sub_id}-p1", "pay")
    paid = await stack.billing.wait_for_subscription(sub_id, lambda s: s.current_period == 1)
    assert paid.period_record(1).paid_at == START + timedelta(days=2), "paid at the clock's time"

    steps.clear()
    feb1 = datetime(2027, 2, 1, tzinfo=UTC)
    after = await stack.billing.advance_test_clock(clock.clock_id, feb1 + timedelta(days=14), progress=steps.append)
    # Nobody pays period 2: each invoice's window closes three clock days after it was issued, and the
    # dunning retries follow one and three days later; after the last, the subscription is UNPAID.
    day = timedelta(days=1)
    assert [s.now for s in steps] == [
        START + 2 * day, feb1, feb1 + 3 * day, feb1 + 4 * day, feb1 + 7 * day, feb1 + 10 * day, feb1 + 13 * day,
        after.now,
    ]  # fmt: skip
    sub = await stack.billing.get_subscription(sub_id)
    assert sub.status is SubscriptionStatus.UNPAID and sub.current_period == 1
    assert sub.period_record(2).order_id == f"{sub_id}-p2-r2"
    past_due = [e.at for e in sub.timeline if "-> PAST_DUE" in e.detail]
    unpaid = [e.at for e in sub.timeline if "-> UNPAID" in e.detail]
    assert past_due == [feb1 + 3 * day] and unpaid == [feb1 + 13 * day]
    invoices = await stack.billing.list_invoices(sub_id)
    assert [(i.invoice_id, i.state) for i in invoices] == [
        (f"{sub_id}-p1", InvoiceState.PAID),
        (f"{sub_id}-p2", InvoiceState.UNCOLLECTIBLE),
    ]
    for attempt in ("p2", "p2-r1", "p2-r2"):
        order = await stack.billing.get_order(f"{sub_id}-{attempt}")
        assert order.status.value == "CANCELLED", f"{attempt}: {order.status}"


async def test_trial_change_and_cancel_at_period_end_and_the_final_watch_across_new_runs(stack: OrderStack) -> None:
    tag = uuid.uuid4().hex[:6]
    sub_id, wallet = f"trial-{tag}", "252611119003"
    workflow_id = subscription_workflow_id(sub_id)
    await set_wallet(stack, wallet, ["approve", "approve"])
    clock = await stack.billing.create_test_clock(start=START)
    # A short history cap: the run continues as new several times while the clock moves.
    request = wallet_subscription(
        sub_id, wallet, trial_days=14, policy=POLICY.model_copy(update={"max_history_events": 30})
    )
    created = await stack.billing.create_subscription(request, test_clock=clock.clock_id)
    assert created.status is SubscriptionStatus.TRIALING
    day = timedelta(days=1)
    jan15, feb15, mar15 = (datetime(2027, month, 15, tzinfo=UTC) for month in (1, 2, 3))

    steps: list[ClockStep] = []
    await stack.billing.advance_test_clock(clock.clock_id, START + 19 * day, progress=steps.append)
    assert [(s.now, s.due[workflow_id]) for s in steps] == [(START, jan15), (jan15, feb15), (START + 19 * day, feb15)]
    after_trial = await stack.billing.get_subscription(sub_id)
    assert after_trial.status is SubscriptionStatus.ACTIVE and after_trial.period_record(1).paid_at == jan15

    pro = priced("pro", "5.00")
    changed = await stack.billing.change_plan(sub_id, pro, at_period_end=True)
    assert changed.pending_change is not None and changed.pending_change.requested_at == START + 19 * day
    await stack.billing.advance_test_clock(clock.clock_id, feb15 + 5 * day)
    renewed = await stack.billing.get_subscription(sub_id)
    assert renewed.plan.plan_id == "pro" and renewed.period_record(2).amount == pro.amount
    assert renewed.period_record(2).paid_at == feb15

    await stack.billing.cancel_subscription(sub_id, at_period_end=True)
    steps.clear()
    end = datetime(2027, 4, 30, tzinfo=UTC)
    await stack.billing.advance_test_clock(clock.clock_id, end, progress=steps.append)
    # Cancelled at the period end; the final watch (30 days) then ends the run, which drops out of the steps.
    assert [s.now for s in steps] == [feb15 + 5 * day, mar15, mar15 + 30 * day, end]
    assert steps[-1].due == {}
    ended = await stack.billing.get_subscription(sub_id)
    assert ended.status is SubscriptionStatus.CANCELLED and ended.cancelled_at == mar15
    assert [r.amount for r in ended.periods] == [priced("wallet", "2.00").amount, pro.amount]
    description = await stack.client.get_workflow_handle(workflow_id).describe()
    assert description.status is not None and description.status.name == "COMPLETED"
    assert description.raw_description.workflow_execution_info.first_run_id != description.run_id, "continued as new"


async def test_an_advance_right_after_an_upgrade_waits_for_its_charge(stack: OrderStack) -> None:
    """The upgrade's charge is in flight when the clock is asked to move: it settles at the change's clock
    time, before the clock passes the next renewal (not at the renewal, as if paid a month late)."""
    tag = uuid.uuid4().hex[:6]
    sub_id, wallet = f"clk-up-{tag}", "252611119003"
    await set_wallet(stack, wallet, ["approve"])
    clock = await stack.billing.create_test_clock(start=START)
    await stack.billing.create_subscription(wallet_subscription(sub_id, wallet), test_clock=clock.clock_id)
    jan16, feb1 = START + timedelta(days=15), datetime(2027, 2, 1, tzinfo=UTC)
    await stack.billing.advance_test_clock(clock.clock_id, jan16)

    changed = await stack.billing.change_plan(sub_id, priced("wallet-pro", "4.00"))
    assert changed.adjustments and changed.adjustments[0].status is PeriodStatus.PENDING
    await stack.billing.advance_test_clock(clock.clock_id, feb1 + timedelta(days=1))

    sub = await stack.billing.get_subscription(sub_id)
    assert sub.adjustments[0].status is PeriodStatus.PAID
    paid = [e.at for e in sub.timeline if e.event == "adjustment" and " paid (" in e.detail]
    assert paid == [jan16], f"the upgrade charge settled at {paid}, not at the change's clock time"
    assert sub.current_period == 2
    assert [e.at for e in sub.timeline] == sorted(e.at for e in sub.timeline), "lived in order"
