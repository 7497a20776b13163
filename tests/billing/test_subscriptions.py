"""The subscription domain by itself (billing/subscriptions.py): start rules, period records, provider
statements, invoice orders, credit and the merchant commands' state rules. Expectations are worked out by
hand from the calendar (a monthly plan anchored on the 15th at 10:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from billing.calendar import BillingCalendar
from billing.errors import InputError, InvalidAmountError, InvalidStateError
from billing.gateway import (
    BillingInterval,
    CancelledBy,
    Customer,
    CustomerAction,
    CustomerActionKind,
    FailureCategory,
    PaymentOutcome,
    PaymentStatus,
    ProviderFailure,
    SubscriptionOutcome,
    SubscriptionPayment,
    SubscriptionPlan,
)
from billing.gateway import SubscriptionStatus as ProviderStatus
from billing.money import Money
from billing.orders import OrderStatus, OrderUpdate
from billing.subscriptions import (
    Adjustment,
    BillingMode,
    CancelSubscriptionRequest,
    ChangePlanRequest,
    DunningOutcome,
    PendingChange,
    PeriodStatus,
    StartSubscription,
    Subscription,
    SubscriptionPolicy,
    SubscriptionStatus,
    subscription_workflow_id,
)

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def usd(minor: int) -> Money:
    return Money(amount_minor=minor, currency="USD")


def plan(minor: int = 3000, plan_id: str = "basic", periods: int | None = None) -> SubscriptionPlan:
    return SubscriptionPlan(
        plan_id=plan_id, description="Basic", amount=usd(minor), interval=BillingInterval.MONTH, periods=periods
    )


def start(**overrides: Any) -> StartSubscription:
    fields: dict[str, Any] = {
        "subscription_id": "sub-1",
        "provider": "waffo",
        "plan": plan(),
        "customer": Customer(customer_id="c-1", phone="252611111111"),
    }
    fields.update(overrides)
    return StartSubscription(**fields)


def subscription(mode: BillingMode = BillingMode.PROVIDER_MANAGED, **overrides: Any) -> Subscription:
    fields: dict[str, Any] = {
        "subscription_id": "sub-1",
        "provider": "waffo" if mode is BillingMode.PROVIDER_MANAGED else "waafipay",
        "mode": mode,
        "plan": plan(),
        "customer_id": "c-1",
        "request_key": "key-1",
        "credit_balance": usd(0),
        "created_at": T0,
        "activation_deadline": T0 + timedelta(hours=4),
    }
    fields.update(overrides)
    return Subscription(**fields)


def paid(period: int, minor: int = 3000, reference: str = "pay-1") -> PaymentOutcome:
    return PaymentOutcome(
        status=PaymentStatus.SUCCEEDED,
        provider_reference=reference,
        amount=usd(minor),
        subscription_period=period,
        provider_status="PAY_SUCCESS",
    )


def declined(period: int) -> PaymentOutcome:
    return PaymentOutcome(
        status=PaymentStatus.DECLINED,
        subscription_period=period,
        provider_status="PAY_FAILED",
        failure=ProviderFailure(code="B001", message="balance", category=FailureCategory.CUSTOMER),
    )


def active() -> Subscription:
    sub = subscription()
    assert sub.apply_period_payment(paid(1), source="webhook", at=T0)
    return sub


# -- start requests ------------------------------------------------------------------------------


def test_workflow_id_and_default_modes() -> None:
    assert subscription_workflow_id("abc") == "subscription-abc"
    assert start().mode is BillingMode.PROVIDER_MANAGED
    assert start(provider="kess").mode is BillingMode.ENGINE_INVOICED
    assert start(provider="waafipay").mode is BillingMode.ENGINE_CHARGED
    assert start(provider="waafipay", billing_mode=BillingMode.ENGINE_INVOICED).mode is BillingMode.ENGINE_INVOICED


def test_default_dunning_schedule_is_one_three_five_days_then_unpaid() -> None:
    policy = SubscriptionPolicy()
    assert policy.dunning_schedule == (timedelta(days=1), timedelta(days=3), timedelta(days=5))
    assert policy.dunning_exhausted is DunningOutcome.UNPAID
    assert policy.invoice_due == timedelta(days=7)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"provider": "kess", "billing_mode": BillingMode.PROVIDER_MANAGED}, "billing_mode"),
        ({"trial_days": 7}, "trial_days"),
        ({"billing_anchor": T0}, "billing_anchor"),
        ({"provider": "kess", "subscription_id": "s" * 49}, "subscription_id"),
        ({"provider": "kess", "billing_anchor": datetime(2026, 2, 1)}, "billing_anchor"),
        ({"provider": "kess", "billing_anchor": T0, "trial_days": 7}, "billing_anchor"),
        ({"plan": plan(0)}, "plan.amount"),
    ],
)
def test_start_refusals_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        start(**overrides)
    assert refused.value.field == field


def test_a_customer_field_the_provider_needs_is_checked_when_the_subscription_is_created() -> None:
    # Not when a running subscription's input is read back: a requirement declared later never stops one.
    new = start(provider="waafipay", customer=Customer(customer_id="c-1"))
    with pytest.raises(InputError) as refused:
        new.check_new()
    assert refused.value.field == "customer.phone"


def test_zero_priced_plan_is_an_amount_error() -> None:
    with pytest.raises(InvalidAmountError):
        start(plan=plan(0))


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown provider 'stripe'"):
        start(provider="stripe")


def test_summary_and_fingerprint() -> None:
    assert start().summary == "Subscription sub-1 · 30.00 USD / month · waffo"
    quarterly = plan().model_copy(update={"interval_count": 3})
    assert start(plan=quarterly).summary == "Subscription sub-1 · 30.00 USD / 3 months · waffo"
    assert start().fingerprint() == start().fingerprint()
    assert start().fingerprint() != start(plan=plan(3100)).fingerprint()


# -- provider-managed periods ----------------------------------------------------------------------


def test_first_payment_activates_and_anchors_the_calendar() -> None:
    sub = active()
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.calendar is not None and sub.calendar.anchor == T0
    assert sub.current_period == 1
    record = sub.periods[0]
    assert (record.number, record.status, record.attempts) == (1, PeriodStatus.PAID, 1)
    assert (record.start, record.end) == (T0, datetime(2026, 2, 15, 10, 0, tzinfo=UTC))
    assert sub.next_billing_at == datetime(2026, 2, 15, 10, 0, tzinfo=UTC)
    assert sub.current_period_window() == sub.calendar.period(1)


def test_a_repeated_statement_about_a_paid_period_changes_nothing() -> None:
    sub = active()
    assert not sub.apply_period_payment(paid(1), source="inquiry", at=T0 + timedelta(hours=1))
    assert sub.periods[0].attempts == 1
    assert sub.timeline[-1].detail == "period 1: PAY_SUCCESS (already paid)"


def test_failed_renewal_is_past_due_until_paid() -> None:
    sub = active()
    renewal_day = datetime(2026, 2, 15, 10, 0, tzinfo=UTC)
    assert sub.apply_period_payment(declined(2), source="webhook", at=renewal_day)
    assert sub.status is SubscriptionStatus.PAST_DUE
    record = sub.period_record(2)
    assert (record.status, record.attempts) == (PeriodStatus.FAILED, 1)
    assert (record.start, record.end) == (renewal_day, datetime(2026, 3, 15, 10, 0, tzinfo=UTC))
    assert sub.apply_period_payment(declined(2), source="webhook", at=renewal_day + timedelta(days=1))
    assert record.attempts == 2 and sub.status is SubscriptionStatus.PAST_DUE
    assert sub.apply_period_payment(paid(2, reference="pay-2"), source="webhook", at=renewal_day + timedelta(days=3))
    assert sub.status is SubscriptionStatus.ACTIVE
    assert (record.status, record.attempts, record.provider_reference) == (PeriodStatus.PAID, 3, "pay-2")
    assert sub.current_period == 2
    assert sub.next_billing_at == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)


def test_a_failure_after_the_end_is_recorded_only() -> None:
    sub = active()
    sub.move(SubscriptionStatus.CANCELLED, T0 + timedelta(days=3), "merchant")
    assert not sub.apply_period_payment(declined(2), source="webhook", at=T0 + timedelta(days=31))
    assert sub.status is SubscriptionStatus.CANCELLED
    assert sub.cancelled_at == T0 + timedelta(days=3)
    assert [r.number for r in sub.periods] == [1]


def test_benefits_are_granted_once_per_paid_period() -> None:
    sub = active()
    assert [r.number for r in sub.grant_due()] == [1]
    assert sub.grant_due() == []
    sub.apply_period_payment(paid(2), source="webhook", at=datetime(2026, 2, 15, 10, 0, tzinfo=UTC))
    sub.apply_period_payment(paid(2), source="inquiry", at=datetime(2026, 2, 15, 11, 0, tzinfo=UTC))
    assert [r.number for r in sub.grant_due()] == [2]
    assert sub.grant_due() == []


def test_fixed_term_has_no_billing_after_its_last_period() -> None:
    sub = subscription(plan=plan(periods=2))
    sub.apply_period_payment(paid(1), source="webhook", at=T0)
    assert sub.next_billing_at == datetime(2026, 2, 15, 10, 0, tzinfo=UTC)
    sub.apply_period_payment(paid(2), source="webhook", at=datetime(2026, 2, 15, 10, 0, tzinfo=UTC))
    assert sub.next_billing_at is None


def test_provider_status_active_activates_an_incomplete_subscription() -> None:
    sub = subscription()
    bare = SubscriptionOutcome(status=ProviderStatus.ACTIVE, idempotency_key="key-1", provider_status="ACTIVE")
    assert sub.apply_provider_status(bare, source="inquiry", at=T0)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.calendar is not None and sub.calendar.anchor == T0
    assert sub.periods == []


def test_provider_status_with_payments_applies_each_new_period_once() -> None:
    sub = subscription()
    outcome = SubscriptionOutcome(
        status=ProviderStatus.ACTIVE,
        idempotency_key="key-1",
        provider_reference="ws-1",
        provider_status="ACTIVE",
        management_url="https://waffo.test/manage",
        payments=(SubscriptionPayment(period=1, status=PaymentStatus.SUCCEEDED, amount=usd(3000)),),
    )
    sub.apply_provider_status(outcome, source="inquiry", at=T0)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert (sub.provider_reference, sub.management_url) == ("ws-1", "https://waffo.test/manage")
    assert sub.period_record(1).status is PeriodStatus.PAID
    # The same statement again: the known paid period is skipped, nothing changes.
    before = len(sub.timeline)
    assert not sub.apply_provider_status(outcome, source="inquiry", at=T0 + timedelta(hours=1))
    assert sub.period_record(1).attempts == 1
    assert len(sub.timeline) == before


@pytest.mark.parametrize(
    ("status", "by", "final", "cancelled_by"),
    [
        (ProviderStatus.CANCELLED, CancelledBy.CUSTOMER, SubscriptionStatus.CANCELLED, CancelledBy.CUSTOMER),
        (ProviderStatus.CLOSED, None, SubscriptionStatus.CANCELLED, CancelledBy.PROVIDER),
        (ProviderStatus.EXPIRED, None, SubscriptionStatus.EXPIRED, None),
    ],
)
def test_provider_ends(
    status: ProviderStatus, by: CancelledBy | None, final: SubscriptionStatus, cancelled_by: CancelledBy | None
) -> None:
    sub = active()
    at = T0 + timedelta(days=10)
    assert sub.apply_provider_status(SubscriptionOutcome(status=status, cancelled_by=by), source="webhook", at=at)
    assert sub.status is final and sub.is_final
    assert sub.cancelled_by is cancelled_by
    assert sub.next_billing_at is None
    # A final subscription does not move again.
    again = SubscriptionOutcome(status=ProviderStatus.ACTIVE)
    assert not sub.apply_provider_status(again, source="webhook", at=at + timedelta(days=1))
    assert sub.status is final


def test_a_statement_about_an_earlier_generation_is_recorded_only() -> None:
    sub = active()
    old = SubscriptionOutcome(status=ProviderStatus.CANCELLED, idempotency_key="key-0")
    assert not sub.apply_provider_status(old, source="webhook", at=T0 + timedelta(days=1))
    assert sub.status is SubscriptionStatus.ACTIVE


# -- engine modes: invoice orders ------------------------------------------------------------------


def engine() -> Subscription:
    sub = subscription(BillingMode.ENGINE_CHARGED, status=SubscriptionStatus.TRIALING)
    sub.calendar = BillingCalendar(anchor=T0, interval=BillingInterval.MONTH)
    sub.period_record(1).order_id = sub.period_order_id(1, 0)
    return sub


def update(order_id: str, status: OrderStatus, **fields: Any) -> OrderUpdate:
    return OrderUpdate(order_id=order_id, status=status, amount=usd(3000), **fields)


def test_period_order_ids_per_attempt() -> None:
    sub = engine()
    assert sub.period_order_id(1, 0) == "sub-1-p1"
    assert sub.period_order_id(3, 2) == "sub-1-p3-r2"


def test_invoice_paid_activates_and_moves_the_next_billing() -> None:
    sub = engine()
    action = CustomerAction(kind=CustomerActionKind.REDIRECT, url="https://pay.test/p1")
    assert not sub.apply_order_update(update("sub-1-p1", OrderStatus.PENDING, customer_action=action), at=T0)
    assert sub.period_record(1).checkout_url == "https://pay.test/p1"
    assert sub.apply_order_update(update("sub-1-p1", OrderStatus.PAID, captured_amount=usd(2900)), at=T0)
    record = sub.period_record(1)
    assert (record.status, record.amount, record.paid_at) == (PeriodStatus.PAID, usd(2900), T0)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.next_billing_at == datetime(2026, 2, 15, 10, 0, tzinfo=UTC)
    # Reported again (a refund later, say): the period stays paid once.
    assert not sub.apply_order_update(update("sub-1-p1", OrderStatus.PARTIALLY_REFUNDED), at=T0)


def test_an_upgrade_charge_is_paid_once_however_often_it_is_reported() -> None:
    sub = engine()
    sub.adjustments.append(Adjustment(order_id="sub-1-c1", amount=usd(1200), reason="upgrade to pro"))
    assert sub.apply_order_update(update("sub-1-c1", OrderStatus.PAID), at=T0)
    assert sub.adjustments[0].status is PeriodStatus.PAID
    later = T0 + timedelta(days=16)
    assert not sub.apply_order_update(update("sub-1-c1", OrderStatus.PAID), at=later)
    assert not sub.apply_order_update(update("sub-1-c1", OrderStatus.REFUNDED), at=later)
    notes = [(entry.at, entry.detail) for entry in sub.timeline if entry.event == "adjustment"]
    assert notes == [(T0, "upgrade to pro: 12.00 USD paid (sub-1-c1)")]


def test_failed_invoice_is_past_due_and_remembers_a_hard_decline() -> None:
    sub = engine()
    sub.apply_order_update(update("sub-1-p1", OrderStatus.PAID), at=T0)
    renewal = sub.period_record(2)
    renewal.order_id = "sub-1-p2"
    hard = ProviderFailure(code="5310", message="blocked", category=FailureCategory.RISK, hard=True)
    assert sub.apply_order_update(update("sub-1-p2", OrderStatus.FAILED, failure=hard), at=T0 + timedelta(days=31))
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert (renewal.status, renewal.hard_failure) == (PeriodStatus.FAILED, True)
    assert "(5310 blocked)" in sub.timeline[-1].detail


def test_update_for_an_unknown_order_is_noted() -> None:
    sub = engine()
    assert not sub.apply_order_update(update("other", OrderStatus.PAID), at=T0)
    assert sub.timeline[-1].detail == "update for an unknown order other"


def test_credit_lowers_the_invoice_never_below_zero() -> None:
    sub = engine()
    sub.credit_balance = usd(1200)
    assert sub.invoice_amount() == usd(1800)
    sub.consume_credit(usd(1800))
    assert sub.credit_balance == usd(0)
    sub.credit_balance = usd(5000)
    assert sub.invoice_amount() == usd(0)
    sub.consume_credit(usd(0))
    assert sub.credit_balance == usd(2000)


# -- merchant commands ---------------------------------------------------------------------------


def test_cancel_rules() -> None:
    incomplete = subscription()
    with pytest.raises(InvalidStateError, match="no period to end"):
        incomplete.check_cancel(CancelSubscriptionRequest(at_period_end=True))
    incomplete.check_cancel(CancelSubscriptionRequest())
    sub = active()
    sub.check_cancel(CancelSubscriptionRequest(at_period_end=True))
    sub.cancel_at_period_end = True
    with pytest.raises(InvalidStateError, match="already set to cancel"):
        sub.check_cancel(CancelSubscriptionRequest(at_period_end=True))
    sub.move(SubscriptionStatus.CANCELLED, T0, "merchant")
    with pytest.raises(InvalidStateError, match="already CANCELLED"):
        sub.check_cancel(CancelSubscriptionRequest())


def test_resume_and_pause_rules() -> None:
    sub = active()
    with pytest.raises(InvalidStateError, match="can be resumed"):
        sub.check_resume()
    sub.cancel_at_period_end = True
    sub.check_resume()
    with pytest.raises(InvalidStateError, match="offers no pause"):
        sub.check_pause()
    charged = engine()
    charged.check_pause()  # TRIALING is live
    charged.status = SubscriptionStatus.PAUSED
    charged.check_resume()
    with pytest.raises(InvalidStateError, match="only a live subscription"):
        charged.check_pause()


def test_plan_change_rules_name_the_field() -> None:
    sub = active()
    with pytest.raises(InvalidStateError) as same:
        sub.check_change(plan())
    assert same.value.field == "plan"
    euro = plan().model_copy(update={"amount": Money(amount_minor=3000, currency="EUR")})
    with pytest.raises(InvalidStateError) as currency:
        sub.check_change(euro)
    assert currency.value.field == "plan.amount"
    past_due = active()
    past_due.status = SubscriptionStatus.PAST_DUE
    with pytest.raises(InvalidStateError, match="only an ACTIVE subscription"):
        past_due.check_change(plan(6000, "pro"))


def test_engine_upgrade_midway_is_prorated() -> None:
    sub = engine()
    sub.apply_order_update(update("sub-1-p1", OrderStatus.PAID), at=T0)
    # Period 1 is 31 days (Jan 15 to Feb 15); 10 days in, 21/31 of it is left.
    at = T0 + timedelta(days=10)
    proration = sub.preview_change(plan(6000, "pro"), at)
    assert proration.fraction_remaining == Fraction(21, 31)
    # credit: -3000 x 21/31 = -2032.26 -> -2032; charge: 6000 x 21/31 = 4064.52 -> 4065
    assert proration.credit == usd(-2032)
    assert proration.charge == usd(4065)
    assert proration.net == usd(2033)
    assert sub.check_change_request(ChangePlanRequest(plan=plan(6000, "pro")), at) == proration
    assert sub.check_change_request(ChangePlanRequest(plan=plan(6000, "pro"), at_period_end=True), at) is None


def test_provider_managed_downgrade_now_is_refused_for_the_credit() -> None:
    sub = active()
    at = T0 + timedelta(days=10)
    # restart_cycle: a full new period (1000) less the credit of 2032: net -1032, which Waffo cannot carry.
    assert sub.preview_change(plan(1000, "lite"), at).net == usd(1000 - 2032)
    with pytest.raises(InvalidStateError) as refused:
        sub.check_change_request(ChangePlanRequest(plan=plan(1000, "lite")), at)
    assert refused.value.field == "at_period_end"
    assert sub.check_change_request(ChangePlanRequest(plan=plan(1000, "lite"), at_period_end=True), at) is None


def test_a_second_change_or_a_change_before_cancelling_is_refused() -> None:
    sub = active()
    sub.pending_change = PendingChange(generation=2, request_key="key-2", plan=plan(6000, "pro"), requested_at=T0)
    with pytest.raises(InvalidStateError, match="already in progress"):
        sub.check_change_request(ChangePlanRequest(plan=plan(9000, "max"), at_period_end=True), T0)
    sub.pending_change = None
    sub.cancel_at_period_end = True
    with pytest.raises(InvalidStateError, match="resume it before"):
        sub.check_change_request(ChangePlanRequest(plan=plan(9000, "max"), at_period_end=True), T0)


def test_completed_change_starts_a_new_generation_at_period_one() -> None:
    sub = active()
    at = T0 + timedelta(days=10)
    proration = sub.preview_change(plan(6000, "pro"), at)
    sub.pending_change = PendingChange(
        generation=2, request_key="key-2", plan=plan(6000, "pro"), proration=proration, requested_at=at
    )
    activated = SubscriptionOutcome(status=ProviderStatus.ACTIVE, idempotency_key="key-2", provider_reference="ws-2")
    assert sub.apply_provider_status(activated, source="webhook", at=at)
    assert (sub.generation, sub.request_key, sub.plan.plan_id) == (2, "key-2", "pro")
    assert sub.pending_change is None
    assert sub.calendar is not None and sub.calendar.anchor == at
    record = sub.period_record(1)
    assert (record.generation, record.status, record.amount) == (2, PeriodStatus.PAID, proration.amount_due)
    assert sub.next_billing_at == datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
    # The first generation's records stay as they were.
    assert [(r.generation, r.number) for r in sub.periods] == [(1, 1), (2, 1)]
