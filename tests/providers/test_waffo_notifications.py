"""Verify-then-parse of Waffo notifications, event keys, and the exact signed replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.errors import MalformedNotificationError, SignatureVerificationError
from billing.money import Money
from providers.base import (
    CancelledBy,
    ChangeStatus,
    NotificationVerifier,
    PaymentEvent,
    PaymentStatus,
    RefundEvent,
    RefundStatus,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    SubscriptionEventType,
    SubscriptionStatus,
    UnknownEvent,
)
from providers.waffo import WaffoNotifications
from providers.waffo.signing import sign_bytes, verify_bytes
from tests.providers.conftest import KeyPair, compact

PAYMENT_RESULT: dict[str, Any] = {
    "paymentRequestId": "pay_req_1",
    "merchantOrderId": "ORD-1",
    "acquiringOrderId": "A20260228100558000001",
    "orderStatus": "PAY_SUCCESS",
    "orderAmount": "109.00",
    "orderCurrency": "USD",
    "finalDealAmount": "109.00",
    "userCurrency": "USD",
    "orderCompletedAt": "2026-02-28T10:06:10.000Z",
    "orderUpdatedAt": "2026-02-28T10:06:10.000Z",
    "merchantInfo": None,
    "userInfo": None,
    "paymentInfo": None,
    "someFutureField": {"x": 1},
}

SUBSCRIPTION_RESULT: dict[str, Any] = {
    "subscriptionId": "SC2026001",
    "subscriptionRequest": "sub_req_1",
    "merchantSubscriptionId": "PLAN-1",
    "subscriptionStatus": "ACTIVE",
    "currency": "USD",
    "amount": "109.00",
    "productInfo": {
        "periodType": "MONTHLY",
        "periodInterval": "1",
        "currentPeriod": "2",
        "startDateTime": "2026-02-28T10:06:10.000Z",
        "nextPaymentDateTime": "2026-04-28T10:06:10.000Z",
    },
    "paymentDetails": [
        {
            "period": "1",
            "acquiringOrderId": "A1",
            "orderAmount": "109.00",
            "orderCurrency": "USD",
            "orderStatus": "PAY_SUCCESS",
            "orderUpdatedAt": "2026-02-28T10:06:10.000Z",
        },
        {
            "period": "2",
            "acquiringOrderId": "A2",
            "orderAmount": "109.00",
            "orderCurrency": "USD",
            "orderStatus": "PAY_SUCCESS",
            "orderUpdatedAt": "2026-03-28T10:06:10.000Z",
        },
    ],
}


@pytest.fixture
def notifications(merchant_keys: KeyPair, waffo_keys: KeyPair) -> WaffoNotifications:
    return WaffoNotifications(waffo_keys.public_b64, merchant_keys.private_b64)


def signed(waffo_keys: KeyPair, event_type: str, result: Any) -> tuple[bytes, dict[str, str]]:
    body = compact({"eventType": event_type, "result": result})
    return body, {"Content-Type": "application/json", "X-SIGNATURE": sign_bytes(body, waffo_keys.private_key)}


def test_implements_the_verifier_protocol(notifications: WaffoNotifications) -> None:
    verifier: NotificationVerifier = notifications
    assert verifier is notifications
    assert "redacted" in repr(notifications)


def test_payment_notification(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    event = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT))
    assert isinstance(event, PaymentEvent)
    outcome = event.outcome
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.idempotency_key == "pay_req_1"
    assert outcome.provider_reference == "A20260228100558000001"
    assert outcome.merchant_reference == "ORD-1"
    assert outcome.amount == Money(amount_minor=10900, currency="USD")
    assert outcome.paid_amount is None
    assert outcome.completed_at is not None
    assert outcome.subscription_reference is None


def test_subscription_payment_notification_carries_the_period(
    notifications: WaffoNotifications, waffo_keys: KeyPair
) -> None:
    result = {key: value for key, value in PAYMENT_RESULT.items() if key not in ("paymentRequestId", "merchantOrderId")}
    result["paymentInfo"] = {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"}
    result["subscriptionInfo"] = {
        "subscriptionId": "SC2026001",
        "subscriptionRequest": "sub_req_1",
        "merchantRequest": "sub_req_1",
        "period": "3",
    }
    event = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", result))
    assert isinstance(event, PaymentEvent)
    assert event.outcome.subscription_reference == "SC2026001"
    assert event.outcome.subscription_period == 3
    assert event.event_key.endswith(":PAY_SUCCESS:3")


def test_failed_payment_with_json_string_reason(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    result = dict(
        PAYMENT_RESULT,
        orderStatus="ORDER_CLOSE",
        orderFailedReason='{"orderFailedCode":"K024","orderFailedDescription":"payment failed"}',
    )
    event = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", result))
    assert isinstance(event, PaymentEvent)
    assert event.outcome.status is PaymentStatus.DECLINED
    assert event.outcome.failure is not None
    assert event.outcome.failure.code == "K024"
    assert event.outcome.failure.message == "payment failed"


def test_refund_notification(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    result = {
        "refundRequestId": "ref_req_1",
        "acquiringOrderId": "A20260228100558000001",
        "acquiringRefundOrderId": "R2026001",
        "refundAmount": "9.00",
        "refundStatus": "ORDER_PARTIALLY_REFUNDED",
        "remainingRefundAmount": "100.00",
        "refundFailedReason": None,
        "userInfo": None,
    }
    event = notifications.parse_notification(*signed(waffo_keys, "REFUND_NOTIFICATION", result))
    assert isinstance(event, RefundEvent)
    assert event.outcome.status is RefundStatus.SUCCEEDED
    assert event.outcome.idempotency_key == "ref_req_1"
    assert event.outcome.payment_reference == "A20260228100558000001"
    assert event.outcome.provider_reference == "R2026001"


def test_failed_refund_with_object_reason(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    result = {
        "refundRequestId": "ref_req_2",
        "acquiringOrderId": "A1",
        "refundStatus": "ORDER_REFUND_FAILED",
        "refundFailedReason": {"refundFailedCode": "C0005", "refundFailedDescription": "channel rejected"},
    }
    event = notifications.parse_notification(*signed(waffo_keys, "REFUND_NOTIFICATION", result))
    assert isinstance(event, RefundEvent)
    assert event.outcome.status is RefundStatus.FAILED
    assert event.outcome.failure is not None
    assert event.outcome.failure.code == "C0005"


def test_subscription_status_notification(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    event = notifications.parse_notification(
        *signed(waffo_keys, "SUBSCRIPTION_STATUS_NOTIFICATION", SUBSCRIPTION_RESULT)
    )
    assert isinstance(event, SubscriptionEvent)
    assert event.event_type is SubscriptionEventType.STATUS
    outcome = event.outcome
    assert outcome.status is SubscriptionStatus.ACTIVE
    assert outcome.provider_reference == "SC2026001"
    assert outcome.idempotency_key == "sub_req_1"
    assert outcome.current_period == 2
    assert [payment.period for payment in outcome.payments] == [1, 2]
    assert outcome.amount == Money(amount_minor=10900, currency="USD")


@pytest.mark.parametrize(
    ("word", "cancelled_by"),
    [
        ("MERCHANT_CANCELLED", CancelledBy.MERCHANT),
        ("USER_CANCELLED", CancelledBy.CUSTOMER),
        ("CHANNEL_CANCELLED", CancelledBy.PROVIDER),
    ],
)
def test_subscription_cancellations(
    notifications: WaffoNotifications, waffo_keys: KeyPair, word: str, cancelled_by: CancelledBy
) -> None:
    result = dict(SUBSCRIPTION_RESULT, subscriptionStatus=word, paymentDetails=None)
    event = notifications.parse_notification(*signed(waffo_keys, "SUBSCRIPTION_STATUS_NOTIFICATION", result))
    assert isinstance(event, SubscriptionEvent)
    assert (event.outcome.status, event.outcome.cancelled_by) == (SubscriptionStatus.CANCELLED, cancelled_by)


def test_subscription_period_changed_notification(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    event = notifications.parse_notification(
        *signed(waffo_keys, "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION", SUBSCRIPTION_RESULT)
    )
    assert isinstance(event, SubscriptionEvent)
    assert event.event_type is SubscriptionEventType.PERIOD_CHANGED
    assert event.outcome.current_period == 2
    assert event.event_key == "waffo:subscription-period:SC2026001:sub_req_1:ACTIVE:2:PAY_SUCCESS"


def test_subscription_change_notification(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    result = {
        "subscriptionRequest": "sub_req_2",
        "originSubscriptionRequest": "sub_req_1",
        "subscriptionId": "SC2026002",
        "subscriptionChangeStatus": "SUCCESS",
        "remainingAmount": "50.00",
        "currency": "USD",
        "productInfoList": None,
    }
    event = notifications.parse_notification(*signed(waffo_keys, "SUBSCRIPTION_CHANGE_NOTIFICATION", result))
    assert isinstance(event, SubscriptionChangeEvent)
    assert event.outcome.status is ChangeStatus.SUCCEEDED
    assert event.outcome.idempotency_key == "sub_req_2"
    assert event.outcome.original_idempotency_key == "sub_req_1"
    assert event.outcome.provider_reference == "SC2026002"


def test_unknown_event_type(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    body, headers = signed(waffo_keys, "TOKENIZATION_NOTIFICATION", {"tokenId": "tok_1"})
    event = notifications.parse_notification(body, headers)
    assert isinstance(event, UnknownEvent)
    assert event.provider_event_type == "TOKENIZATION_NOTIFICATION"
    assert notifications.parse_notification(body, headers).event_key == event.event_key


def test_header_lookup_is_case_insensitive(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    body, headers = signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT)
    event = notifications.parse_notification(body, {"x-signature": headers["X-SIGNATURE"]})
    assert isinstance(event, PaymentEvent)


# -- event keys ---------------------------------------------------------------------------------


def test_the_same_statement_redelivered_has_the_same_key(
    notifications: WaffoNotifications, waffo_keys: KeyPair
) -> None:
    first = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT))
    again = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT))
    # A redelivery whose incidental fields differ still states the same thing.
    touched = dict(PAYMENT_RESULT, orderUpdatedAt="2026-02-28T11:00:00.000Z")
    later = notifications.parse_notification(*signed(waffo_keys, "PAYMENT_NOTIFICATION", touched))
    assert first.event_key == again.event_key == later.event_key


def test_different_statements_have_different_keys(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    keys = {
        notifications.parse_notification(*signed(waffo_keys, event_type, result)).event_key
        for event_type, result in [
            ("PAYMENT_NOTIFICATION", PAYMENT_RESULT),
            ("PAYMENT_NOTIFICATION", dict(PAYMENT_RESULT, orderStatus="ORDER_CLOSE")),
            ("PAYMENT_NOTIFICATION", dict(PAYMENT_RESULT, acquiringOrderId="A2")),
            ("SUBSCRIPTION_STATUS_NOTIFICATION", SUBSCRIPTION_RESULT),
            ("SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION", SUBSCRIPTION_RESULT),
            (
                "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION",
                dict(SUBSCRIPTION_RESULT, productInfo={"currentPeriod": "3"}),
            ),
        ]
    }
    assert len(keys) == 6


# -- rejection ----------------------------------------------------------------------------------


def test_missing_signature_is_rejected(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    body, _ = signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT)
    with pytest.raises(SignatureVerificationError):
        notifications.parse_notification(body, {"Content-Type": "application/json"})


def test_tampered_body_is_rejected(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    body, headers = signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT)
    with pytest.raises(SignatureVerificationError):
        notifications.parse_notification(body.replace(b"109.00", b"999.00"), headers)


def test_reserialized_body_is_rejected(notifications: WaffoNotifications, waffo_keys: KeyPair) -> None:
    body, headers = signed(waffo_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT)
    reserialized = json.dumps(json.loads(body)).encode()
    assert reserialized != body
    with pytest.raises(SignatureVerificationError):
        notifications.parse_notification(reserialized, headers)


def test_signature_by_another_key_is_rejected(notifications: WaffoNotifications, other_keys: KeyPair) -> None:
    body, headers = signed(other_keys, "PAYMENT_NOTIFICATION", PAYMENT_RESULT)
    with pytest.raises(SignatureVerificationError):
        notifications.parse_notification(body, headers)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2]",
        b'{"result":{}}',
        b'{"eventType":"","result":{}}',
        b'{"eventType":"PAYMENT_NOTIFICATION"}',
        b'{"eventType":"PAYMENT_NOTIFICATION","result":"{}"}',
        b'{"eventType":"PAYMENT_NOTIFICATION","result":{"orderStatus":["x"]}}',
    ],
)
def test_verified_but_malformed(notifications: WaffoNotifications, waffo_keys: KeyPair, body: bytes) -> None:
    headers = {"X-SIGNATURE": sign_bytes(body, waffo_keys.private_key)}
    with pytest.raises(MalformedNotificationError):
        notifications.parse_notification(body, headers)


# -- replies ------------------------------------------------------------------------------------


def test_success_reply_is_exact_and_signed(notifications: WaffoNotifications, merchant_keys: KeyPair) -> None:
    reply = notifications.success_reply()
    assert reply.status_code == 200
    assert reply.body == b'{"message":"success"}'
    assert reply.headers["Content-Type"] == "application/json"
    assert verify_bytes(reply.body, reply.headers["X-SIGNATURE"], merchant_keys.public_key)
    assert reply.headers["X-SIGNATURE"] == sign_bytes(b'{"message":"success"}', merchant_keys.private_key)


def test_failure_reply_is_exact_and_signed(notifications: WaffoNotifications, merchant_keys: KeyPair) -> None:
    reply = notifications.failure_reply()
    assert reply.status_code == 200
    assert reply.body == b'{"message":"failed"}'
    assert reply.headers["Content-Type"] == "application/json"
    assert verify_bytes(reply.body, reply.headers["X-SIGNATURE"], merchant_keys.public_key)
