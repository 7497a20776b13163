"""Pure mapping: amounts, timestamps, status maps, code classes, periods, request ids, lenient wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from billing.errors import InputError
from billing.money import Money
from providers.base import (
    BillingInterval,
    CancelledBy,
    ChangeStatus,
    CustomerActionKind,
    FailureCategory,
    PaymentStatus,
    RefundStatus,
    SubscriptionStatus,
)
from providers.waffo import transform, wire

# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1050, "USD", "10.50"),
        (5, "USD", "0.05"),
        (5000000, "IDR", "50000.00"),
        (1000, "JPY", "1000"),
        (7, "KRW", "7"),
        (1250, "KWD", "1.250"),
        (1, "KWD", "0.001"),
    ],
)
def test_amount_strings_follow_the_currency_exponent(minor: int, currency: str, text: str) -> None:
    money = Money(amount_minor=minor, currency=currency)
    assert transform.amount_to_wire(money) == text
    assert transform.amount_from_wire(text, currency) == money


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        (None, "USD"),
        ("", "USD"),
        ("10.00", None),
        ("10.001", "USD"),
        ("1.5", "JPY"),
        ("1e3", "USD"),
        ("9", "XXX"),
    ],
)
def test_unrepresentable_wire_amounts_are_left_out(text: str | None, currency: str | None) -> None:
    assert transform.amount_from_wire(text, currency) is None


def test_wire_amounts_given_as_json_numbers_are_read_exactly() -> None:
    order = wire.OrderDetails.model_validate({"orderAmount": 100, "orderCurrency": "USD", "orderStatus": "PAY_SUCCESS"})
    assert order.order_amount == "100"


# -- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 2, 28, 10, 5, 58, tzinfo=UTC), "2026-02-28T10:05:58.000Z"),
        (datetime(2026, 2, 28, 10, 5, 58, 123999, tzinfo=UTC), "2026-02-28T10:05:58.123Z"),
        (
            datetime(2026, 1, 1, 8, 0, 0, 5000, tzinfo=timezone(timedelta(hours=8))),
            "2026-01-01T00:00:00.005Z",
        ),
    ],
)
def test_timestamps_are_utc_with_three_fractional_digits(moment: datetime, text: str) -> None:
    assert transform.format_timestamp(moment) == text


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(InputError) as caught:
        transform.format_timestamp(datetime(2026, 1, 1), field="requested_at")
    assert caught.value.field == "requested_at"


# -- status maps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "failed", "status"),
    [
        ("PAY_SUCCESS", False, PaymentStatus.SUCCEEDED),
        ("ORDER_CLOSE", False, PaymentStatus.CLOSED),
        ("ORDER_CLOSE", True, PaymentStatus.DECLINED),
        ("AUTHED_WAITING_CAPTURE", False, PaymentStatus.AUTHORIZED),
        ("PAY_IN_PROGRESS", False, PaymentStatus.PENDING),
        ("AUTHORIZATION_REQUIRED", False, PaymentStatus.PENDING),
        ("CAPTURE_IN_PROGRESS", False, PaymentStatus.PENDING),
        ("SOMETHING_NEW", True, PaymentStatus.PENDING),
        (None, False, PaymentStatus.PENDING),
    ],
)
def test_order_status_map(word: str | None, failed: bool, status: PaymentStatus) -> None:
    assert transform.payment_status(word, failed=failed) is status


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("REFUND_IN_PROGRESS", RefundStatus.PENDING),
        ("ORDER_PARTIALLY_REFUNDED", RefundStatus.SUCCEEDED),
        ("ORDER_FULLY_REFUNDED", RefundStatus.SUCCEEDED),
        ("ORDER_REFUND_FAILED", RefundStatus.FAILED),
        ("WHATEVER", RefundStatus.PENDING),
        (None, RefundStatus.PENDING),
    ],
)
def test_refund_status_map(word: str | None, status: RefundStatus) -> None:
    assert transform.refund_status(word) is status


@pytest.mark.parametrize(
    ("word", "status", "cancelled_by"),
    [
        ("AUTHORIZATION_REQUIRED", SubscriptionStatus.PENDING, None),
        ("IN_PROGRESS", SubscriptionStatus.PENDING, None),
        ("ACTIVE", SubscriptionStatus.ACTIVE, None),
        ("CLOSE", SubscriptionStatus.CLOSED, None),
        ("MERCHANT_CANCELLED", SubscriptionStatus.CANCELLED, CancelledBy.MERCHANT),
        ("USER_CANCELLED", SubscriptionStatus.CANCELLED, CancelledBy.CUSTOMER),
        ("CHANNEL_CANCELLED", SubscriptionStatus.CANCELLED, CancelledBy.PROVIDER),
        ("EXPIRED", SubscriptionStatus.EXPIRED, None),
        ("PAUSED_SOMEHOW", SubscriptionStatus.PENDING, None),
        (None, SubscriptionStatus.PENDING, None),
    ],
)
def test_subscription_status_map(
    word: str | None, status: SubscriptionStatus, cancelled_by: CancelledBy | None
) -> None:
    assert transform.subscription_status(word) == (status, cancelled_by)


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("IN_PROGRESS", ChangeStatus.PENDING),
        ("AUTHORIZATION_REQUIRED", ChangeStatus.PENDING),
        ("SUCCESS", ChangeStatus.SUCCEEDED),
        ("CLOSED", ChangeStatus.CLOSED),
        ("CLOSE", ChangeStatus.CLOSED),
        ("NEW_WORD", ChangeStatus.PENDING),
    ],
)
def test_change_status_map(word: str, status: ChangeStatus) -> None:
    assert transform.change_status(word) is status


# -- error codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "code_class"),
    [
        ("0", transform.CodeClass.SUCCESS),
        ("A0003", transform.CodeClass.REFUSED),
        ("B0001", transform.CodeClass.REFUSED),
        ("C0001", transform.CodeClass.REFUSED),
        ("D0001", transform.CodeClass.REFUSED),
        ("E0001", transform.CodeClass.UNKNOWN),
        ("S0001", transform.CodeClass.UNKNOWN),
        ("", transform.CodeClass.UNKNOWN),
        (None, transform.CodeClass.UNKNOWN),
    ],
)
def test_code_classes(code: str | None, code_class: transform.CodeClass) -> None:
    assert transform.classify_code(code) is code_class


@pytest.mark.parametrize(
    ("code", "category", "hard"),
    [
        ("A0003", FailureCategory.MERCHANT, True),
        ("A0007", FailureCategory.MERCHANT, True),
        ("A0021", FailureCategory.MERCHANT, False),
        ("A0012", FailureCategory.MERCHANT, False),
        ("B0001", FailureCategory.CUSTOMER, False),
        ("C0001", FailureCategory.PROVIDER, False),
        ("C0005", FailureCategory.PROVIDER, False),
        ("D0001", FailureCategory.RISK, True),
    ],
)
def test_failures_carry_category_and_hardness(code: str, category: FailureCategory, hard: bool) -> None:
    failure = transform.provider_failure(code, "text")
    assert (failure.code, failure.message, failure.category, failure.hard) == (code, "text", category, hard)


# -- periods and ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "count", "expected"),
    [
        (BillingInterval.DAY, 1, ("DAILY", "1")),
        (BillingInterval.WEEK, 2, ("WEEKLY", "2")),
        (BillingInterval.MONTH, 3, ("MONTHLY", "3")),
        (BillingInterval.YEAR, 1, ("MONTHLY", "12")),
        (BillingInterval.YEAR, 2, ("MONTHLY", "24")),
    ],
)
def test_billing_periods(interval: BillingInterval, count: int, expected: tuple[str, str]) -> None:
    assert transform.billing_period(interval, count) == expected


def test_request_ids_over_32_characters_are_refused() -> None:
    assert transform.require_request_id("a" * 32, field="idempotency_key") == "a" * 32
    with pytest.raises(InputError) as caught:
        transform.require_request_id("a" * 33, field="idempotency_key")
    assert caught.value.field == "idempotency_key"
    with pytest.raises(InputError):
        transform.require_request_id(None, field="payment.provider_reference")


# -- lenient wire -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "description"),
    [
        ('{"orderFailedCode":"K024","orderFailedDescription":"payment failed"}', "K024", "payment failed"),
        ({"orderFailedCode": "K024", "orderFailedDescription": "payment failed"}, "K024", "payment failed"),
        ('{"refundFailedCode":"R1","refundFailedDescription":"no"}', "R1", "no"),
        ("card expired", None, "card expired"),
    ],
)
def test_failure_reasons_in_every_form(raw: object, code: str | None, description: str) -> None:
    order = wire.OrderDetails.model_validate({"orderStatus": "ORDER_CLOSE", "orderFailedReason": raw})
    assert order.order_failed_reason is not None
    assert (order.order_failed_reason.code, order.order_failed_reason.description) == (code, description)


@pytest.mark.parametrize("raw", [None, "", "{}", {}])
def test_empty_failure_reasons_mean_closed_not_declined(raw: object) -> None:
    order = wire.OrderDetails.model_validate({"orderStatus": "ORDER_CLOSE", "orderFailedReason": raw})
    outcome = transform.payment_outcome(order)
    assert outcome.status is PaymentStatus.CLOSED
    assert outcome.failure is None


def test_declined_order_carries_the_channel_failure() -> None:
    order = wire.OrderDetails.model_validate(
        {
            "orderStatus": "ORDER_CLOSE",
            "orderFailedReason": '{"orderFailedCode":"K024","orderFailedDescription":"payment failed"}',
        }
    )
    outcome = transform.payment_outcome(order)
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category) == ("K024", FailureCategory.PROVIDER)


@pytest.mark.parametrize(
    ("action", "kind", "url"),
    [
        (
            '{"actionType":"WEB","webUrl":"https://pay.example/c/1"}',
            CustomerActionKind.REDIRECT,
            "https://pay.example/c/1",
        ),
        (
            '{"actionType":"DEEPLINK","webUrl":"https://pay.example/c/1","deeplinkUrl":"dana://pay/1"}',
            CustomerActionKind.DEEPLINK,
            "dana://pay/1",
        ),
        ({"webUrl": "https://pay.example/c/2"}, CustomerActionKind.REDIRECT, "https://pay.example/c/2"),
        ("https://pay.example/s/3", CustomerActionKind.REDIRECT, "https://pay.example/s/3"),
    ],
)
def test_actions_in_every_form(action: object, kind: CustomerActionKind, url: str) -> None:
    data = wire.SubscriptionData.model_validate({"subscriptionAction": action})
    result = transform.customer_action(data.subscription_action)
    assert result is not None
    assert (result.kind, result.url) == (kind, url)


def test_qr_action_and_unreadable_action() -> None:
    order = wire.OrderData.model_validate(
        {
            "orderAction": json.dumps(
                {
                    "actionType": "QR",
                    "actionData": {"paymentQr": "000201...", "paymentExpiryTime": "2026-01-01T00:00:00.000Z"},
                }
            )
        }
    )
    action = transform.customer_action(order.order_action)
    assert action is not None
    assert (action.kind, action.qr) == (CustomerActionKind.QR, "000201...")
    assert action.expires_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert wire.OrderData.model_validate({"orderAction": "{not json"}).order_action is None


@pytest.mark.parametrize(
    "limits",
    [{"USD": "1000.00"}, '{"USD":"1000.00"}', None, ""],
)
def test_merchant_limits_as_object_string_or_null(limits: object) -> None:
    data = wire.MerchantConfigData.model_validate(
        {"merchantId": "M1", "totalDailyLimit": limits, "remainingDailyLimit": None, "unknownField": 1}
    )
    config = transform.merchant_config(data)
    expected = {} if not limits else {"USD": Money(amount_minor=100000, currency="USD")}
    assert config.total_daily_limit == expected
    assert config.remaining_daily_limit == {}


def test_null_collections_read_as_empty() -> None:
    details = wire.SubscriptionDetails.model_validate(
        {"subscriptionStatus": "ACTIVE", "paymentDetails": None, "merchantInfo": None, "productInfo": None}
    )
    assert details.payment_details == []
    assert transform.subscription_outcome(details).payments == ()
    assert wire.PayMethodConfigData.model_validate({"payMethodDetails": None}).pay_method_details == []
