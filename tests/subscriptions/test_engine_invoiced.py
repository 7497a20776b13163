"""Engine-invoiced subscriptions on the time-skipping server: the engine owns the calendar and bills
each period through a child order (Waffo hosted checkout), with trials, dunning, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from billing import errors
from billing.calendar import add_interval
from billing.gateway import BillingInterval, Customer, SubscriptionPlan
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import order_workflow_id
from billing.subscriptions import (
    BillingMode,
    DunningOutcome,
    PeriodStatus,
    StartSubscription,
    Subscription,
    SubscriptionPolicy,
    SubscriptionStatus,
    subscription_workflow_id,
)
from tests.support.stack import OrderStack, allocations_done

POLICY = SubscriptionPolicy(
    invoice_due=timedelta(days=3),
    dunning_schedule=(timedelta(days=1), timedelta(days=3)),
    provider_call_timeout=timedelta(seconds=10),
)


def start(subscription_id: str, **overrides: Any) -> StartSubscription:
    fields: dict[str, Any] = {
        "subscription_id": subscription_id,
        "provider": "waffo",
        "billing_mode": BillingMode.ENGINE_INVOICED,
        "plan": SubscriptionPlan(
            plan_id="basic", description="Basic", amount=Money.parse("9.99", "USD"), interval=BillingInterval.MONTH
        ),
        "customer": Customer(customer_id="cust-e", email="e@example.com"),
        "policy": POLICY,
    }
    fields.update(overrides)
    return StartSubscription.model_validate(fields)


class Engine:
    def __init__(self, env: WorkflowEnvironment, stack: OrderStack) -> None:
        self.env, self.stack = env, stack
        self.orders: list[str] = []
        self.subscriptions: list[str] = []

    async def create(self, request: StartSubscription) -> Subscription:
        self.subscriptions.append(request.subscription_id)
        return await self.stack.billing.create_subscription(request)

    async def get(self, subscription_id: str) -> Subscription:
        return await self.stack.billing.get_subscription(subscription_id)

    async def until(self, subscription_id: str, check: Any) -> Subscription:
        try:
            return await self.stack.billing.wait_for_subscription(subscription_id, check, timeout=timedelta(seconds=20))
        except TimeoutError:
            sub = await self.get(subscription_id)
            timeline = "\n".join(f"{e.event}: {e.detail}" for e in sub.timeline)
            raise TimeoutError(f"{subscription_id} is {sub.status}; timeline:\n{timeline}") from None

    async def skip_to(self, instant: datetime) -> None:
        now = await self.env.get_current_time()
        if instant > now:
            await self.env.sleep(instant - now + timedelta(seconds=1))

    async def invoice(self, subscription_id: str, number: int) -> str:
        """Wait until period ``number``'s current invoice order has its checkout; return the order id."""
        sub = await self.until(
            subscription_id,
            lambda s: any(
                r.number == number and r.order_id and r.checkout_url and r.status is PeriodStatus.PENDING
                for r in s.periods
            ),
        )
        order_id = next(r.order_id for r in sub.periods if r.number == number)
        assert order_id is not None
        self.orders.append(order_id)
        return order_id

    async def customer(self, order_id: str, action: str) -> None:
        response = await self.stack.control.post(f"/orders/{payment_key(order_id)}/{action}")
        response.raise_for_status()

    async def close(self) -> None:
        for workflow_id in [*map(order_workflow_id, self.orders), *map(subscription_workflow_id, self.subscriptions)]:
            try:
                await allocations_done(self.stack.client, workflow_id)
                await self.stack.client.get_workflow_handle(workflow_id).terminate("test finished")
            except Exception:  # noqa: S110 - already closed
                pass


async def test_three_years_of_monthly_invoices_from_a_january_31_anchor(engine: Engine) -> None:
    now = await engine.env.get_current_time()
    anchor = datetime(now.year + 1, 1, 31, 9, 0, tzinfo=UTC)
    created = await engine.create(start("sub-jan31", billing_anchor=anchor))
    assert created.next_billing_at == anchor
    for number in range(1, 37):
        expected = add_interval(anchor, BillingInterval.MONTH, 1, number - 1)
        await engine.skip_to(expected)
        order_id = await engine.invoice("sub-jan31", number)
        assert order_id == f"sub-jan31-p{number}"
        await engine.customer(order_id, "pay")
        await engine.until("sub-jan31", lambda s, n=number: s.current_period == n)
    sub = await engine.get("sub-jan31")
    starts = [r.start for r in sub.periods]
    assert [s.day for s in starts[:4] if s] == [31, 28 if (anchor.year % 4) else 29, 31, 30]
    assert all(s is not None and s.day == min(31, s.day) for s in starts)
    assert starts[12] == anchor.replace(year=anchor.year + 1)
    assert starts[35] == add_interval(anchor, BillingInterval.MONTH, 1, 35)
    assert all(r.status is PeriodStatus.PAID and r.granted for r in sub.periods)
    assert sub.status is SubscriptionStatus.ACTIVE
    charges = [e for e in await engine.stack.ledger("charge") if e["paymentRequestId"]]
    assert len(charges) == 36


async def test_trial_then_active(engine: Engine) -> None:
    created = await engine.create(start("sub-trial", trial_days=14))
    assert created.status is SubscriptionStatus.TRIALING
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(1))
    await engine.customer(await engine.invoice("sub-trial", 1), "pay")
    sub = await engine.until("sub-trial", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert sub.current_period == 1


async def test_failed_renewal_recovered_by_dunning(engine: Engine) -> None:
    created = await engine.create(start("sub-dun"))
    await engine.customer(await engine.invoice("sub-dun", 1), "pay")
    await engine.until("sub-dun", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(2))
    first = await engine.invoice("sub-dun", 2)
    await engine.customer(first, "fail")
    past_due = await engine.until("sub-dun", lambda s: s.status is SubscriptionStatus.PAST_DUE)
    assert past_due.period_record(2).status is PeriodStatus.FAILED
    await engine.env.sleep(timedelta(days=1, seconds=5))
    retry = await engine.invoice("sub-dun", 2)
    assert retry == "sub-dun-p2-r1"
    await engine.customer(retry, "pay")
    sub = await engine.until("sub-dun", lambda s: s.status is SubscriptionStatus.ACTIVE and s.current_period == 2)
    assert sub.period_record(2).attempts == 1


@pytest.mark.parametrize(
    ("outcome", "final"),
    [(DunningOutcome.UNPAID, SubscriptionStatus.UNPAID), (DunningOutcome.CANCEL, SubscriptionStatus.CANCELLED)],
)
async def test_dunning_exhausted(engine: Engine, outcome: DunningOutcome, final: SubscriptionStatus) -> None:
    subscription_id = f"sub-ex-{outcome.value}"
    await engine.create(start(subscription_id, policy=POLICY.model_copy(update={"dunning_exhausted": outcome})))
    for attempt, wait in enumerate([timedelta(0), *POLICY.dunning_schedule]):
        if wait:
            await engine.env.sleep(wait + timedelta(seconds=5))
        order_id = await engine.invoice(subscription_id, 1)
        assert order_id == (f"{subscription_id}-p1" if attempt == 0 else f"{subscription_id}-p1-r{attempt}")
        await engine.customer(order_id, "fail")
        await engine.until(
            subscription_id, lambda s, a=attempt: s.period_record(1).attempts == a + 1 or s.status is final
        )
    sub = await engine.until(subscription_id, lambda s: s.status is final)
    assert sub.next_billing_at is None


async def test_pause_skips_periods_and_resume_bills_the_next(engine: Engine) -> None:
    created = await engine.create(start("sub-pause"))
    await engine.customer(await engine.invoice("sub-pause", 1), "pay")
    await engine.until("sub-pause", lambda s: s.status is SubscriptionStatus.ACTIVE)
    paused = await engine.stack.billing.pause_subscription("sub-pause", reason="holiday")
    assert paused.status is SubscriptionStatus.PAUSED
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(3) + timedelta(days=2))
    still = await engine.get("sub-pause")
    assert [r.number for r in still.periods] == [1], "nothing is billed while paused"
    resumed = await engine.stack.billing.resume_subscription("sub-pause")
    assert resumed.status is SubscriptionStatus.ACTIVE
    assert resumed.current_period == 3
    await engine.skip_to(created.calendar.period_start(4))
    assert await engine.invoice("sub-pause", 4) == "sub-pause-p4"


async def test_engine_mode_validation() -> None:
    with pytest.raises(errors.InputError) as info:
        start("sub-bad", billing_mode=BillingMode.ENGINE_CHARGED)
    assert info.value.field == "billing_mode"
    with pytest.raises(errors.InputError) as info:
        start("sub-bad", billing_mode=BillingMode.PROVIDER_MANAGED, trial_days=7)
    assert info.value.field == "trial_days"
    assert "plan.trial_periods" in info.value.reason  # provider-managed trials are the provider's own


def priced(plan_id: str, amount: str) -> SubscriptionPlan:
    return SubscriptionPlan(
        plan_id=plan_id, description=plan_id.title(), amount=Money.parse(amount, "USD"), interval=BillingInterval.MONTH
    )


async def test_upgrade_mid_period_charges_exactly_the_prorated_difference(engine: Engine) -> None:
    created = await engine.create(start("sub-upg"))
    await engine.customer(await engine.invoice("sub-upg", 1), "pay")
    await engine.until("sub-upg", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(1) + timedelta(days=10))
    pro = priced("pro", "19.99")
    preview = await engine.stack.billing.preview_change("sub-upg", pro)
    changed = await engine.stack.billing.change_plan("sub-upg", pro)
    assert changed.plan.plan_id == "pro"
    adjustment = changed.adjustments[0]
    assert adjustment.order_id == "sub-upg-c1"
    # The same function priced both, a few milliseconds apart: at most a minor unit of rounding apart.
    assert abs((adjustment.amount - preview.net).amount_minor) <= 1
    engine.orders.append(adjustment.order_id)
    await engine.until("sub-upg", lambda s: s.adjustments[0].checkout_url is not None)
    await engine.customer(adjustment.order_id, "pay")
    await engine.until("sub-upg", lambda s: s.adjustments[0].status is PeriodStatus.PAID)
    ledger = [e for e in await engine.stack.ledger("charge") if e["paymentRequestId"] == payment_key("sub-upg-c1")]
    assert [Money.parse(e["amount"], "USD") for e in ledger] == [adjustment.amount], "charged exactly the net"
    await engine.skip_to(created.calendar.period_start(2))
    await engine.invoice("sub-upg", 2)
    sub = await engine.get("sub-upg")
    assert sub.period_record(2).amount == Money.parse("19.99", "USD"), "the next period is billed at the new price"


async def test_downgrade_now_credits_the_customer_balance_for_the_next_invoices(engine: Engine) -> None:
    created = await engine.create(start("sub-dwn"))
    await engine.customer(await engine.invoice("sub-dwn", 1), "pay")
    await engine.until("sub-dwn", lambda s: s.status is SubscriptionStatus.ACTIVE)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(1) + timedelta(days=1))
    lite = priced("lite", "1.99")
    preview = await engine.stack.billing.preview_change("sub-dwn", lite)
    changed = await engine.stack.billing.change_plan("sub-dwn", lite)
    billing = engine.stack.billing
    credited = (await billing.get_balance("cust-e", merchant=billing.invoice_merchant)).of("USD")
    assert changed.credit_balance.is_zero(), "credited to the customer's balance, not the subscription"
    assert abs((credited - preview.credit_carried).amount_minor) <= 1
    assert credited > Money.parse("1.99", "USD")
    await engine.skip_to(created.calendar.period_start(2))
    sub = await engine.until("sub-dwn", lambda s: s.current_period == 2)
    assert sub.period_record(2).status is PeriodStatus.PAID, "covered by the credit"
    left = (await billing.get_balance("cust-e", merchant=billing.invoice_merchant)).of("USD")
    assert left == credited - Money.parse("1.99", "USD")


async def test_three_period_kess_subscription_invoiced_by_qr(engine: Engine) -> None:
    request = start(
        "sub-kess",
        provider="kess",
        billing_mode=None,
        plan=priced("qr", "5.00").model_copy(update={"periods": 3}),
        customer=Customer(customer_id="cust-k"),
    )
    created = await engine.create(request)
    assert created.mode is BillingMode.ENGINE_INVOICED
    assert created.calendar is not None
    for number in (1, 2, 3):
        await engine.skip_to(created.calendar.period_start(number))
        order_id = await engine.invoice("sub-kess", number)
        sub = await engine.get("sub-kess")
        assert sub.period_record(number).checkout_url, "the QR to show the customer"
        response = await engine.stack.control.post(
            f"{engine.stack.emulator_url}/kess/control/orders/{payment_key(order_id)}/pay", json={}
        )
        response.raise_for_status()
        await engine.until("sub-kess", lambda s, n=number: s.current_period == n)
    await engine.skip_to(created.calendar.period_end(3))
    done = await engine.until("sub-kess", lambda s: s.status is SubscriptionStatus.EXPIRED)
    assert [r.status for r in done.periods] == [PeriodStatus.PAID] * 3


async def set_wallet(engine: Engine, number: str, behaviour: Any) -> None:
    response = await engine.stack.control.post(
        f"{engine.stack.emulator_url}/waafipay/control/wallets",
        json={"number": number, "balance": "500.00", "pin": "1212", "behaviour": behaviour},
    )
    response.raise_for_status()


async def test_engine_charged_waafipay_monthly_with_a_declined_renewal_recovered_by_dunning(engine: Engine) -> None:
    wallet = "252611111120"
    # One answer per push: period 1 approved, period 2 short of balance, its retry approved, period 3 approved.
    await set_wallet(engine, wallet, ["approve", "insufficient", "approve", "approve"])
    request = start(
        "sub-push",
        provider="waafipay",
        billing_mode=None,
        plan=priced("wallet", "2.00"),
        customer=Customer(customer_id="cust-p", phone=wallet),
    )
    created = await engine.create(request)
    assert created.mode is BillingMode.ENGINE_CHARGED
    assert created.calendar is not None
    engine.orders += ["sub-push-p1", "sub-push-p2", "sub-push-p2-r1", "sub-push-p3"]
    await engine.until("sub-push", lambda s: s.current_period == 1 and s.status is SubscriptionStatus.ACTIVE)
    await engine.skip_to(created.calendar.period_start(2))
    past_due = await engine.until("sub-push", lambda s: s.status is SubscriptionStatus.PAST_DUE)
    assert not past_due.period_record(2).hard_failure, "insufficient balance is soft: dunning retries"
    await engine.env.sleep(timedelta(days=1, seconds=5))
    await engine.until("sub-push", lambda s: s.current_period == 2 and s.status is SubscriptionStatus.ACTIVE)
    await engine.skip_to(created.calendar.period_start(3))
    done = await engine.until("sub-push", lambda s: s.current_period == 3)
    assert [r.order_id for r in done.periods] == ["sub-push-p1", "sub-push-p2-r1", "sub-push-p3"]
    ledger = (await engine.stack.control.get(f"{engine.stack.emulator_url}/waafipay/control/ledger")).json()
    assert len([e for e in ledger["entries"] if e["kind"] == "charge"]) == 3, "three periods, three charges"


async def test_engine_charged_hard_decline_stops_dunning_early(engine: Engine) -> None:
    wallet = "252611111121"
    await set_wallet(engine, wallet, ["approve", "not_found"])
    created = await engine.create(
        start(
            "sub-hard",
            provider="waafipay",
            billing_mode=None,
            plan=priced("wallet", "2.00"),
            customer=Customer(customer_id="cust-h", phone=wallet),
        )
    )
    engine.orders += ["sub-hard-p1", "sub-hard-p2"]
    await engine.until("sub-hard", lambda s: s.current_period == 1)
    assert created.calendar is not None
    await engine.skip_to(created.calendar.period_start(2))
    unpaid = await engine.until("sub-hard", lambda s: s.status is SubscriptionStatus.UNPAID)
    assert unpaid.period_record(2).hard_failure
    assert unpaid.period_record(2).attempts <= 1, "no retry after a hard decline"


async def test_waafipay_invoiced_without_the_wallet_number_is_refused_at_creation(engine: Engine) -> None:
    """Each period's invoice is WaafiPay's hosted page for a wallet (MWALLET_ACCOUNT, seed 002:
    payerInfo.subscriptionId is required for it): without the number every period would fail at the provider.
    The subscription is refused when created, naming the field, and nothing is started."""
    request = start(
        "sub-hpp-nophone",
        provider="waafipay",
        plan=priced("wallet", "2.00"),
        customer=Customer(customer_id="cust-w"),
    )
    with pytest.raises(errors.InputError) as refused:
        await engine.create(request)
    assert refused.value.field == "customer.phone"
    assert "hosted page" in str(refused.value)
    with pytest.raises(errors.NotFoundError):
        await engine.get("sub-hpp-nophone")


async def test_waafipay_invoiced_with_the_wallet_number_bills_the_first_period_by_hosted_page(engine: Engine) -> None:
    created = await engine.create(
        start(
            "sub-hpp",
            provider="waafipay",
            plan=priced("wallet", "2.00"),
            customer=Customer(customer_id="cust-w", phone="252611111122"),
        )
    )
    assert created.mode is BillingMode.ENGINE_INVOICED
    order_id = await engine.invoice("sub-hpp", 1)
    sub = await engine.get("sub-hpp")
    assert order_id == "sub-hpp-p1"
    assert "/waafipay/" in (sub.period_record(1).checkout_url or ""), "the period's hosted page"
