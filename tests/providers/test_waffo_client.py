"""WaffoClient flows against a signed in-test responder (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from billing.errors import (
    ConfigurationError,
    ConflictError,
    InputError,
    InvalidStateError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    ResponseVerificationError,
)
from billing.money import Money
from providers.base import (
    BillingInterval,
    CancelledBy,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeStatus,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    CustomerActionKind,
    FailureCategory,
    InquireSubscriptionChange,
    ManageSubscription,
    PaymentProvider,
    PaymentRef,
    PaymentStatus,
    RefundRef,
    RefundStatus,
    SubscriptionPlan,
    SubscriptionRef,
    SubscriptionStatus,
)
from providers.waffo import TopUp, UpdateSubscription, WaffoClient
from providers.waffo.settings import WaffoSettings
from providers.waffo.signing import verify_bytes
from tests.providers.conftest import KeyPair, Reply, WaffoResponder

BASE_URL = "https://waffo.test/api/v1"
NOW = datetime(2026, 2, 28, 10, 5, 58, 250000, tzinfo=UTC)
USD_10_50 = Money(amount_minor=1050, currency="USD")
CUSTOMER = Customer(customer_id="cust-1", email="payer@example.com")


@pytest.fixture
async def client(responder: WaffoResponder, merchant_keys: KeyPair, waffo_keys: KeyPair) -> AsyncIterator[WaffoClient]:
    waffo = WaffoClient(
        base_url=BASE_URL,
        api_key="test-api-key",
        merchant_id="M-1",
        merchant_private_key=merchant_keys.private_b64,
        waffo_public_key=waffo_keys.public_b64,
        notify_url="https://merchant.example/waffo/notify",
        refund_notify_url="https://merchant.example/waffo/refund",
        goods_url="https://merchant.example/shop",
        app_name="com.merchant.shop",
        transport=httpx.MockTransport(responder),
    )
    yield waffo
    await waffo.aclose()


def create_payment(key: str = "pay_req_1") -> CreatePayment:
    return CreatePayment(
        idempotency_key=key,
        merchant_order_id="ORD-1",
        amount=USD_10_50,
        description="Café subscription box",
        customer=CUSTOMER,
        requested_at=NOW,
    )


PLAN = SubscriptionPlan(
    plan_id="plan-yearly",
    description="Yearly plan",
    amount=Money(amount_minor=9900, currency="USD"),
    interval=BillingInterval.YEAR,
)


# -- construction -------------------------------------------------------------------------------


def test_is_a_payment_provider(client: WaffoClient) -> None:
    provider: PaymentProvider = client
    assert isinstance(provider, PaymentProvider)
    assert client.name == "waffo"
    assert client.capabilities.native_subscriptions
    assert "test-api-key" not in repr(client)


async def test_from_settings(merchant_keys: KeyPair, waffo_keys: KeyPair, responder: WaffoResponder) -> None:
    settings = WaffoSettings(
        base_url=BASE_URL,
        api_key=SecretStr("k"),
        merchant_id="M-1",
        private_key=SecretStr(merchant_keys.private_pem),
        public_key=waffo_keys.public_pem,
        notify_url="https://merchant.example/n",
        goods_url="https://merchant.example/shop",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(responder)) as http:
        waffo = WaffoClient.from_settings(settings, http_client=http)
        responder.answer({"paymentRequestId": "pay_req_1", "orderStatus": "AUTHORIZATION_REQUIRED"})
        outcome = await waffo.create_payment(create_payment())
        await waffo.aclose()
        assert not http.is_closed  # an injected client belongs to the caller
    assert outcome.status is PaymentStatus.PENDING
    assert responder.last_json()["notifyUrl"] == "https://merchant.example/n"


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"private_key": None}, "BILLING_WAFFO_PRIVATE_KEY"),
        ({"private_key": SecretStr("garbage")}, "BILLING_WAFFO_PRIVATE_KEY"),
        ({"public_key": "garbage"}, "BILLING_WAFFO_PUBLIC_KEY"),
        ({"api_key": None}, "BILLING_WAFFO_API_KEY"),
        ({"merchant_id": None}, "BILLING_WAFFO_MERCHANT_ID"),
        ({"goods_url": None}, "BILLING_WAFFO_GOODS_URL"),
    ],
)
def test_unusable_settings_fail_at_construction(
    merchant_keys: KeyPair, waffo_keys: KeyPair, change: dict[str, object], setting: str
) -> None:
    values: dict[str, object] = {
        "api_key": SecretStr("k"),
        "merchant_id": "M-1",
        "private_key": SecretStr(merchant_keys.private_b64),
        "public_key": waffo_keys.public_b64,
        "goods_url": "https://merchant.example/shop",
    }
    values.update(change)
    with pytest.raises(ConfigurationError) as caught:
        WaffoClient.from_settings(WaffoSettings(**values))  # type: ignore[arg-type]
    assert caught.value.setting == setting


# -- the request on the wire --------------------------------------------------------------------


async def test_create_sends_the_signed_bytes_and_reads_the_action(
    client: WaffoClient, responder: WaffoResponder, merchant_keys: KeyPair
) -> None:
    responder.answer(
        {
            "paymentRequestId": "pay_req_1",
            "merchantOrderId": "ORD-1",
            "acquiringOrderId": "A20260228100558000001",
            "orderStatus": "AUTHORIZATION_REQUIRED",
            "orderAction": '{"actionType":"WEB","webUrl":"https://checkout.waffo.test/c/1"}',
        }
    )
    outcome = await client.create_payment(create_payment())

    request = responder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/order/create"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-API-KEY"] == "test-api-key"
    assert request.headers["X-API-VERSION"] == "1.0.0"
    assert responder.signatures_valid == [True]
    assert verify_bytes(request.content, request.headers["X-SIGNATURE"], merchant_keys.public_key)
    body = request.content
    assert b" " not in body.replace(b"Caf\xc3\xa9 subscription box", b"")  # compact JSON
    assert "Café".encode() in body  # UTF-8, not \u escapes
    sent = json.loads(body)
    assert sent["paymentRequestId"] == "pay_req_1"
    assert sent["orderAmount"] == "10.50"
    assert sent["orderCurrency"] == "USD"
    assert sent["orderRequestedAt"] == "2026-02-28T10:05:58.250Z"
    assert sent["merchantInfo"] == {"merchantId": "M-1"}
    assert sent["notifyUrl"] == "https://merchant.example/waffo/notify"
    assert sent["userInfo"]["userTerminal"] == "WEB"
    assert sent["paymentInfo"] == {"productName": "ONE_TIME_PAYMENT"}

    assert outcome.status is PaymentStatus.PENDING
    assert outcome.provider_reference == "A20260228100558000001"
    assert outcome.merchant_reference == "ORD-1"
    assert outcome.amount == USD_10_50
    assert outcome.customer_action is not None
    assert outcome.customer_action.kind is CustomerActionKind.REDIRECT
    assert outcome.customer_action.url == "https://checkout.waffo.test/c/1"


async def test_manual_capture_and_request_notify_url(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer({"orderStatus": "AUTHORIZATION_REQUIRED"})
    request = create_payment().model_copy(
        update={"capture_mode": CaptureMode.MANUAL, "notify_url": "https://other.example/n"}
    )
    await client.create_payment(request)
    sent = responder.last_json()
    assert sent["paymentInfo"]["captureMode"] == "manualCapture"
    assert sent["notifyUrl"] == "https://other.example/n"


async def test_request_ids_over_32_characters_are_refused_before_sending(
    client: WaffoClient, responder: WaffoResponder
) -> None:
    too_long = create_payment().model_construct(**dict(create_payment(), idempotency_key="x" * 33))
    with pytest.raises(InputError) as caught:
        await client.create_payment(too_long)
    assert caught.value.field == "idempotency_key"

    refund = CreateRefund(
        idempotency_key="ref_req_1",
        payment=PaymentRef(idempotency_key="pay_req_1", provider_reference="A" * 40),
        amount=USD_10_50,
        requested_at=NOW,
    )
    with pytest.raises(InputError) as caught:
        await client.refund(refund)
    assert caught.value.field == "payment.provider_reference"
    assert responder.requests == []


# -- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "category", "hard"),
    [
        ("A0003", 400, FailureCategory.MERCHANT, True),
        ("B0001", 400, FailureCategory.CUSTOMER, False),
        ("C0005", 500, FailureCategory.PROVIDER, False),
        ("C0001", 500, FailureCategory.PROVIDER, False),
        ("D0001", 406, FailureCategory.RISK, True),
    ],
)
async def test_definite_refusals_are_values(
    client: WaffoClient,
    responder: WaffoResponder,
    code: str,
    status: int,
    category: FailureCategory,
    hard: bool,
) -> None:
    responder.answer(code=code, msg="refused", status=status)
    outcome = await client.create_payment(create_payment())
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.idempotency_key == "pay_req_1"
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.category, outcome.failure.hard) == (code, category, hard)


async def test_e0001_is_an_unknown_outcome(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="E0001", msg="Unknown status", status=500)
    with pytest.raises(ProviderServerError) as caught:
        await client.create_payment(create_payment())
    assert isinstance(caught.value, OutcomeUnknownError)
    assert (caught.value.code, caught.value.status_code) == ("E0001", 500)
    assert caught.value.operation == "order/create"


async def test_undocumented_code_class_is_an_unknown_outcome(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="X1234", msg="?")
    with pytest.raises(ProviderServerError):
        await client.create_payment(create_payment())


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=b"<html>502 Bad Gateway</html>", status=502, sign=False),
        Reply(raw=b"<html>503</html>", status=503, signature="AAAA"),
        Reply(document={"code": "A0003", "msg": "x"}, status=500, signature="bm90IGEgc2lnbmF0dXJl"),
    ],
)
async def test_5xx_without_a_verifiable_body_is_a_server_error(
    client: WaffoClient, responder: WaffoResponder, reply: Reply
) -> None:
    responder.queue(reply)
    with pytest.raises(ProviderServerError) as caught:
        await client.refund(
            CreateRefund(
                idempotency_key="ref_req_1",
                payment=PaymentRef(idempotency_key="pay_req_1", provider_reference="A1"),
                amount=USD_10_50,
                requested_at=NOW,
            )
        )
    assert caught.value.status_code == reply.status


async def test_signed_5xx_that_is_not_an_envelope_is_a_server_error(
    client: WaffoClient, responder: WaffoResponder
) -> None:
    responder.queue(Reply(raw=b"internal error", status=500))
    with pytest.raises(ProviderServerError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))


async def test_timeout_is_an_unknown_outcome(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.queue(Reply(error=httpx.ReadTimeout("read timed out")))
    with pytest.raises(ProviderTimeoutError) as caught:
        await client.create_payment(create_payment())
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_connect_error_is_an_unknown_outcome(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.queue(Reply(error=httpx.ConnectError("refused")))
    with pytest.raises(ProviderConnectionError):
        await client.cancel_payment(CancelPayment(payment=PaymentRef(idempotency_key="p1"), requested_at=NOW))


@pytest.mark.parametrize(
    "reply",
    [
        Reply(document={"code": "0", "data": {"orderStatus": "PAY_SUCCESS"}}, sign=False),
        Reply(document={"code": "0", "data": {"orderStatus": "PAY_SUCCESS"}}, signature="AAAA"),
        Reply(document={"code": "A0003", "msg": "x"}, status=400, sign=False),
    ],
)
async def test_missing_or_bad_response_signature_is_never_trusted(
    client: WaffoClient, responder: WaffoResponder, reply: Reply
) -> None:
    responder.queue(reply)
    with pytest.raises(ResponseVerificationError):
        await client.create_payment(create_payment())


async def test_response_tampered_after_signing_is_rejected(
    client: WaffoClient, responder: WaffoResponder, waffo_keys: KeyPair
) -> None:
    from providers.waffo.signing import sign_bytes

    signed_body = b'{"code":"0","data":{"orderStatus":"ORDER_CLOSE"}}'
    responder.queue(
        Reply(
            raw=b'{"code":"0","data":{"orderStatus":"PAY_SUCCESS"}}',
            signature=sign_bytes(signed_body, waffo_keys.private_key),
        )
    )
    with pytest.raises(ResponseVerificationError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))


async def test_unsigned_responses_are_read_only_when_allowed(
    merchant_keys: KeyPair, waffo_keys: KeyPair, responder: WaffoResponder
) -> None:
    lenient = WaffoClient(
        base_url=BASE_URL,
        api_key="k",
        merchant_id="M-1",
        merchant_private_key=merchant_keys.private_b64,
        waffo_public_key=waffo_keys.public_b64,
        require_response_signature=False,
        app_name="com.merchant.shop",
        transport=httpx.MockTransport(responder),
    )
    responder.queue(Reply(document={"code": "0", "data": {"orderStatus": "PAY_SUCCESS"}}, sign=False))
    outcome = await lenient.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))
    assert outcome.status is PaymentStatus.SUCCEEDED
    responder.queue(Reply(document={"code": "0", "data": {}}, signature="AAAA"))
    with pytest.raises(ResponseVerificationError):
        await lenient.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))
    await lenient.aclose()


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"code":"0","data":{"orderStatus":["x"]}}'])
async def test_unreadable_verified_body_is_a_verification_error(
    client: WaffoClient, responder: WaffoResponder, raw: bytes
) -> None:
    responder.queue(Reply(raw=raw))
    with pytest.raises(ResponseVerificationError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))


async def test_reused_request_id_is_a_conflict(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="A0011", msg="Idempotency parameter mismatch", status=400)
    with pytest.raises(ConflictError) as caught:
        await client.create_payment(create_payment())
    assert caught.value.field == "idempotency_key"


# -- payments -----------------------------------------------------------------------------------


async def test_inquiry_reads_the_full_order(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(
        {
            "paymentRequestId": "pay_req_1",
            "acquiringOrderId": "A1",
            "orderStatus": "PAY_SUCCESS",
            "orderAmount": "10.50",
            "orderCurrency": "USD",
            "finalDealAmount": "150000.00",
            "userCurrency": "IDR",
            "orderCompletedAt": "2026-02-28T10:06:10.000Z",
            "orderFailedReason": None,
            "paymentInfo": None,
            "subscriptionInfo": {"subscriptionId": "SC1", "period": "2"},
        }
    )
    outcome = await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))
    assert responder.last_json() == {"paymentRequestId": "pay_req_1"}
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.amount == USD_10_50
    assert outcome.paid_amount == Money(amount_minor=15000000, currency="IDR")
    assert outcome.completed_at == datetime(2026, 2, 28, 10, 6, 10, tzinfo=UTC)
    assert (outcome.subscription_reference, outcome.subscription_period) == ("SC1", 2)


async def test_inquiry_of_an_unknown_order_is_not_found(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="A0009", msg="Order does not exist", status=400)
    with pytest.raises(NotFoundError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_req_1"))


async def test_cancel(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer({"paymentRequestId": "pay_req_1", "acquiringOrderId": "A1", "orderStatus": "ORDER_CLOSE"})
    outcome = await client.cancel_payment(
        CancelPayment(payment=PaymentRef(idempotency_key="pay_req_1"), requested_at=NOW)
    )
    assert responder.last_json() == {
        "merchantId": "M-1",
        "orderRequestedAt": "2026-02-28T10:05:58.250Z",
        "paymentRequestId": "pay_req_1",
    }
    assert outcome.status is PaymentStatus.CLOSED


async def test_cancel_of_a_paid_order_says_it_is_paid(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="A0013", msg="Payment has succeeded", status=400)
    outcome = await client.cancel_payment(
        CancelPayment(payment=PaymentRef(idempotency_key="pay_req_1", provider_reference="A1"), requested_at=NOW)
    )
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.provider_reference == "A1"
    assert outcome.failure is not None
    assert outcome.failure.code == "A0013"


async def test_cancel_refused_by_the_channel_states_nothing_final(
    client: WaffoClient, responder: WaffoResponder
) -> None:
    responder.answer(code="A0015", msg="channel cannot cancel", status=400)
    outcome = await client.cancel_payment(
        CancelPayment(payment=PaymentRef(idempotency_key="pay_req_1"), requested_at=NOW)
    )
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.failure is not None


async def test_capture(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer({"paymentRequestId": "pay_req_1", "orderStatus": "CAPTURE_IN_PROGRESS"})
    request = CapturePayment(
        idempotency_key="cap_req_1",
        payment=PaymentRef(idempotency_key="pay_req_1", provider_reference="A1"),
        amount=USD_10_50,
        requested_at=NOW,
    )
    outcome = await client.capture_payment(request)
    sent = responder.last_json()
    assert sent["captureRequestedAt"] == "2026-02-28T10:05:58.250Z"
    assert sent["captureAmount"] == "10.50"
    assert sent["merchantId"] == "M-1"
    assert outcome.status is PaymentStatus.PENDING

    responder.answer(code="A0003", msg="bad", status=400)
    refused = await client.capture_payment(request)
    assert refused.status is PaymentStatus.PENDING
    assert refused.failure is not None


# -- refunds ------------------------------------------------------------------------------------


def refund_request(notify_url: str | None = None) -> CreateRefund:
    return CreateRefund(
        idempotency_key="ref_req_1",
        payment=PaymentRef(idempotency_key="pay_req_1", provider_reference="A1"),
        amount=Money(amount_minor=1250, currency="KWD"),
        reason="damaged",
        notify_url=notify_url,
        requested_at=NOW,
    )


async def test_refund(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(
        {
            "refundRequestId": "ref_req_1",
            "acquiringOrderId": "A1",
            "acquiringRefundOrderId": "R1",
            "refundAmount": "1.250",
            "refundStatus": "ORDER_PARTIALLY_REFUNDED",
            "remainingRefundAmount": "3.750",
        }
    )
    outcome = await client.refund(refund_request())
    sent = responder.last_json()
    assert sent["refundAmount"] == "1.250"
    assert sent["acquiringOrderId"] == "A1"
    assert sent["requestedAt"] == "2026-02-28T10:05:58.250Z"
    assert sent["refundNotifyUrl"] == "https://merchant.example/waffo/refund"
    assert "notifyUrl" not in sent
    assert outcome.status is RefundStatus.SUCCEEDED
    assert outcome.remaining_refundable == Money(amount_minor=3750, currency="KWD")
    assert outcome.provider_reference == "R1"


async def test_refund_notify_url_from_the_request(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer({"refundStatus": "REFUND_IN_PROGRESS"})
    outcome = await client.refund(refund_request("https://other.example/r"))
    assert responder.last_json()["refundNotifyUrl"] == "https://other.example/r"
    assert outcome.status is RefundStatus.PENDING


async def test_refund_not_allowed_is_a_failed_refund(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="A0014", msg="Refund not allowed", status=400)
    outcome = await client.refund(refund_request())
    assert outcome.status is RefundStatus.FAILED
    assert outcome.failure is not None
    assert outcome.failure.code == "A0014"


async def test_refund_inquiry(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer({"refundRequestId": "ref_req_1", "refundStatus": "ORDER_FULLY_REFUNDED"})
    outcome = await client.inquire_refund(RefundRef(idempotency_key="ref_req_1"))
    assert responder.last_json() == {"refundRequestId": "ref_req_1"}
    assert outcome.status is RefundStatus.SUCCEEDED


# -- subscriptions ------------------------------------------------------------------------------


async def test_subscription_create(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(
        {
            "subscriptionRequest": "sub_req_1",
            "subscriptionId": "SC1",
            "subscriptionStatus": "AUTHORIZATION_REQUIRED",
            "subscriptionAction": "https://checkout.waffo.test/s/1",
        }
    )
    outcome = await client.create_subscription(
        CreateSubscription(
            idempotency_key="sub_req_1",
            merchant_subscription_id="MS-1",
            plan=PLAN,
            customer=CUSTOMER,
            requested_at=NOW,
        )
    )
    sent = responder.last_json()
    assert sent["amount"] == "99.00"
    assert sent["currency"] == "USD"
    assert sent["productInfo"]["periodType"] == "MONTHLY"
    assert sent["productInfo"]["periodInterval"] == "12"
    assert sent["paymentInfo"]["productName"] == "SUBSCRIPTION"
    assert sent["paymentInfo"]["payMethodType"]
    assert sent["requestedAt"] == "2026-02-28T10:05:58.250Z"
    assert outcome.status is SubscriptionStatus.PENDING
    assert outcome.provider_reference == "SC1"
    assert outcome.customer_action is not None
    assert outcome.customer_action.url == "https://checkout.waffo.test/s/1"


async def test_subscription_create_with_a_trial(client: WaffoClient, responder: WaffoResponder) -> None:
    """Provider-managed trials are Waffo's own: trial periods on the plan's calendar, at the trial price."""
    responder.answer({"subscriptionRequest": "sub_req_1", "subscriptionId": "SC1", "subscriptionStatus": "ACTIVE"})
    trial = PLAN.model_copy(update={"trial_periods": 1, "trial_amount": Money.parse("1.00", "USD")})
    await client.create_subscription(
        CreateSubscription(
            idempotency_key="sub_req_1",
            merchant_subscription_id="MS-1",
            plan=trial,
            customer=CUSTOMER,
            requested_at=NOW,
        )
    )
    product = responder.last_json()["productInfo"]
    assert product["numberOfTrialPeriod"] == "1"
    assert (product["trialPeriodType"], product["trialPeriodInterval"]) == ("MONTHLY", "12")
    assert product["trialPeriodAmount"] == "1.00"
    assert responder.last_json()["amount"] == "99.00"


async def test_subscription_create_refused(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="C0005", msg="channel rejection", status=500)
    outcome = await client.create_subscription(
        CreateSubscription(
            idempotency_key="sub_req_1",
            merchant_subscription_id="MS-1",
            plan=PLAN,
            customer=CUSTOMER,
            requested_at=NOW,
        )
    )
    assert outcome.status is SubscriptionStatus.CLOSED
    assert outcome.failure is not None


async def test_subscription_inquiry_cancel_and_manage(client: WaffoClient, responder: WaffoResponder) -> None:
    ref = SubscriptionRef(idempotency_key="sub_req_1", provider_reference="SC1")
    responder.answer(
        {
            "subscriptionRequest": "sub_req_1",
            "subscriptionId": "SC1",
            "subscriptionStatus": "ACTIVE",
            "currency": "USD",
            "amount": "99.00",
            "productInfo": {"currentPeriod": "1", "nextPaymentDateTime": "2027-02-28T10:06:10.000Z"},
            "paymentDetails": None,
        }
    )
    active = await client.inquire_subscription(ref)
    assert responder.last_json() == {"subscriptionRequest": "sub_req_1", "paymentDetails": 1}
    assert active.status is SubscriptionStatus.ACTIVE
    assert active.next_payment_at == datetime(2027, 2, 28, 10, 6, 10, tzinfo=UTC)

    responder.answer({"subscriptionId": "SC1", "orderStatus": "MERCHANT_CANCELLED"})
    cancelled = await client.cancel_subscription(CancelSubscription(subscription=ref, requested_at=NOW))
    assert responder.last_json() == {
        "subscriptionId": "SC1",
        "merchantId": "M-1",
        "requestedAt": "2026-02-28T10:05:58.250Z",
    }
    assert (cancelled.status, cancelled.cancelled_by) == (SubscriptionStatus.CANCELLED, CancelledBy.MERCHANT)

    responder.answer({"managementUrl": "https://manage.waffo.test/1", "expiredAt": "2026-03-01T10:00:00.000Z"})
    link = await client.manage_subscription(ManageSubscription(subscription=ref))
    assert link.url == "https://manage.waffo.test/1"

    responder.answer(code="A0010", msg="not allowed", status=400)
    with pytest.raises(InvalidStateError):
        await client.manage_subscription(ManageSubscription(subscription=ref))


async def test_subscription_cancel_needs_the_waffo_id(client: WaffoClient, responder: WaffoResponder) -> None:
    with pytest.raises(InputError) as caught:
        await client.cancel_subscription(
            CancelSubscription(subscription=SubscriptionRef(idempotency_key="sub_req_1"), requested_at=NOW)
        )
    assert caught.value.field == "subscription.provider_reference"
    assert responder.requests == []


async def test_subscription_change_and_inquiry(client: WaffoClient, responder: WaffoResponder) -> None:
    original = SubscriptionRef(idempotency_key="sub_req_1", provider_reference="SC1")
    responder.answer(
        {
            "subscriptionRequest": "sub_req_2",
            "originSubscriptionRequest": "sub_req_1",
            "subscriptionId": "SC2",
            "subscriptionChangeStatus": "AUTHORIZATION_REQUIRED",
            "subscriptionAction": '{"webUrl":"https://checkout.waffo.test/change/2"}',
        }
    )
    change = await client.change_subscription(
        ChangeSubscription(
            idempotency_key="sub_req_2",
            original=original,
            new_plan=PLAN,
            remaining_credit=Money(amount_minor=5000, currency="USD"),
            customer=CUSTOMER,
            requested_at=NOW,
        )
    )
    sent = responder.last_json()
    assert sent["remainingAmount"] == "50.00"
    assert sent["originSubscriptionRequest"] == "sub_req_1"
    assert sent["productInfoList"][0]["amount"] == "99.00"
    assert change.status is ChangeStatus.PENDING
    assert change.provider_reference == "SC2"
    assert change.customer_action is not None

    responder.answer({"subscriptionRequest": "sub_req_2", "subscriptionChangeStatus": "SUCCESS"})
    done = await client.inquire_subscription_change(
        InquireSubscriptionChange(idempotency_key="sub_req_2", original=original)
    )
    assert responder.last_json() == {
        "subscriptionRequest": "sub_req_2",
        "originSubscriptionRequest": "sub_req_1",
    }
    assert done.status is ChangeStatus.SUCCEEDED


async def test_subscription_change_refused(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(code="A0003", msg="bad", status=400)
    outcome = await client.change_subscription(
        ChangeSubscription(
            idempotency_key="sub_req_2",
            original=SubscriptionRef(idempotency_key="sub_req_1"),
            new_plan=PLAN,
            remaining_credit=Money(amount_minor=0, currency="USD"),
            customer=CUSTOMER,
            requested_at=NOW,
        )
    )
    assert outcome.status is ChangeStatus.CLOSED
    assert outcome.original_idempotency_key == "sub_req_1"
    assert outcome.failure is not None


# -- configuration ------------------------------------------------------------------------------


async def test_merchant_config(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(
        {
            "merchantId": "M-1",
            "totalDailyLimit": '{"PHP":"100000","IDR":"2000000"}',
            "remainingDailyLimit": None,
            "transactionLimit": {"USD": "500.00"},
        }
    )
    config = await client.inquire_merchant_config()
    assert responder.last_json() == {"merchantId": "M-1"}
    assert config.total_daily_limit["PHP"] == Money(amount_minor=10000000, currency="PHP")
    assert config.remaining_daily_limit == {}
    assert config.transaction_limit == {"USD": Money(amount_minor=50000, currency="USD")}


async def test_pay_method_config(client: WaffoClient, responder: WaffoResponder) -> None:
    responder.answer(
        {
            "merchantId": "M-1",
            "payMethodDetails": [
                {
                    "productName": "ONE_TIME_PAYMENT",
                    "payMethodName": "GCash",
                    "country": "PHL",
                    "currentStatus": "1",
                    "fixedMaintenanceRules": [{"startRule": "0 30 1 * * ?", "endRule": "0 30 2 * * ?"}],
                    "fixedMaintenanceTimezone": "UTC+08:00",
                },
                {"payMethodName": "DANA", "currentStatus": "0", "fixedMaintenanceRules": None},
            ],
        }
    )
    config = await client.inquire_pay_method_config()
    gcash, dana = config.pay_methods
    assert gcash.available and not dana.available
    assert gcash.maintenance_windows[0].start_rule == "0 30 1 * * ?"

    responder.answer(code="A0004", msg="Permission denied", status=401)
    refused = await client.inquire_pay_method_config()
    assert refused.failure is not None
    assert refused.pay_methods == ()


async def test_pay_method_config_reads_type_currency_range_and_refundability(
    client: WaffoClient, responder: WaffoResponder
) -> None:
    responder.answer(
        {
            "merchantId": "M-1",
            "payMethodDetails": [
                {
                    "productName": "ONE_TIME_PAYMENT",
                    "payMethodName": "CC_VISA",
                    "payMethodType": "CREDITCARD",
                    "country": "HKG",
                    "currency": "USD",
                    "orderAmountMin": "1.00",
                    "orderAmountMax": "500.00",
                    "refundAllowed": 1,
                    "currentStatus": "1",
                }
            ],
        }
    )
    (visa,) = (await client.inquire_pay_method_config()).pay_methods
    assert (visa.pay_method_type, visa.currency, visa.refund_allowed) == ("CREDITCARD", "USD", True)
    assert (visa.min_amount, visa.max_amount) == (Money.parse("1.00", "USD"), Money.parse("500.00", "USD"))
    assert visa.accepts(Money.parse("10.00", "USD"))
    assert not visa.accepts(Money.parse("0.99", "USD"))
    assert not visa.accepts(Money.parse("500.01", "USD"))
    assert not visa.accepts(Money.parse("10.00", "EUR"))


async def test_update_subscription_sends_amounts_and_a_keyed_top_up(
    client: WaffoClient, responder: WaffoResponder
) -> None:
    responder.answer(
        {
            "subscriptionId": "SC1",
            "subscriptionRequest": "sub_req_1",
            "previousAmount": "20.00",
            "newAmount": "25.00",
            "nextEffectivePeriod": "3",
            "topupInfo": {
                "acquiringOrderId": "A1",
                "topupRequest": "top_1",
                "topupAmount": "4.00",
                "topupStatus": "PAY_SUCCESS",
            },
        }
    )
    outcome = await client.update_subscription(
        UpdateSubscription(
            subscription=SubscriptionRef(idempotency_key="sub_req_1", provider_reference="SC1"),
            currency="USD",
            amount=Money.parse("25.00", "USD"),
            scheduled_amounts={3: Money.parse("15.00", "USD")},
            top_up=TopUp(idempotency_key="top_1", amount=Money.parse("4.00", "USD"), description="seats"),
        )
    )
    assert responder.requests[-1].url.path.endswith("/subscription/update")
    assert responder.last_json() == {
        "subscriptionRequest": "sub_req_1",
        "subscriptionId": "SC1",
        "amount": "25.00",
        "productInfo": {"scheduledAmounts": [{"period": "3", "amount": "15.00"}]},
        "topupInfo": {"topupRequest": "top_1", "topupAmount": "4.00", "description": "seats"},
    }
    assert (outcome.new_amount, outcome.next_effective_period) == (Money.parse("25.00", "USD"), 3)
    assert outcome.top_up is not None
    assert (outcome.top_up.provider_reference, outcome.top_up.status) == ("A1", PaymentStatus.SUCCEEDED)

    responder.answer(code="A0010", msg="Merchant contract does not allow this operation")
    refused = await client.update_subscription(
        UpdateSubscription(subscription=SubscriptionRef(idempotency_key="sub_req_1"), currency="USD")
    )
    assert refused.failure is not None and refused.failure.code == "A0010"
