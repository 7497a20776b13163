"""Every Waffo example in the provider documents, as a fixture (one table, one row per example).

Sources: /work/shared/seeds/000_* (API integration overview), 003_* (response codes) and the examples
/work/shared/reference/waffo.md quotes from the provider (its section is named on each row). Each row says
what our client must do with the example: build a request equal to it (JSON-equal: Waffo signs the bytes
sent, key order is not specified), or map a documented response or notification to the documented
outcome. Responses travel signed through the client's real transport code (httpx.MockTransport with RSA
signatures both ways); notifications are signed with Waffo's test key and read by WaffoNotifications.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from billing.errors import OutcomeUnknownError
from billing.money import Money
from providers.base import (
    BillingInterval,
    CaptureMode,
    CreatePayment,
    CreateSubscription,
    Customer,
    CustomerActionKind,
    FailureCategory,
    PaymentEvent,
    PaymentRef,
    PaymentStatus,
    RefundEvent,
    RefundStatus,
    SubscriptionEvent,
    SubscriptionPlan,
    SubscriptionStatus,
)
from providers.waffo import WaffoClient, WaffoNotifications, encode_body, load_private_key, sign_bytes, transform
from tests.providers.conftest import KeyPair, WaffoResponder

BASE_URL = "https://api-sandbox.waffo.com/api/v1"
MID = "<MID>"


@dataclass(frozen=True)
class Example:
    """One documented example: where it is, what it is, and what our code must make of it."""

    section: str
    kind: str  # "request" | "response" | "notification"
    document: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""


# -- requests: built by our transform from the same business facts ---------------------------------------

ORDER_CREATE_E2E = {
    "paymentRequestId": "e2e_capture_1",
    "merchantOrderId": "E2E_CAPTURE_1",
    "orderCurrency": "HKD",
    "orderAmount": "10.00",
    "orderDescription": "E2E Manual Capture Test",
    "orderRequestedAt": "2026-03-14T10:00:00.000Z",
    "successRedirectUrl": "https://httpbin.org/get?status=success",
    "failedRedirectUrl": "https://httpbin.org/get?status=failed",
    "cancelRedirectUrl": "https://httpbin.org/get?status=cancel",
    "notifyUrl": "https://httpbin.org/post",
    "merchantInfo": {"merchantId": MID},
    "userInfo": {"userId": "e2e_capture_user", "userEmail": "capture@test.com", "userTerminal": "WEB"},
    "paymentInfo": {"productName": "ONE_TIME_PAYMENT", "payMethodType": "CREDITCARD", "captureMode": "manualCapture"},
}

SUBSCRIPTION_CREATE_E2E = {
    "subscriptionRequest": "e2e_orig_sub_1",
    "merchantSubscriptionId": "E2E_ORIG_1",
    "currency": "HKD",
    "amount": "99.00",
    "productInfo": {
        "description": "E2E Original Monthly Subscription",
        "periodType": "MONTHLY",
        "periodInterval": "1",
        "numberOfPeriod": "12",
    },
    "merchantInfo": {"merchantId": MID},
    "userInfo": {"userId": "e2e_user", "userEmail": "e2e@test.com", "userTerminal": "WEB"},
    "goodsInfo": {
        "goodsId": "E2E_GOODS_ORIG",
        "goodsName": "E2E Original Subscription",
        "goodsCategory": "SUBSCRIPTION",
        "goodsUrl": "https://example.com/subscription/original",
        "goodsQuantity": 1,
    },
    "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
    "requestedAt": "2026-03-14T10:00:00.000Z",
    "notifyUrl": "https://httpbin.org/post",
    "successRedirectUrl": "https://httpbin.org/get?status=success",
    "failedRedirectUrl": "https://httpbin.org/get?status=failed",
    "cancelRedirectUrl": "https://httpbin.org/get?status=cancel",
    "subscriptionManagementUrl": "https://example.com/subscription/manage",
}

# -- notifications -----------------------------------------------------------------------------------------

PAYMENT_NOTIFICATION_SUBSCRIPTION_FIRST = {
    "eventType": "PAYMENT_NOTIFICATION",
    "result": {
        "acquiringOrderId": "A2026xxxxxxxxxxxxxxxxxxxx",
        "orderStatus": "PAY_SUCCESS",
        "orderAmount": "109.00",
        "orderCurrency": "USD",
        "finalDealAmount": "109.00",
        "userCurrency": "USD",
        "orderDescription": "Sample Product",
        "orderRequestedAt": "2026-02-28T10:05:58.000Z",
        "orderCompletedAt": "2026-02-28T10:06:10.000Z",
        "orderUpdatedAt": "2026-02-28T10:06:10.000Z",
        "refundExpiryAt": "2026-08-26T23:59:59.999Z",
        "userInfo": {"userId": "user@example.com", "userEmail": "user@example.com"},
        "merchantInfo": {"merchantId": "YOUR_MERCHANT_ID"},
        "goodsInfo": {"goodsId": "goods_xxx", "goodsName": "Sample Product"},
        "addressInfo": {},
        "paymentInfo": {
            "productName": "SUBSCRIPTION",
            "payMethodType": "CREDITCARD",
            "payMethodName": "CC_VISA",
            "payMethodProperties": '{"cardToken":"CARD_TOKEN_XXXX","cardTransactionType":"CIT"}',
            "payMethodResponse": '{"maskCardData":"XXXX42****XX4242"}',
        },
        "subscriptionInfo": {
            "subscriptionId": "SC2026xxx",
            "subscriptionRequest": "sub_req_xxx",
            "merchantRequest": "sub_req_xxx",
            "period": "1",
        },
        "cancelRedirectUrl": "https://YOUR_DOMAIN/checkout/YOUR_CHECKOUT_ID",
    },
}

SUBSCRIPTION_STATUS_ACTIVE = {
    "eventType": "SUBSCRIPTION_STATUS_NOTIFICATION",
    "result": {
        "subscriptionId": "SC2026xxx",
        "subscriptionRequest": "sub_req_xxx",
        "merchantSubscriptionId": "sub_req_xxx",
        "subscriptionStatus": "ACTIVE",
        "currency": "USD",
        "userCurrency": "USD",
        "amount": "109.00",
        "requestedAt": "2026-02-28T10:05:58.000Z",
        "updatedAt": "2026-02-28T10:06:10.000Z",
        "userInfo": {"userId": "user@example.com", "userEmail": "user@example.com"},
        "merchantInfo": {"merchantId": "YOUR_MERCHANT_ID"},
        "goodsInfo": {"goodsId": "goods_xxx", "goodsName": "Sample Product"},
        "productInfo": {
            "periodType": "MONTHLY",
            "periodInterval": "1",
            "currentPeriod": "1",
            "startDateTime": "2026-02-28T10:06:10.000Z",
            "nextPaymentDateTime": "2026-03-28T10:06:10.000Z",
            "description": "Sample Product",
        },
        "paymentInfo": {
            "productName": "SUBSCRIPTION",
            "payMethodType": "CREDITCARD",
            "payMethodName": "CC_VISA",
            "payMethodProperties": "{}",
        },
        "paymentDetails": [
            {
                "period": "1",
                "acquiringOrderId": "A2026xxx",
                "orderAmount": "109.00",
                "orderCurrency": "USD",
                "orderStatus": "PAY_SUCCESS",
                "orderUpdatedAt": "2026-02-28T10:06:10.000Z",
            }
        ],
    },
}


def envelope(code: str, msg: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


CREATED = {
    "paymentRequestId": "pay_req_1",
    "merchantOrderId": "ORD-1",
    "acquiringOrderId": "A2026000000000000000000001",
    "orderStatus": "AUTHORIZATION_REQUIRED",
    "orderAction": '{"actionType":"WEB","webUrl":"https://checkout.example/A1","deeplinkUrl":"app://pay/A1"}',
}

EXAMPLES: list[Example] = [
    # -- seed 000 "Request format" / "Response format" ------------------------------------------------------
    Example("seed 000 Request format", "request", {}, {"headers": True}, "order/create"),
    Example(
        "seed 000 Response format: code 0 is success",
        "response",
        envelope("0", "Success", CREATED),
        {"status": PaymentStatus.PENDING},
        "order/create",
    ),
    Example(
        "seed 000 Response format: on failure data is empty",
        "response",
        envelope("A0003", "Parameter validation failed"),
        {"status": PaymentStatus.DECLINED, "code": "A0003", "category": FailureCategory.MERCHANT},
        "order/create",
    ),
    # -- seed 003 "Response Codes", "Error Code Categories", "Handling E0001" ---------------------------------
    Example(
        "seed 003 Response Codes: envelope, msg not message",
        "response",
        envelope("A0009", "Order does not exist"),
        {"not_found": True},
        "order/inquiry",
    ),
    Example(
        "seed 003 Error Code Categories: B user error",
        "response",
        envelope("B0003", "User insufficient balance"),
        {"status": PaymentStatus.DECLINED, "code": "B0003", "category": FailureCategory.CUSTOMER},
        "order/create",
    ),
    Example(
        "seed 003 Error Code Categories: C system error",
        "response",
        envelope("C0005", "Channel rejection"),
        {"status": PaymentStatus.DECLINED, "code": "C0005", "category": FailureCategory.PROVIDER},
        "order/create",
    ),
    Example(
        "seed 003 Error Code Categories: D risk control",
        "response",
        envelope("D0001", "Risk control rejected"),
        {"status": PaymentStatus.DECLINED, "code": "D0001", "category": FailureCategory.RISK},
        "order/create",
    ),
    Example(
        "seed 003 Handling E0001: do not assume failure",
        "response",
        envelope("E0001", "Unknown status"),
        {"unknown": True},
        "order/create",
    ),
    Example(
        "seed 003 Handling E0001: PAY_SUCCESS found",
        "response",
        envelope("0", "Success", {**CREATED, "orderStatus": "PAY_SUCCESS"}),
        {"status": PaymentStatus.SUCCEEDED},
        "order/inquiry",
    ),
    Example(
        "seed 003 Handling E0001: ORDER_CLOSE found",
        "response",
        envelope("0", "Success", {**CREATED, "orderStatus": "ORDER_CLOSE"}),
        {"status": PaymentStatus.CLOSED},
        "order/inquiry",
    ),
    Example(
        "seed 003 Handling E0001: still unknown",
        "response",
        envelope("0", "Success", {**CREATED, "orderStatus": "PAY_IN_PROGRESS"}),
        {"status": PaymentStatus.PENDING},
        "order/inquiry",
    ),
    # -- reference §3.1, §3.2, §4.1, §6: requests and responses quoted from the provider ------------------
    # Our request also carries goodsInfo (required in practice since; the example predates it) and no other
    # key: the example's keys are a subset of ours, with equal values.
    Example("reference §3.1 order create example (Go e2e, sandbox)", "request", ORDER_CREATE_E2E, {}, "order/create"),
    # goodsInfo differs by design: the example's goodsCategory/goodsQuantity are merchant choices we do not
    # send; goodsId, goodsName and goodsUrl are compared.
    Example(
        "reference §4.1 subscription create example (Go e2e, sandbox)",
        "request",
        SUBSCRIPTION_CREATE_E2E,
        {},
        "subscription/create",
    ),
    Example("reference §6 merchantconfig request", "request", {"merchantId": MID}, {}, "merchantconfig/inquiry"),
    Example("reference §6 paymethodconfig request", "request", {"merchantId": MID}, {}, "paymethodconfig/inquiry"),
    Example(
        "reference §3.2 orderAction is a JSON-encoded string",
        "response",
        envelope("0", "Success", CREATED),
        # "deeplinkUrl if actionType is DEEPLINK, otherwise webUrl" (§3.2): WEB here.
        {"status": PaymentStatus.PENDING, "action": "https://checkout.example/A1"},
        "order/create",
    ),
    Example(
        "reference §6 merchantconfig limits as a JSON string",
        "response",
        envelope(
            "0",
            "Success",
            {
                "merchantId": MID,
                "totalDailyLimit": '{"PHP":"100000","IDR":"2000000"}',
                "remainingDailyLimit": None,
                "transactionLimit": None,
            },
        ),
        {"limit": Money.parse("100000", "PHP")},
        "merchantconfig/inquiry",
    ),
    Example(
        "reference §6 paymethodconfig example",
        "response",
        envelope(
            "0",
            "Success",
            {
                "merchantId": MID,
                "payMethodDetails": [
                    {
                        "productName": "ONE_TIME_PAYMENT",
                        "payMethodName": "GCash",
                        "country": "PHL",
                        "currentStatus": "1",
                        "fixedMaintenanceRules": [{"startRule": "0 30 1 * * ?", "endRule": "0 30 2 * * ?"}],
                        "fixedMaintenanceTimezone": "UTC+08:00",
                    }
                ],
            },
        ),
        {"available": True},
        "paymethodconfig/inquiry",
    ),
    # -- reference §5: notifications quoted from the SDK READMEs and docs ------------------------------------
    Example(
        "reference §5.2 PAYMENT_NOTIFICATION (subscription first payment)",
        "notification",
        PAYMENT_NOTIFICATION_SUBSCRIPTION_FIRST,
        {"event": PaymentEvent, "status": PaymentStatus.SUCCEEDED, "amount": Money.parse("109.00", "USD")},
    ),
    Example(
        "reference §5.2 PAYMENT_NOTIFICATION failure fixture",
        "notification",
        {
            "eventType": "PAYMENT_NOTIFICATION",
            "result": {
                "acquiringOrderId": "A2026x",
                "orderStatus": "ORDER_CLOSE",
                "orderFailedReason": '{"orderFailedCode":"K024","orderFailedDescription":"payment failed"}',
            },
        },
        {"event": PaymentEvent, "status": PaymentStatus.DECLINED, "code": "K024"},
    ),
    # The docs print this one flat; §5.1 says nest it under result (as the SDKs do).
    Example(
        "reference §5.3 REFUND_NOTIFICATION doc example",
        "notification",
        {
            "eventType": "REFUND_NOTIFICATION",
            "result": {
                "acquiringRefundOrderId": "REF123456",
                "refundRequestId": "REFUND_REQ123",
                "refundStatus": "ORDER_FULLY_REFUNDED",
                "refundAmount": "100.00",
            },
        },
        {"event": RefundEvent, "status": RefundStatus.SUCCEEDED},
    ),
    Example(
        "reference §5.4 SUBSCRIPTION_STATUS_NOTIFICATION (ACTIVE)",
        "notification",
        SUBSCRIPTION_STATUS_ACTIVE,
        {"event": SubscriptionEvent, "status": SubscriptionStatus.ACTIVE, "period": 1},
    ),
]


@pytest.fixture
async def client(responder: WaffoResponder, merchant_keys: KeyPair, waffo_keys: KeyPair) -> AsyncIterator[WaffoClient]:
    waffo = WaffoClient(
        base_url=BASE_URL,
        api_key="test-api-key",
        merchant_id=MID,
        merchant_private_key=merchant_keys.private_b64,
        waffo_public_key=waffo_keys.public_b64,
        notify_url="https://httpbin.org/post",
        goods_url="https://example.com/subscription/original",
        transport=httpx.MockTransport(responder),
    )
    yield waffo
    await waffo.aclose()


REQUESTED_AT = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
GOODS = transform.GoodsDefaults(goods_url="https://example.com/subscription/original")


def built_request(endpoint: str) -> dict[str, Any]:
    """Our request for the business facts of the documented example of ``endpoint``."""
    if endpoint == "order/create":
        payment = CreatePayment(
            idempotency_key="e2e_capture_1",
            merchant_order_id="E2E_CAPTURE_1",
            amount=Money.parse("10.00", "HKD"),
            description="E2E Manual Capture Test",
            customer=Customer(customer_id="e2e_capture_user", email="capture@test.com"),
            requested_at=REQUESTED_AT,
            payment_method="CREDITCARD",
            capture_mode=CaptureMode.MANUAL,
            success_url="https://httpbin.org/get?status=success",
            failure_url="https://httpbin.org/get?status=failed",
            cancel_url="https://httpbin.org/get?status=cancel",
            notify_url="https://httpbin.org/post",
        )
        wire_request = transform.order_create_request(payment, merchant_id=MID, notify_url=None, goods=GOODS)
    elif endpoint == "subscription/create":
        subscription = CreateSubscription(
            idempotency_key="e2e_orig_sub_1",
            merchant_subscription_id="E2E_ORIG_1",
            plan=SubscriptionPlan(
                plan_id="E2E_GOODS_ORIG",
                description="E2E Original Monthly Subscription",
                amount=Money.parse("99.00", "HKD"),
                interval=BillingInterval.MONTH,
                periods=12,
            ),
            customer=Customer(customer_id="e2e_user", email="e2e@test.com"),
            requested_at=REQUESTED_AT,
            payment_method="CREDITCARD",
            success_url="https://httpbin.org/get?status=success",
            failure_url="https://httpbin.org/get?status=failed",
            cancel_url="https://httpbin.org/get?status=cancel",
            notify_url="https://httpbin.org/post",
            management_url="https://example.com/subscription/manage",
        )
        wire_request = transform.subscription_create_request(
            subscription, merchant_id=MID, notify_url=None, goods=GOODS
        )
    elif endpoint == "merchantconfig/inquiry":
        wire_request = transform.merchant_config_request(merchant_id=MID)
    else:
        wire_request = transform.pay_method_config_request(merchant_id=MID)
    document: dict[str, Any] = json.loads(encode_body(wire_request))
    return document


def create_payment() -> CreatePayment:
    return CreatePayment(
        idempotency_key="pay_req_1",
        merchant_order_id="ORD-1",
        amount=Money.parse("10.00", "USD"),
        description="Seed example",
        customer=Customer(customer_id="c-1", email="c@example.com"),
        requested_at=REQUESTED_AT,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.section for example in EXAMPLES])
async def test_seed_example(
    example: Example, client: WaffoClient, responder: WaffoResponder, merchant_keys: KeyPair, waffo_keys: KeyPair
) -> None:
    if example.kind == "request" and example.expect.get("headers"):
        responder.answer(CREATED)
        await client.create_payment(create_payment())
        sent = responder.requests[-1]
        assert sent.method == "POST"
        assert sent.url.path == "/api/v1/order/create"
        assert sent.headers["content-type"] == "application/json"
        assert sent.headers["x-api-key"] == "test-api-key"
        assert responder.signatures_valid[-1]
        sent.content.decode("utf-8")
        return
    if example.kind == "request":
        ours = built_request(example.endpoint)
        expected = dict(example.document)
        if example.endpoint == "subscription/create":
            goods = expected.pop("goodsInfo")
            ours_goods = ours.pop("goodsInfo")
            assert {key: goods[key] for key in ("goodsId", "goodsUrl")} == {
                key: ours_goods[key] for key in ("goodsId", "goodsUrl")
            }
        extra = set(ours) - set(expected)
        assert extra <= {"goodsInfo"}, extra
        assert {key: ours[key] for key in expected} == expected
        return
    if example.kind == "response":
        await check_response(example, client, responder)
        return
    codec = WaffoNotifications(waffo_keys.public_b64, merchant_keys.private_b64)
    body = json.dumps(example.document, separators=(",", ":")).encode()
    signature = sign_bytes(body, load_private_key(waffo_keys.private_b64))
    event = codec.parse_notification(body, {"X-SIGNATURE": signature})
    assert isinstance(event, example.expect["event"])
    outcome: Any = event.outcome  # type: ignore[union-attr]
    assert outcome.status is example.expect["status"]
    if "amount" in example.expect:
        assert outcome.amount == example.expect["amount"]
    if "code" in example.expect:
        assert outcome.failure is not None and outcome.failure.code == example.expect["code"]
    if "period" in example.expect:
        assert outcome.current_period == example.expect["period"]


async def check_response(example: Example, client: WaffoClient, responder: WaffoResponder) -> None:
    document = example.document
    responder.answer(document.get("data"), code=document["code"], msg=document["msg"])
    expect = example.expect
    if example.endpoint == "merchantconfig/inquiry":
        config = await client.inquire_merchant_config()
        assert config.total_daily_limit["PHP"] == expect["limit"]
        return
    if example.endpoint == "paymethodconfig/inquiry":
        (method,) = (await client.inquire_pay_method_config()).pay_methods
        assert method.available is expect["available"]
        return
    if expect.get("unknown"):
        with pytest.raises(OutcomeUnknownError):
            await client.create_payment(create_payment())
        return
    if expect.get("not_found"):
        from billing.errors import NotFoundError

        with pytest.raises(NotFoundError):
            await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))
        return
    if example.endpoint == "order/inquiry":
        outcome = await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))
    else:
        outcome = await client.create_payment(create_payment())
    assert outcome.status is expect["status"]
    if "code" in expect:
        assert outcome.failure is not None
        assert (outcome.failure.code, outcome.failure.category) == (expect["code"], expect["category"])
        assert outcome.failure.message  # read from "msg"
    if "action" in expect:
        assert outcome.customer_action is not None
        assert outcome.customer_action.kind is CustomerActionKind.REDIRECT
        assert outcome.customer_action.url == expect["action"]
