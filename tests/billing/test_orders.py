"""The order state machine, without Temporal: what each provider statement and command does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.errors import ConflictError, InputError, InvalidAmountError, InvalidStateError
from billing.gateway import (
    CaptureMode,
    Customer,
    FailureCategory,
    PaymentOutcome,
    PaymentStatus,
    ProviderFailure,
    RefundOutcome,
    RefundStatus,
)
from billing.idempotency import derive_key, payment_key, refund_key
from billing.money import Money
from billing.orders import (
    CaptureRequest,
    ClosingReason,
    CreateOrder,
    Order,
    OrderPolicy,
    OrderStatus,
    Refund,
    RefundRequest,
    RefundState,
    provider_call_limit,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def new_order(capture: CaptureMode = CaptureMode.AUTOMATIC) -> Order:
    return Order(
        order_id="ORD-1",
        provider="waffo",
        amount=usd("10.00"),
        capture_mode=capture,
        customer_id="C1",
        payment_key=payment_key("ORD-1"),
        created_at=T0,
        deadline=T0 + timedelta(minutes=30),
    )


def paid_order() -> Order:
    order = new_order()
    order.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED), source="test", at=T0)
    return order


def test_success_pays_and_records_timeline() -> None:
    order = new_order()
    assert order.apply_payment(PaymentOutcome(status=PaymentStatus.PENDING), source="create", at=T0)
    assert order.status is OrderStatus.PENDING
    assert order.apply_payment(
        PaymentOutcome(status=PaymentStatus.SUCCEEDED, provider_status="PAY_SUCCESS"),
        source="notification",
        at=T0,
    )
    assert order.status is OrderStatus.PAID
    assert order.captured_amount == usd("10.00")
    assert order.refundable == usd("10.00")
    assert [e.event for e in order.timeline] == ["create", "notification"]


def test_final_states_never_move_backwards() -> None:
    order = paid_order()
    for status in (
        PaymentStatus.CLOSED,
        PaymentStatus.DECLINED,
        PaymentStatus.PENDING,
        PaymentStatus.AUTHORIZED,
    ):
        assert not order.apply_payment(PaymentOutcome(status=status), source="late", at=T0)
        assert order.status is OrderStatus.PAID
    assert "no change" in order.timeline[-1].detail


def test_success_after_expiry_is_money_received_and_flagged_late() -> None:
    order = new_order()
    order.closing = ClosingReason.DEADLINE
    order.apply_payment(PaymentOutcome(status=PaymentStatus.CLOSED), source="inquiry", at=T0 + timedelta(hours=1))
    assert order.status is OrderStatus.EXPIRED
    order.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED), source="notification", at=T0)
    assert order.status is OrderStatus.PAID
    assert order.late_payment


def test_closed_maps_to_cancelled_expired_or_failed() -> None:
    cancelled = new_order()
    cancelled.closing = ClosingReason.CANCEL
    cancelled.apply_payment(PaymentOutcome(status=PaymentStatus.CLOSED), source="x", at=T0)
    assert cancelled.status is OrderStatus.CANCELLED
    failed = new_order()
    failed.apply_payment(PaymentOutcome(status=PaymentStatus.DECLINED), source="x", at=T0)
    assert failed.status is OrderStatus.FAILED


def test_late_is_decided_by_the_provider_payment_time() -> None:
    deadline = T0 + timedelta(minutes=30)
    in_time = new_order()
    in_time.begin_closing(ClosingReason.DEADLINE, deadline)
    paid_in_time = PaymentOutcome(status=PaymentStatus.SUCCEEDED, completed_at=deadline - timedelta(minutes=5))
    in_time.apply_payment(paid_in_time, source="provider.cancel", at=deadline + timedelta(seconds=1))
    assert in_time.status is OrderStatus.PAID
    assert not in_time.late_payment, "paid before the deadline, whenever the engine learns it"

    after = new_order()
    paid_after = PaymentOutcome(status=PaymentStatus.SUCCEEDED, completed_at=deadline + timedelta(seconds=30))
    after.apply_payment(paid_after, source="inquiry", at=deadline + timedelta(minutes=1))
    assert after.late_payment

    # No payment time (Waffo's A0013 to the cancel): not late without a close confirmed before it ...
    unconfirmed = new_order()
    unconfirmed.begin_closing(ClosingReason.DEADLINE, deadline)
    unconfirmed.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED), source="provider.cancel", at=deadline)
    assert unconfirmed.status is OrderStatus.PAID and not unconfirmed.late_payment
    # ... until the inquiry that follows states a time after the deadline.
    unconfirmed.apply_payment(paid_after, source="inquiry", at=deadline)
    assert unconfirmed.late_payment


def test_a_close_the_engine_caused_is_expired_or_cancelled_whatever_the_reason() -> None:
    expiry = ProviderFailure(code="B0002", message="payment timeout", category=FailureCategory.CUSTOMER)
    declined_close = PaymentOutcome(status=PaymentStatus.DECLINED, failure=expiry)
    expired = new_order()
    expired.begin_closing(ClosingReason.DEADLINE, T0 + timedelta(minutes=30))
    expired.apply_payment(declined_close, source="notification", at=T0 + timedelta(minutes=30))
    assert expired.status is OrderStatus.EXPIRED
    assert expired.failure == expiry
    cancelled = new_order()
    cancelled.begin_closing(ClosingReason.CANCEL, T0)
    cancelled.apply_payment(declined_close, source="notification", at=T0)
    assert cancelled.status is OrderStatus.CANCELLED
    # The provider's own close at the deadline, stated before the engine closed anything.
    own_expiry = new_order()
    closed_at_deadline = declined_close.model_copy(update={"completed_at": T0 + timedelta(minutes=30)})
    own_expiry.apply_payment(closed_at_deadline, source="notification", at=T0 + timedelta(minutes=29))
    assert own_expiry.status is OrderStatus.EXPIRED
    # A genuine decline before the deadline and before any close stays FAILED, even when its statement
    # reaches the engine only after it began closing.
    failed = new_order()
    failed.apply_payment(declined_close.model_copy(update={"completed_at": T0}), source="notification", at=T0)
    assert failed.status is OrderStatus.FAILED
    seen_late = new_order()
    seen_late.begin_closing(ClosingReason.DEADLINE, T0 + timedelta(minutes=30))
    declined_early = declined_close.model_copy(update={"completed_at": T0 + timedelta(minutes=10)})
    seen_late.apply_payment(declined_early, source="inquiry", at=T0 + timedelta(minutes=31))
    assert seen_late.status is OrderStatus.FAILED


def test_amount_mismatch_needs_review() -> None:
    order = new_order()
    order.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED, amount=usd("1.00")), source="n", at=T0)
    assert order.status is OrderStatus.NEEDS_REVIEW
    assert order.review is not None and "1.00 USD" in order.review.reason


def test_refund_validation() -> None:
    order = paid_order()
    with pytest.raises(InvalidAmountError, match="more than the refundable"):
        order.check_refund(RefundRequest(refund_id="R1", amount=usd("10.01")))
    with pytest.raises(InvalidAmountError, match="greater than zero"):
        order.check_refund(RefundRequest(refund_id="R1", amount=usd("0")))
    with pytest.raises(InvalidAmountError, match="currency"):
        order.check_refund(RefundRequest(refund_id="R1", amount=Money.parse("1", "EUR")))
    assert order.check_refund(RefundRequest(refund_id="R1", amount=usd("4.00"))) is None
    with pytest.raises(InvalidStateError):
        new_order().check_refund(RefundRequest(refund_id="R1", amount=usd("1.00")))


def test_refunds_reserve_and_settle() -> None:
    order = paid_order()
    r1 = Refund(refund_id="R1", amount=usd("4.00"), request_key=refund_key("ORD-1", "R1"), requested_at=T0)
    order.add_refund(r1, T0)
    assert order.refundable == usd("6.00"), "a pending refund reserves its amount"
    assert order.check_refund(RefundRequest(refund_id="R1", amount=usd("4.00"))) is r1, "identical replay"
    with pytest.raises(ConflictError):
        order.check_refund(RefundRequest(refund_id="R1", amount=usd("5.00")))
    with pytest.raises(InvalidAmountError):
        order.check_refund(RefundRequest(refund_id="R2", amount=usd("6.01")))
    order.apply_refund(r1, RefundOutcome(status=RefundStatus.SUCCEEDED), source="n", at=T0)
    assert order.status is OrderStatus.PARTIALLY_REFUNDED
    assert order.refunded == usd("4.00")
    r2 = Refund(refund_id="R2", amount=usd("6.00"), request_key=refund_key("ORD-1", "R2"), requested_at=T0)
    order.add_refund(r2, T0)
    order.apply_refund(r2, RefundOutcome(status=RefundStatus.FAILED), source="n", at=T0)
    assert r2.status is RefundState.FAILED
    assert order.refundable == usd("6.00"), "a failed refund releases its reservation"
    r3 = Refund(refund_id="R3", amount=usd("6.00"), request_key=refund_key("ORD-1", "R3"), requested_at=T0)
    order.add_refund(r3, T0)
    order.apply_refund(r3, RefundOutcome(status=RefundStatus.SUCCEEDED), source="n", at=T0)
    assert order.status is OrderStatus.REFUNDED
    assert not order.apply_refund(r3, RefundOutcome(status=RefundStatus.FAILED), source="late", at=T0)
    assert r3.status is RefundState.SUCCEEDED


def test_an_inconclusive_refund_call_never_undoes_a_final_refund_state() -> None:
    order = paid_order()
    settled = Refund(refund_id="R1", amount=usd("4.00"), request_key=refund_key("ORD-1", "R1"), requested_at=T0)
    order.add_refund(settled, T0)
    order.apply_refund(settled, RefundOutcome(status=RefundStatus.SUCCEEDED), source="notification", at=T0)
    assert not order.refund_unknown(settled, "ReadTimeout", source="provider.refund", at=T0)
    assert not order.refund_needs_review(settled, "unresolved", T0)
    assert settled.status is RefundState.SUCCEEDED
    assert order.refunded == usd("4.00")

    open_refund = Refund(refund_id="R2", amount=usd("2.00"), request_key=refund_key("ORD-1", "R2"), requested_at=T0)
    order.add_refund(open_refund, T0)
    assert order.refund_unknown(open_refund, "ReadTimeout", source="provider.refund", at=T0)
    assert open_refund.status is RefundState.UNKNOWN
    assert order.refund_needs_review(open_refund, "not found after 3 sends", T0)
    assert open_refund.status is RefundState.NEEDS_REVIEW and open_refund.review_reason == "not found after 3 sends"
    assert order.refundable == usd("4.00"), "a refund under review keeps its reservation"


def test_capture_checks() -> None:
    order = new_order(CaptureMode.MANUAL)
    with pytest.raises(InvalidStateError, match="AUTHORIZED"):
        order.check_capture(CaptureRequest())
    order.apply_payment(PaymentOutcome(status=PaymentStatus.AUTHORIZED), source="n", at=T0)
    assert order.check_capture(CaptureRequest()) == usd("10.00")
    assert order.check_capture(CaptureRequest(amount=usd("3.00"))) == usd("3.00")
    with pytest.raises(InvalidAmountError, match="more than the authorized"):
        order.check_capture(CaptureRequest(amount=usd("10.01")))
    order.capture_requested = usd("3.00")
    order.apply_payment(PaymentOutcome(status=PaymentStatus.SUCCEEDED), source="n", at=T0)
    assert order.captured_amount == usd("3.00")
    assert order.refundable == usd("3.00")


def test_create_order_validation_names_fields() -> None:
    customer = Customer(customer_id="C1", email="c1@example.com")
    with pytest.raises(InputError, match=r"customer\.email: required by waffo"):
        CreateOrder(order_id="O1", provider="waffo", amount=usd("1"), customer=Customer(customer_id="C1"))
    with pytest.raises(InvalidAmountError, match="amount: must be greater than zero"):
        CreateOrder(order_id="O1", provider="waffo", amount=usd("0"), customer=customer)
    with pytest.raises(ValueError, match="unknown provider"):
        CreateOrder(order_id="O1", provider="stripe", amount=usd("1"), customer=customer)
    with pytest.raises(ValueError, match="order_id"):
        CreateOrder(order_id="bad id!", provider="waffo", amount=usd("1"), customer=customer)
    with pytest.raises(InputError) as caught:
        CreateOrder(
            order_id="O1",
            provider="waafipay",
            amount=usd("1"),
            customer=Customer(customer_id="C1"),
            payment_method="HPP:MWALLET_ACCOUNT",
        )
    assert caught.value.field == "customer.phone", "seed 002: payerInfo.subscriptionId is required for the wallet page"


def test_call_limits_come_from_the_providers_longest_wait() -> None:
    wallet = Customer(customer_id="C1", phone="252611111111")
    push = CreateOrder(order_id="O1", provider="waafipay", amount=usd("1"), customer=wallet)
    assert push.policy.provider_call_timeout is None
    assert push.policy.call_limit("waafipay") == provider_call_limit("waafipay") > timedelta(seconds=120)
    assert provider_call_limit("kess") > timedelta(seconds=60) and provider_call_limit("waffo") > timedelta(seconds=30)
    short = OrderPolicy(provider_call_timeout=timedelta(seconds=60))
    with pytest.raises(InputError) as caught:
        CreateOrder(order_id="O1", provider="waafipay", amount=usd("1"), customer=wallet, policy=short)
    assert caught.value.field == "policy.provider_call_timeout"
    # A hosted page does not wait for the payer: an explicit limit is the caller's choice.
    hosted = CreateOrder(
        order_id="O1", provider="waafipay", amount=usd("1"), customer=wallet, payment_method="HPP", policy=short
    )
    assert hosted.policy.call_limit("waafipay") == timedelta(seconds=60)


def test_derived_keys_fit_providers_and_are_stable() -> None:
    key = payment_key("ORD-" + "x" * 60)
    assert len(key) <= 32 and key == payment_key("ORD-" + "x" * 60)
    assert payment_key("A", 1) != payment_key("A", 2) != refund_key("A", "1")
    assert derive_key("sub", "S1").startswith("sub_")
    with pytest.raises(ValueError, match="kind"):
        derive_key("Bad Kind", "x")


def _full_request(**changes: object) -> CreateOrder:
    fields: dict[str, object] = {
        "order_id": "ORD-9",
        "provider": "waffo",
        "amount": usd("12.34"),
        "customer": Customer(customer_id="C9", email="c9@example.com"),
        "description": "Green tea",
        "capture_mode": CaptureMode.MANUAL,
        "payment_method": "CREDITCARD",
        "success_url": "https://shop.example/ok",
        "failure_url": "https://shop.example/failed",
        "cancel_url": "https://shop.example/cancelled",
    }
    return CreateOrder.model_validate(fields | changes)


def test_a_request_opens_its_order_and_the_providers_create_call() -> None:
    request = _full_request()
    order = request.new_order(T0)
    assert (order.order_id, order.provider, order.customer_id) == ("ORD-9", "waffo", "C9")
    assert (order.amount, order.capture_mode, order.description) == (usd("12.34"), CaptureMode.MANUAL, "Green tea")
    assert (order.success_url, order.failure_url) == ("https://shop.example/ok", "https://shop.example/failed")
    assert order.payment_key == payment_key("ORD-9")
    assert (order.created_at, order.deadline) == (T0, T0 + request.policy.payment_window)

    call = request.payment_request(order)
    assert call.idempotency_key == order.payment_key and call.merchant_order_id == "ORD-9"
    assert (call.expires_at, call.requested_at) == (order.deadline, order.created_at)
    # Every field the provider's create call shares with the request is the request's own: none is left out.
    shared = (set(type(call).model_fields) & set(CreateOrder.model_fields)) - {"description"}
    assert shared, "the two models share the order's fields"
    for name in shared:
        assert getattr(call, name) == getattr(request, name), name
    assert call.description == "Green tea"


def test_what_a_request_leaves_unset_gets_the_orders_defaults() -> None:
    request = _full_request(description=None, failure_url=None)
    order = request.new_order(T0)
    assert order.failure_url == "https://shop.example/cancelled"  # a failure returns where a cancel would
    assert request.payment_request(order).description == "Order ORD-9"
    assert request.payment_request(order).failure_url is None
