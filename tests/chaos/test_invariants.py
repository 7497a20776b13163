"""The chaos suite's invariant checks on hand-made states and ledgers: each one catches what it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from billing.events import MerchantEvent, event_id
from billing.gateway import BillingInterval, CaptureMode, SubscriptionPlan
from billing.idempotency import payment_key
from billing.money import Money
from billing.orders import Order, OrderStatus, Refund, RefundState, Review
from billing.subscriptions import BillingMode, BillingPeriodRecord, PeriodStatus, Subscription
from starter.chaos.invariants import (
    check_events,
    check_orders,
    check_subscriptions,
    ledger_by_order,
    notification_trail,
    order_regressions,
    reviews,
    settled,
)

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def order(order_id: str, status: OrderStatus, provider: str = "waffo", **fields: Any) -> Order:
    fields.setdefault("amount", Money.parse("10.00", "USD"))
    return Order(
        order_id=order_id,
        provider=provider,
        status=status,
        capture_mode=CaptureMode.AUTOMATIC,
        customer_id="c",
        payment_key=payment_key(order_id),
        created_at=T0,
        deadline=T0 + timedelta(minutes=1),
        **fields,
    )


def entry(provider: str, order_id: str, kind: str, amount: str, **extra: str) -> dict[str, str]:
    field = {"waffo": "paymentRequestId", "kess": "out_trade_no", "waafipay": "referenceId"}[provider]
    return {"kind": kind, field: payment_key(order_id), "amount": amount, "currency": "USD", **extra}


def refund(refund_id: str, amount: str, status: RefundState) -> Refund:
    return Refund(
        refund_id=refund_id,
        amount=Money.parse(amount, "USD"),
        status=status,
        request_key=f"ref-{refund_id}",
        requested_at=T0,
    )


def kinds(orders: dict[str, Order], ledgers: dict[str, list[dict[str, str]]]) -> set[tuple[str, str]]:
    views = ledger_by_order([(i, o.provider) for i, o in orders.items()], ledgers)
    return {(v.invariant, v.subject) for v in check_orders(orders, views)}


def test_a_clean_paid_and_refunded_order_keeps_every_invariant() -> None:
    paid = order("o1", OrderStatus.PARTIALLY_REFUNDED, captured_amount=Money.parse("10.00", "USD"),
                 refunds=[refund("r1", "4.00", RefundState.SUCCEEDED)])  # fmt: skip
    ledgers = {"waffo": [entry("waffo", "o1", "charge", "10.00"), entry("waffo", "o1", "refund", "4.00")]}
    assert kinds({"o1": paid}, ledgers) == set()


def test_each_money_invariant_is_caught() -> None:
    orders = {
        "double": order("double", OrderStatus.PAID, captured_amount=Money.parse("10.00", "USD")),
        "lost": order("lost", OrderStatus.EXPIRED, provider="kess"),
        "phantom": order("phantom", OrderStatus.PAID, provider="waafipay"),
        "short": order("short", OrderStatus.PAID, captured_amount=Money.parse("10.00", "USD")),
        "unseen-refund": order("unseen-refund", OrderStatus.PAID, captured_amount=Money.parse("10.00", "USD")),
    }
    ledgers = {
        "waffo": [
            entry("waffo", "double", "charge", "10.00"),
            entry("waffo", "double", "charge", "10.00"),
            entry("waffo", "short", "charge", "9.00"),
            entry("waffo", "unseen-refund", "charge", "10.00"),
            entry("waffo", "unseen-refund", "refund", "6.00"),
            entry("waffo", "unseen-refund", "refund", "6.00"),
        ],
        "kess": [entry("kess", "lost", "charge", "10.10", merchant_amount="10.00")],
        "waafipay": [],
    }
    assert kinds(orders, ledgers) == {
        ("double_charge", "double"),
        ("captured_mismatch", "double"),
        ("lost_payment", "lost"),
        ("phantom_paid", "phantom"),
        ("captured_mismatch", "short"),
        ("refunded_mismatch", "unseen-refund"),
        ("over_refund", "unseen-refund"),
    }


def test_money_in_review_is_listed_not_violated() -> None:
    held = order("held", OrderStatus.NEEDS_REVIEW, review=Review(reason="no final statement", since=T0))
    unsure = order("unsure", OrderStatus.PAID, provider="waafipay", captured_amount=Money.parse("10.00", "USD"),
                   refunds=[refund("r1", "3.00", RefundState.NEEDS_REVIEW),
                            refund("r2", "1.00", RefundState.NEEDS_REVIEW).model_copy(
                                update={"review_reason": "no refund inquiry: check the portal"})])  # fmt: skip
    ledgers = {
        "waffo": [entry("waffo", "held", "charge", "10.00")],
        "waafipay": [
            entry("waafipay", "unsure", "charge", "10.00"),
            entry("waafipay", "unsure", "refund", "3.00"),
            entry("waafipay", "unsure", "refund", "1.00"),
        ],
    }
    assert kinds({"held": held, "unsure": unsure}, ledgers) == set()
    assert {(r.subject, r.reason) for r in reviews({"held": held, "unsure": unsure})} == {
        ("held", "no final statement"),
        ("unsure/r1", "outcome of refund of 3.00 USD not known"),
        # The reason the order recorded for the operator is the one the report shows.
        ("unsure/r2", "no refund inquiry: check the portal"),
    }
    assert settled(held) and settled(unsure)
    assert not settled(order("open", OrderStatus.PAID, refunds=[refund("r", "1.00", RefundState.PENDING)]))


def test_final_states_moving_backwards_are_caught() -> None:
    moved = order("m", OrderStatus.PENDING)
    for status in (OrderStatus.PENDING, OrderStatus.EXPIRED, OrderStatus.PAID, OrderStatus.REFUNDED):
        moved.move(status, T0, "forward")
    assert order_regressions(moved) == []
    moved.move(OrderStatus.PARTIALLY_REFUNDED, T0, "back")
    moved.move(OrderStatus.FAILED, T0, "back again")
    assert len(order_regressions(moved)) == 2
    closed = order("c", OrderStatus.PENDING)
    closed.move(OrderStatus.EXPIRED, T0, "deadline")
    closed.move(OrderStatus.FAILED, T0, "late failure")
    assert order_regressions(closed) == ["EXPIRED -> FAILED at 2026-12-05T12:00:00+00:00 (late failure)"]


def event(object_id: str, sequence: int, kind: str = "order.updated") -> MerchantEvent:
    return MerchantEvent(id=event_id("order", object_id, sequence), type=kind, created=T0, object="order",
                         object_id=object_id, sequence=sequence, data={"status": kind})  # fmt: skip


def test_event_gaps_duplicates_and_regressions_are_caught() -> None:
    subjects = {"ok": "waffo", "gap": "kess", "dup": "waffo", "back": "waafipay"}
    events = [
        event("ok", 1), event("ok", 2), event("ok", 2),  # an identical redelivery is fine
        event("gap", 1), event("gap", 3),
        event("dup", 1), event("dup", 1, "order.paid"),
        event("back", 2), event("back", 1),
        event("not-ours", 5),
    ]  # fmt: skip
    found = {(v.invariant, v.subject) for v in check_events(events, subjects)}
    assert found == {
        ("event_gap", "gap"),
        ("event_duplicate", "dup"),
        ("event_regression", "back"),
    }


def test_an_order_whose_status_disagrees_with_its_refunds_is_caught() -> None:
    back = order("back", OrderStatus.REFUNDED, captured_amount=Money.parse("10.00", "USD"),
                 refunds=[refund("r1", "10.00", RefundState.PENDING)])  # fmt: skip
    fine = order("fine", OrderStatus.REFUNDED, captured_amount=Money.parse("10.00", "USD"),
                 refunds=[refund("r1", "10.00", RefundState.SUCCEEDED)])  # fmt: skip
    ledgers = {
        "waffo": [
            entry("waffo", "back", "charge", "10.00"),
            entry("waffo", "fine", "charge", "10.00"),
            entry("waffo", "fine", "refund", "10.00"),
        ]
    }
    assert kinds({"back": back, "fine": fine}, ledgers) == {("refund_state_backwards", "back")}


def test_provider_managed_subscriptions_are_checked_by_mode_not_by_provider_name() -> None:
    """A period charged twice, a PAID period the provider never charged and a charge the engine never saw
    are caught for every provider-managed subscription; engine-billed ones are left to the order checks."""

    def sub(subscription_id: str, provider: str, mode: BillingMode, periods: list[BillingPeriodRecord]) -> Subscription:
        return Subscription(
            subscription_id=subscription_id,
            provider=provider,
            mode=mode,
            plan=SubscriptionPlan(
                plan_id="p", description="P", amount=Money.parse("10.00", "USD"), interval=BillingInterval.MONTH
            ),
            customer_id="c",
            request_key=f"key-{subscription_id}",
            provider_reference=f"ref-{subscription_id}",
            credit_balance=Money.parse("0", "USD"),
            created_at=T0,
            activation_deadline=T0 + timedelta(hours=1),
            periods=periods,
        )

    paid = [
        BillingPeriodRecord(number=1, status=PeriodStatus.PAID),
        BillingPeriodRecord(number=2, status=PeriodStatus.PAID),
    ]
    ledger = [
        {"kind": "charge", "subscriptionId": "ref-managed", "period": "1"},
        {"kind": "charge", "subscriptionId": "ref-managed", "period": "1"},
        {"kind": "charge", "subscriptionId": "ref-managed", "period": "3"},
        {"kind": "charge", "subscriptionId": "ref-engine", "period": "1"},
        {"kind": "charge", "subscriptionId": "ref-engine", "period": "1"},
    ]
    found = check_subscriptions(
        {
            # A provider that is not Waffo bills this one itself: its name must not matter.
            "managed": sub("managed", "otherpay", BillingMode.PROVIDER_MANAGED, paid),
            "engine": sub("engine", "otherpay", BillingMode.ENGINE_CHARGED, paid),
        },
        ledger,
    )
    assert {(v.invariant, v.subject, v.detail) for v in found} == {
        ("double_charge", "managed", "period 1: 2 charges"),
        ("phantom_paid", "managed", "period 2 PAID, nothing charged"),
        ("lost_payment", "managed", "period 3 charged, unknown to the engine"),
    }


def test_a_lost_subscription_payment_says_what_became_of_its_notifications() -> None:
    """The emulators' notification journals, summarised in the violation: which of the subscription's
    notifications were delivered, retried or dropped (here the period-3 one, by an injected fault)."""
    journal = [
        {"eventType": "SUBSCRIPTION_STATUS_NOTIFICATION", "status": "delivered",
         "payload": {"result": {"subscriptionId": "ref-s", "currentPeriod": "1"}}},
        {"eventType": "PAYMENT_NOTIFICATION", "status": "delivered",
         "payload": {"result": {"subscriptionId": "ref-other", "period": "3"}}},
        {"eventType": "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION", "status": "dropped",
         "payload": {"result": {"subscriptionId": "ref-s", "currentPeriod": "3"}}},
    ]  # fmt: skip
    assert (
        notification_trail(journal, "ref-s")
        == "subscription_status p1 delivered; subscription_period_changed p3 dropped"
    )
    assert notification_trail(journal, "ref-none") == "no notification journaled"
    subscription = Subscription(
        subscription_id="s",
        provider="waffo",
        mode=BillingMode.PROVIDER_MANAGED,
        plan=SubscriptionPlan(
            plan_id="p", description="P", amount=Money.parse("10.00", "USD"), interval=BillingInterval.MONTH
        ),
        customer_id="c",
        request_key="key-s",
        provider_reference="ref-s",
        credit_balance=Money.parse("0", "USD"),
        created_at=T0,
        activation_deadline=T0 + timedelta(hours=1),
        periods=[BillingPeriodRecord(number=1, status=PeriodStatus.PAID)],
    )
    ledger = [{"kind": "charge", "subscriptionId": "ref-s", "period": p} for p in ("1", "3")]
    (found,) = check_subscriptions({"s": subscription}, ledger, journal)
    assert found.invariant == "lost_payment"
    assert found.detail.endswith(
        "(notifications: subscription_status p1 delivered; subscription_period_changed p3 dropped)"
    )
