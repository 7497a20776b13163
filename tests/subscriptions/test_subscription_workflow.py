"""SubscriptionWorkflow (provider-managed, Waffo) on the time-skipping server with the real emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from billing import errors
from billing.gateway import BillingInterval, CancelledBy, Customer, SubscriptionPlan
from billing.idempotency import subscription_key
from billing.money import Money
from billing.proration import prorate
from billing.subscriptions import (
    PeriodStatus,
    StartSubscription,
    Subscription,
    SubscriptionPolicy,
    SubscriptionStatus,
    subscription_workflow_id,
)
from tests.support.stack import OrderStack, allocations_done, order_stack

POLICY = SubscriptionPolicy(
    authorization_window=timedelta(hours=1),
    renewal_grace=timedelta(hours=6),
    inquiry_schedule=(timedelta(hours=1),),
    provider_call_timeout=timedelta(seconds=10),
)


def plan(amount: str = "9.99", periods: int | None = None, plan_id: str = "basic") -> SubscriptionPlan:
    return SubscriptionPlan(plan_id=plan_id, description=f"Plan {plan_id}", amount=Money.parse(amount, "USD"),
                            interval=BillingInterval.MONTH, periods=periods)  # fmt: skip


def start(subscription_id: str, **overrides: Any) -> StartSubscription:
    fields: dict[str, Any] = {
        "subscription_id": subscription_id, "provider": "waffo", "plan": plan(),
        "customer": Customer(customer_id="cust-s", email="s@example.com"), "policy": POLICY,
    }  # fmt: skip
    fields.update(overrides)
    return StartSubscription.model_validate(fields)


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client, checked=True) as running:
        started: list[str] = []
        original = running.billing.create_subscription

        async def recording(request: StartSubscription) -> Subscription:
            started.append(request.subscription_id)
            return await original(request)

        running.billing.create_subscription = recording  # type: ignore[method-assign]
        yield running
        for subscription_id in started:
            handle = running.client.get_workflow_handle(subscription_workflow_id(subscription_id))
            try:
                await allocations_done(running.client, handle.id)
                await handle.terminate("test finished")
            except Exception:  # noqa: S110 - already closed
                pass


async def control(stack: OrderStack, subscription_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    response = await stack.control.post(f"/subscriptions/{subscription_key(subscription_id)}/{action}", json=body or {})
    response.raise_for_status()


async def settled(stack: OrderStack, subscription_id: str, check: Any) -> Subscription:
    await stack.hub.waffo.drain_notifications(timeout_s=10)
    return await stack.billing.wait_for_subscription(subscription_id, check)


async def activated(stack: OrderStack, subscription_id: str, **overrides: Any) -> Subscription:
    created = await stack.billing.create_subscription(start(subscription_id, **overrides))
    assert created.status is SubscriptionStatus.INCOMPLETE
    await control(stack, subscription_id, "pay")
    return await settled(stack, subscription_id, lambda s: s.status is SubscriptionStatus.ACTIVE)


async def test_create_returns_the_authorization_url_then_first_payment_activates(stack: OrderStack) -> None:
    created = await stack.billing.create_subscription(start("sub-first"))
    assert created.customer_action is not None
    assert created.customer_action.url and "/checkout/subscription/" in created.customer_action.url
    again = await stack.billing.create_subscription(start("sub-first"))
    assert again.request_key == created.request_key
    with pytest.raises(errors.ConflictError):
        await stack.billing.create_subscription(start("sub-first", plan=plan("19.99")))

    await control(stack, "sub-first", "pay")
    active = await settled(stack, "sub-first", lambda s: s.status is SubscriptionStatus.ACTIVE and s.periods)
    assert active.current_period == 1
    assert active.periods[0].status is PeriodStatus.PAID
    assert active.calendar is not None
    assert active.next_billing_at == active.calendar.period_start(2)
    assert next(e for e in active.timeline if e.event == "benefits_granted").detail == "period 1"


async def test_renewals_failed_renewal_and_recovery_grant_each_period_once(stack: OrderStack) -> None:
    await activated(stack, "sub-renew")
    await control(stack, "sub-renew", "renew", {"succeed": True})
    sub = await settled(stack, "sub-renew", lambda s: s.current_period == 2)
    assert sub.status is SubscriptionStatus.ACTIVE

    await control(stack, "sub-renew", "renew", {"succeed": False})
    sub = await settled(stack, "sub-renew", lambda s: s.status is SubscriptionStatus.PAST_DUE)
    assert sub.period_record(3).status is PeriodStatus.FAILED

    await control(stack, "sub-renew", "renew", {"succeed": True})
    sub = await settled(stack, "sub-renew", lambda s: s.current_period == 3 and s.status is SubscriptionStatus.ACTIVE)
    grants = [e.detail for e in sub.timeline if e.event == "benefits_granted"]
    assert grants == ["period 1", "period 2", "period 3"], "each period granted exactly once"
    charges = [e for e in await stack.ledger("charge") if e.get("subscriptionId")]
    assert len(charges) == 3


async def test_provider_managed_trial_is_charged_by_waffo_at_the_trial_price(stack: OrderStack) -> None:
    trial = plan().model_copy(update={"trial_periods": 1, "trial_amount": Money.parse("1.00", "USD")})
    await activated(stack, "sub-waffo-trial", plan=trial)
    await control(stack, "sub-waffo-trial", "renew", {"succeed": True})
    sub = await settled(stack, "sub-waffo-trial", lambda s: s.current_period == 2)
    assert sub.status is SubscriptionStatus.ACTIVE
    charges = [e for e in await stack.ledger("charge") if e.get("subscriptionId")]
    assert [Money.parse(e["amount"], "USD") for e in charges] == [Money.parse("1.00", "USD"), trial.amount]


async def test_fixed_term_expires(stack: OrderStack) -> None:
    await activated(stack, "sub-fixed", plan=plan(periods=2))
    await control(stack, "sub-fixed", "renew", {"succeed": True})
    await settled(stack, "sub-fixed", lambda s: s.current_period == 2)
    await control(stack, "sub-fixed", "renew", {"succeed": True})
    sub = await settled(stack, "sub-fixed", lambda s: s.status is SubscriptionStatus.EXPIRED)
    assert sub.next_billing_at is None


async def test_cancel_at_period_end_resume_then_cancel_now(dev_server_env: WorkflowEnvironment) -> None:
    # On the real dev server: the time-skipping test server loses some rejected updates ("update not found").
    async with order_stack(dev_server_env.client, checked=True) as stack:
        await _cancel_resume_cancel(stack)


async def _cancel_resume_cancel(stack: OrderStack) -> None:
    await activated(stack, "sub-cancel")
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.resume_subscription("sub-cancel")
    pending = await stack.billing.cancel_subscription("sub-cancel", at_period_end=True, reason="too expensive")
    assert pending.cancel_at_period_end
    assert pending.status is SubscriptionStatus.ACTIVE
    resumed = await stack.billing.resume_subscription("sub-cancel")
    assert not resumed.cancel_at_period_end
    cancelled = await stack.billing.cancel_subscription("sub-cancel")
    assert cancelled.status is SubscriptionStatus.CANCELLED
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.cancel_subscription("sub-cancel")


async def test_cancel_at_period_end_happens_at_the_period_end(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await activated(stack, "sub-end")
    await stack.billing.cancel_subscription("sub-end", at_period_end=True)
    await time_skipping_env.sleep(timedelta(days=32))
    sub = await settled(stack, "sub-end", lambda s: s.status is SubscriptionStatus.CANCELLED)
    assert sub.cancelled_by is CancelledBy.MERCHANT


async def test_customer_cancel_at_the_provider_is_mirrored(stack: OrderStack) -> None:
    await activated(stack, "sub-user")
    await control(stack, "sub-user", "user-cancel")
    sub = await settled(stack, "sub-user", lambda s: s.status is SubscriptionStatus.CANCELLED)
    assert sub.cancelled_by is CancelledBy.CUSTOMER


async def test_overdue_renewal_is_inquired_and_marked_past_due(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await activated(stack, "sub-overdue")
    await time_skipping_env.sleep(timedelta(days=32))
    sub = await settled(stack, "sub-overdue", lambda s: s.status is SubscriptionStatus.PAST_DUE)
    assert any(e.event == "inquiry" for e in sub.timeline)


async def test_preview_change_uses_the_real_proration(stack: OrderStack) -> None:
    sub = await activated(stack, "sub-preview")
    upgrade = plan("19.99", plan_id="pro")
    preview = await stack.billing.preview_change("sub-preview", upgrade)
    window = sub.current_period_window()
    assert window is not None
    assert preview.charge.currency == "USD"
    assert -preview.credit <= sub.plan.amount
    assert preview.net == preview.charge + preview.credit
    # Waffo's change starts a new cycle: a full period of the new price, less the unused part of the old.
    assert preview.charge == upgrade.amount
    credit_bound = prorate(sub.plan.amount, upgrade.amount, window, window.start).credit
    assert credit_bound <= preview.credit <= Money.zero("USD")
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.preview_change("sub-preview", sub.plan)


async def test_commands_on_an_incomplete_subscription_are_refused(stack: OrderStack) -> None:
    await stack.billing.create_subscription(start("sub-incomplete"))
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.cancel_subscription("sub-incomplete")
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.management_link("sub-incomplete")


async def test_management_link(stack: OrderStack) -> None:
    await activated(stack, "sub-manage")
    link = await stack.billing.management_link("sub-manage")
    assert link.url.startswith("http")


async def test_upgrade_now_charges_exactly_the_prorated_difference(stack: OrderStack) -> None:
    await activated(stack, "sub-up")
    changing = await stack.billing.change_plan("sub-up", plan("19.99", plan_id="pro"))
    change = changing.pending_change
    assert change is not None
    assert change.proration is not None
    assert change.customer_action is not None, "Waffo's new subscription needs the customer's authorization"
    with pytest.raises(errors.InvalidStateError):
        await stack.billing.change_plan("sub-up", plan("29.99", plan_id="max"))

    response = await stack.control.post(f"/subscriptions/{subscription_key('sub-up', 2)}/pay", json={})
    response.raise_for_status()
    sub = await settled(stack, "sub-up", lambda s: s.plan.plan_id == "pro" and s.pending_change is None)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.generation == 2
    charges = [e for e in await stack.ledger("charge") if e.get("subscriptionId") == sub.provider_reference]
    assert [Money.parse(e["amount"], "USD") for e in charges] == [change.proration.net], "preview == charge"
    assert sub.period_record(1).amount == change.proration.net
    grants = [e.detail for e in sub.timeline if e.event == "benefits_granted"]
    assert grants == ["period 1", "period 1 of plan 2"]
    renewed = await stack.control.post(f"/subscriptions/{subscription_key('sub-up', 2)}/renew", json={"succeed": True})
    renewed.raise_for_status()
    after = await settled(stack, "sub-up", lambda s: s.current_period == 2)
    assert after.period_record(2).amount == Money.parse("19.99", "USD")


async def test_downgrade_now_is_refused_but_at_period_end_is_scheduled(
    time_skipping_env: WorkflowEnvironment, stack: OrderStack
) -> None:
    await activated(stack, "sub-down")
    cheaper = plan("1.99", plan_id="lite")
    with pytest.raises(errors.InvalidStateError) as info:
        await stack.billing.change_plan("sub-down", cheaper)
    assert info.value.field == "at_period_end"
    scheduled = await stack.billing.change_plan("sub-down", cheaper, at_period_end=True)
    assert scheduled.pending_change is not None and scheduled.pending_change.scheduled
    await time_skipping_env.sleep(timedelta(days=31))
    sent = await stack.billing.wait_for_subscription(
        "sub-down", lambda s: s.pending_change is not None and not s.pending_change.scheduled
    )
    assert sent.pending_change is not None and sent.pending_change.proration is not None
    assert sent.pending_change.proration.fraction_remaining < 1


async def test_continue_as_new_while_updates_arrive_loses_nothing(dev_server_env: WorkflowEnvironment) -> None:
    async with order_stack(dev_server_env.client, checked=True) as stack:
        policy = POLICY.model_copy(update={"max_history_events": 40})
        await activated(stack, "sub-can", policy=policy)
        handle = stack.client.get_workflow_handle(subscription_workflow_id("sub-can"))
        first_run = (await handle.describe()).run_id
        upgrade = plan("19.99", plan_id="pro")
        for round_no in range(6):
            previews = [stack.billing.preview_change("sub-can", upgrade) for _ in range(3)]
            await asyncio.gather(*previews)
            await stack.billing.cancel_subscription("sub-can", at_period_end=True, reason=f"round {round_no}")
            await stack.billing.resume_subscription("sub-can")
        await control(stack, "sub-can", "renew", {"succeed": True})
        sub = await settled(stack, "sub-can", lambda s: s.current_period == 2)
        runs = [execution async for execution in stack.client.list_workflows("WorkflowId = 'subscription-sub-can'")]
        assert len(runs) >= 2, "the subscription continued as new"
        assert (await handle.describe()).run_id != first_run
        assert not sub.cancel_at_period_end
        assert [e.detail for e in sub.timeline if e.event == "cancel_at_period_end"] == [f"round {i}" for i in range(6)]
        assert len([e for e in sub.timeline if e.event == "resumed"]) == 6
        assert [e.detail for e in sub.timeline if e.event == "benefits_granted"] == ["period 1", "period 2"]
        await allocations_done(stack.client, handle.id)
        await handle.terminate("test finished")
