"""WaafiPayClient flows against an in-test responder (httpx.MockTransport)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billing.errors import (
    AnswerMismatchError,
    ConfigurationError,
    InputError,
    InvalidAmountError,
    InvalidStateError,
    NotFoundError,
    OutcomeUnknownError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    ResponseVerificationError,
    UnsupportedOperationError,
)
from billing.money import Money
from providers.base import (
    BillingInterval,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    CustomerActionKind,
    FailureCategory,
    ManageSubscription,
    PaymentProvider,
    PaymentRef,
    PaymentStatus,
    RefundRef,
    RefundStatus,
    SubscriptionPlan,
    SubscriptionRef,
)
from providers.waafipay import WaafiPayClient, WaafiPaySettings, endpoint_url
from providers.waafipay import transform as waafipay_transform
from tests.providers.waafipay_support import (
    ABSENT,
    API_KEY,
    API_USER_ID,
    ENDPOINT,
    HPP_KEY,
    MERCHANT_UID,
    SANDBOX,
    STORE_ID,
    Reply,
    WaafiPayResponder,
)

NOW = datetime(2026, 2, 28, 10, 5, 58, 250000, tzinfo=UTC)
USD_10 = Money(amount_minor=1000, currency="USD")
PAYER = Customer(customer_id="cust-1", phone="+252 61 111 1111")
ISSUER = "RCS_TRAN_FAILED_AT_ISSUER_SYSTEM ({}, TransactionId: 25446479)"


@pytest.fixture
def responder() -> WaafiPayResponder:
    return WaafiPayResponder()


def make_client(responder: WaafiPayResponder, *, api: bool = True, hpp: bool = True, **options: Any) -> WaafiPayClient:
    credentials: dict[str, Any] = {}
    if api:
        credentials.update(api_user_id=API_USER_ID, api_key=API_KEY)
    if hpp:
        credentials.update(store_id=STORE_ID, hpp_key=HPP_KEY)
    return WaafiPayClient(
        base_url=SANDBOX,
        merchant_uid=MERCHANT_UID,
        hpp_success_url="https://shop.example/hpp/ok",
        hpp_failure_url="https://shop.example/hpp/fail",
        transport=httpx.MockTransport(responder),
        **credentials,
        **options,
    )


@pytest.fixture
async def client(responder: WaafiPayResponder) -> AsyncIterator[WaafiPayClient]:
    waafipay = make_client(responder)
    yield waafipay
    await waafipay.aclose()


@pytest.fixture
async def api_only(responder: WaafiPayResponder) -> AsyncIterator[WaafiPayClient]:
    waafipay = make_client(responder, hpp=False)
    yield waafipay
    await waafipay.aclose()


def create_payment(
    key: str = "pay_1",
    *,
    amount: Money = USD_10,
    capture_mode: CaptureMode = CaptureMode.AUTOMATIC,
    payment_method: str | None = None,
    customer: Customer = PAYER,
    merchant_order_id: str = "ORD-1",
    **fields: Any,
) -> CreatePayment:
    return CreatePayment(
        idempotency_key=key,
        merchant_order_id=merchant_order_id,
        amount=amount,
        description="Monthly box",
        customer=customer,
        capture_mode=capture_mode,
        payment_method=payment_method,
        requested_at=NOW,
        **fields,
    )


def approved_push(transaction_id: str = "1111", reference_id: str = "pay_1", amount: str = "10.0") -> dict[str, str]:
    return {
        "accountNo": "252611****1111",
        "accountType": "MWALLET_ACCOUNT",
        "state": "APPROVED",
        "merchantCharges": "0.0",
        "referenceId": reference_id,
        "transactionId": transaction_id,
        "issuerTransactionId": "ISS-1",
        "txAmount": amount,
    }


def action(state: str = "approved", transaction_id: str = "2222", reference_id: str = "pay_1") -> dict[str, str]:
    return {"description": "success", "state": state, "transactionId": transaction_id, "referenceId": reference_id}


def refund_request(
    key: str, amount: Money, *, reference: str | None = "purchase:1111", payment_key: str = "pay_1"
) -> CreateRefund:
    return CreateRefund(
        idempotency_key=key,
        payment=PaymentRef(idempotency_key=payment_key, provider_reference=reference),
        amount=amount,
        reason="Damaged item",
        requested_at=NOW,
    )


# -- construction -------------------------------------------------------------------------------


def test_is_a_payment_provider(client: WaafiPayClient) -> None:
    provider: PaymentProvider = client
    assert isinstance(provider, PaymentProvider)
    assert client.name == "waafipay"
    capabilities = client.capabilities
    assert not capabilities.webhooks
    assert not capabilities.native_subscriptions
    assert capabilities.payment_inquiry
    assert not capabilities.refund_inquiry
    assert capabilities.partial_refund and capabilities.multiple_refunds
    assert capabilities.manual_capture and not capabilities.partial_capture
    assert capabilities.cancel_payment
    assert API_KEY not in repr(client) and HPP_KEY not in repr(client)


async def test_payment_inquiry_needs_hpp_credentials(api_only: WaafiPayClient, responder: WaafiPayResponder) -> None:
    assert not api_only.capabilities.payment_inquiry
    with pytest.raises(UnsupportedOperationError, match="HPP_GETTRANINFO needs the HPP credentials"):
        await api_only.inquire_payment(PaymentRef(idempotency_key="pay_1"))
    assert responder.requests == []


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://sandbox.waafipay.net", "https://sandbox.waafipay.net/asm"),
        ("https://api.waafipay.com/", "https://api.waafipay.com/asm"),
        ("http://127.0.0.1:8071/asm", "http://127.0.0.1:8071/asm"),
    ],
)
def test_endpoint_is_the_host_plus_asm(url: str, endpoint: str) -> None:
    assert endpoint_url(url) == endpoint


async def test_from_settings_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, responder: WaafiPayResponder
) -> None:
    monkeypatch.setenv("BILLING_WAAFIPAY_ENVIRONMENT", "production")
    monkeypatch.setenv("BILLING_WAAFIPAY_MERCHANT_UID", MERCHANT_UID)
    monkeypatch.setenv("BILLING_WAAFIPAY_API_USER_ID", API_USER_ID)
    monkeypatch.setenv("BILLING_WAAFIPAY_API_KEY", API_KEY)
    monkeypatch.setenv("BILLING_WAAFIPAY_PUSH_TIMEOUT", "90")
    settings = WaafiPaySettings()
    assert settings.resolved_base_url() == "https://api.waafipay.net"
    assert isinstance(settings.api_key, SecretStr) and API_KEY not in repr(settings)
    assert settings.api_configured() and not settings.hpp_configured()
    async with httpx.AsyncClient(transport=httpx.MockTransport(responder)) as http:
        waafipay = WaafiPayClient.from_settings(settings, http_client=http)
        responder.answer(approved_push())
        outcome = await waafipay.create_payment(create_payment())
        await waafipay.aclose()
        assert not http.is_closed  # an injected client belongs to the caller
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert str(responder.requests[0].url) == "https://api.waafipay.net/asm"
    assert responder.requests[0].extensions["timeout"]["read"] == 90


def test_base_url_overrides_the_environment() -> None:
    settings = WaafiPaySettings(base_url="http://127.0.0.1:8071", environment="production")
    assert settings.resolved_base_url() == "http://127.0.0.1:8071"
    assert WaafiPaySettings().resolved_base_url() == "https://sandbox.waafipay.net"


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"merchant_uid": None}, "BILLING_WAAFIPAY_MERCHANT_UID"),
        ({"api_key": None}, "BILLING_WAAFIPAY_API_KEY"),
        ({"api_user_id": None}, "BILLING_WAAFIPAY_API_USER_ID"),
        ({"hpp_key": None}, "BILLING_WAAFIPAY_HPP_KEY"),
        ({"store_id": None}, "BILLING_WAAFIPAY_STORE_ID"),
        ({"api_key": None, "api_user_id": None, "hpp_key": None, "store_id": None}, "BILLING_WAAFIPAY_API_KEY"),
        ({"base_url": "sandbox.waafipay.net"}, "BILLING_WAAFIPAY_BASE_URL"),
    ],
)
def test_unusable_settings_fail_at_construction(change: dict[str, Any], setting: str) -> None:
    values: dict[str, Any] = {
        "merchant_uid": MERCHANT_UID,
        "api_user_id": API_USER_ID,
        "api_key": SecretStr(API_KEY),
        "store_id": STORE_ID,
        "hpp_key": SecretStr(HPP_KEY),
    }
    values.update(change)
    with pytest.raises(ConfigurationError) as caught:
        WaafiPayClient.from_settings(WaafiPaySettings(**values))
    assert caught.value.setting == setting


# -- wallet push --------------------------------------------------------------------------------


async def test_approved_push_on_the_wire(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(approved_push())
    outcome = await client.create_payment(create_payment())

    request = responder.requests[0]
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 120  # the push waits for the payer's PIN
    sent = responder.sent()
    assert sent["schemaVersion"] == "1.0"
    assert sent["channelName"] == "WEB"
    assert sent["serviceName"] == "API_PURCHASE"
    assert sent["timestamp"] == "2026-02-28 10:05:58.250"
    assert str(uuid.UUID(sent["requestId"])) == sent["requestId"]
    assert sent["serviceParams"] == {
        "merchantUid": MERCHANT_UID,
        "apiUserId": 1000416,
        "apiKey": API_KEY,
        "paymentMethod": "MWALLET_ACCOUNT",
        "payerInfo": {"accountNo": "252611111111"},
        "transactionInfo": {
            "referenceId": "pay_1",
            "invoiceId": "ORD-1",
            "amount": Decimal("10.00"),  # a JSON number, as seed 001 types it
            "currency": "USD",
            "description": "Monthly box",
        },
    }
    assert b'"amount":10.00,' in request.content, "number text, never a float"

    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.idempotency_key == "pay_1"
    assert outcome.provider_reference == "purchase:1111"
    assert outcome.merchant_reference == "ORD-1"
    assert outcome.provider_status == "APPROVED"
    assert outcome.amount == USD_10
    assert outcome.failure is None
    assert outcome.completed_at == datetime(2024, 11, 5, 9, 4, 44, 741000, tzinfo=UTC)


async def test_a_replayed_push_sends_the_same_request_id(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(approved_push())
    responder.answer(approved_push())
    await client.create_payment(create_payment())
    await client.create_payment(create_payment())
    assert responder.sent(0)["requestId"] == responder.sent(1)["requestId"]


@pytest.mark.parametrize("params", [{}, [], ABSENT, None])
@pytest.mark.parametrize(
    ("text", "category", "hard"),
    [
        ("STATE: rejected, ERRCODE: 4004 - User Aborted", FailureCategory.CUSTOMER, False),
        ("Haraaga xisaabtaadu kuguma filna", FailureCategory.CUSTOMER, False),
        ("Invalid PIN code", FailureCategory.CUSTOMER, False),
        ("Dialog Timedout", FailureCategory.CUSTOMER, False),
        ("Receiver Subscriber not found", FailureCategory.CUSTOMER, True),
        ("error occurred, please try again later", FailureCategory.PROVIDER, False),
    ],
)
async def test_issuer_declines_are_values(
    client: WaafiPayClient,
    responder: WaafiPayResponder,
    text: str,
    category: FailureCategory,
    hard: bool,
    params: object,
) -> None:
    message = ISSUER.format(text)
    responder.refuse(message, params=params)
    outcome = await client.create_payment(create_payment())
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.idempotency_key == "pay_1"
    assert outcome.amount == USD_10
    assert outcome.provider_reference is None
    assert outcome.failure is not None
    assert outcome.failure.code == "5206/E10205"
    assert outcome.failure.message == message
    assert (outcome.failure.category, outcome.failure.hard) == (category, hard)


@pytest.mark.parametrize(
    ("code", "error", "msg", "hard"),
    [
        ("5310", "E10310", "RCS_USER_REJECTED", False),
        ("5010", "E10101", "RCS_NO_ROUTE_FOUND", True),
        ("5001", "E10001", "RCS_USER_IS_NOT_AUTHZ_TO_ACCESS_API", True),
    ],
)
async def test_other_refusals_are_declines(
    client: WaafiPayClient, responder: WaafiPayResponder, code: str, error: str, msg: str, hard: bool
) -> None:
    responder.refuse(msg, code=code, error=error)
    outcome = await client.create_payment(create_payment())
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert outcome.failure.code == f"{code}/{error}"
    assert outcome.failure.hard is hard


async def test_2001_with_a_declined_state_is_a_decline(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer({**approved_push(), "state": "DECLINED"})
    outcome = await client.create_payment(create_payment())
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.provider_status == "DECLINED"
    assert outcome.failure is not None
    assert outcome.failure.code == "2001"


@pytest.mark.parametrize(
    "params",
    [
        {"transactionId": "1111", "referenceId": "pay_1"},  # no state
        {**approved_push(), "state": "PENDING"},
        {},
        [],
        ABSENT,
    ],
)
async def test_2001_without_a_final_state_is_unknown(
    client: WaafiPayClient, responder: WaafiPayResponder, params: object
) -> None:
    responder.answer(params)
    with pytest.raises(ResponseVerificationError):
        await client.create_payment(create_payment())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(error=httpx.ReadTimeout("read timed out")), ProviderTimeoutError),
        (Reply(error=httpx.ConnectTimeout("connect timed out")), ProviderTimeoutError),
        (Reply(error=httpx.RemoteProtocolError("peer closed")), ProviderConnectionError),
        (Reply(error=httpx.ConnectError("refused")), ProviderConnectionError),
        (Reply(raw=b"<html>Bad gateway</html>", status=502), ProviderServerError),
        (Reply(document={"responseCode": "2001", "errorCode": "0"}, status=503), ProviderServerError),
        (Reply(raw=b"<html>oops</html>"), ResponseVerificationError),
        (Reply(raw=b"[1, 2]"), ResponseVerificationError),
        (Reply(document={"errorCode": "0", "params": {}}), ProviderServerError),
        (Reply(document={"responseCode": "2001", "errorCode": "E10205"}), ProviderServerError),
    ],
)
async def test_an_answer_that_concludes_nothing_is_unknown(
    client: WaafiPayClient, responder: WaafiPayResponder, reply: Reply, error: type[OutcomeUnknownError]
) -> None:
    responder.queue(reply)
    with pytest.raises(error) as caught:
        await client.create_payment(create_payment())
    assert isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.provider == "waafipay"
    assert caught.value.operation == "API_PURCHASE"
    assert responder.services() == ["API_PURCHASE"]  # never a second purchase


async def test_an_answer_about_another_reference_is_not_trusted(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer(approved_push(reference_id="pay_other"))
    with pytest.raises(ResponseVerificationError):
        await client.create_payment(create_payment())


async def test_a_push_needs_the_payers_wallet_number(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    with pytest.raises(InputError) as caught:
        await client.create_payment(create_payment(customer=Customer(customer_id="cust-1")))
    assert caught.value.field == "customer.phone"
    assert responder.requests == []


async def test_amounts_waafipay_would_truncate_are_never_sent(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    with pytest.raises(InvalidAmountError) as caught:
        await client.create_payment(create_payment(amount=Money(amount_minor=10237, currency="KWD")))
    assert caught.value.field == "amount"
    assert responder.requests == []

    responder.answer(approved_push(amount="10.23"))
    outcome = await client.create_payment(create_payment(amount=Money(amount_minor=10230, currency="KWD")))
    assert responder.sent()["serviceParams"]["transactionInfo"]["amount"] == Decimal("10.23")
    assert outcome.amount == Money(amount_minor=10230, currency="KWD")


async def test_long_order_ids_are_refused_not_cut(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    with pytest.raises(InputError) as caught:
        await client.create_payment(create_payment(merchant_order_id="O" * 51))
    assert caught.value.field == "merchant_order_id"
    assert responder.requests == []


@pytest.mark.parametrize("method", ["CARD", "HPP:PAYPAL", "hpp:"])
async def test_unknown_payment_methods_are_refused(
    client: WaafiPayClient, responder: WaafiPayResponder, method: str
) -> None:
    with pytest.raises(InputError) as caught:
        await client.create_payment(create_payment(payment_method=method))
    assert caught.value.field == "payment_method"


def test_a_push_timeout_beyond_the_declared_longest_wait_is_refused(responder: WaafiPayResponder) -> None:
    client = make_client(responder)
    assert client.capabilities.longest_wait == timedelta(seconds=120)
    with pytest.raises(ConfigurationError) as caught:
        make_client(responder, push_timeout=121)
    assert caught.value.setting == "BILLING_WAAFIPAY_PUSH_TIMEOUT"


async def test_pushes_need_the_api_credentials(responder: WaafiPayResponder) -> None:
    hpp_only = make_client(responder, api=False)
    with pytest.raises(ConfigurationError) as caught:
        await hpp_only.create_payment(create_payment())
    assert caught.value.setting == "BILLING_WAAFIPAY_API_KEY"
    await hpp_only.aclose()


# -- reversal -----------------------------------------------------------------------------------


def cancel(reference: str | None, key: str = "pay_1") -> CancelPayment:
    return CancelPayment(payment=PaymentRef(idempotency_key=key, provider_reference=reference), requested_at=NOW)


async def test_a_purchase_is_cancelled_by_reversal(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(action())
    outcome = await client.cancel_payment(cancel("purchase:1111"))
    sent = responder.sent()
    assert sent["serviceName"] == "API_CANCELPURCHASE"
    params = sent["serviceParams"]
    assert (params["transactionId"], params["referenceId"], params["paymentMethod"]) == (
        "1111",
        "pay_1",
        "MWALLET_ACCOUNT",
    )
    assert outcome.status is PaymentStatus.CLOSED
    assert outcome.provider_reference == "purchase:1111"
    assert outcome.failure is None


async def test_an_already_cancelled_purchase_is_closed(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_TRAN_ALREADY_CANCELLED", code="5202", error="E10207", params={})
    outcome = await client.cancel_payment(cancel("purchase:1111"))
    assert outcome.status is PaymentStatus.CLOSED
    assert outcome.failure is None


async def test_a_refused_reversal_states_nothing(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_TRAN_NOT_FOUND", code="5213", error="E10206", params=[])
    outcome = await client.cancel_payment(cancel("purchase:1111"))
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.failure is not None
    assert outcome.failure.code == "5213/E10206"


@pytest.mark.parametrize("reference", [None, "hpp:1185941", "126895"])
async def test_only_purchases_and_holds_can_be_cancelled(
    client: WaafiPayClient, responder: WaafiPayResponder, reference: str | None
) -> None:
    with pytest.raises(UnsupportedOperationError):
        await client.cancel_payment(cancel(reference))
    assert responder.requests == []


async def test_a_lost_reversal_answer_is_unknown(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.queue(Reply(error=httpx.ReadTimeout("read timed out")))
    with pytest.raises(OutcomeUnknownError):
        await client.cancel_payment(cancel("purchase:1111"))


# -- pre-authorization --------------------------------------------------------------------------


def capture(reference: str | None, key: str = "cap_1", amount: Money = USD_10) -> CapturePayment:
    return CapturePayment(
        idempotency_key=key,
        payment=PaymentRef(idempotency_key="pay_1", provider_reference=reference),
        amount=amount,
        requested_at=NOW,
    )


async def test_preauthorize_then_commit(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(approved_push(transaction_id="7001"))
    authorized = await client.create_payment(create_payment(capture_mode=CaptureMode.MANUAL))
    assert responder.sent()["serviceName"] == "API_PREAUTHORIZE"
    assert responder.requests[-1].extensions["timeout"]["read"] == 120
    assert authorized.status is PaymentStatus.AUTHORIZED
    assert authorized.provider_reference == "preauth:7001"
    assert authorized.completed_at is None

    responder.answer(action(transaction_id="7002"))
    captured = await client.capture_payment(capture(authorized.provider_reference))
    sent = responder.sent()
    assert sent["serviceName"] == "API_PREAUTHORIZE_COMMIT"
    assert sent["requestId"] == waafipay_transform.request_id("API_PREAUTHORIZE_COMMIT", "cap_1")
    assert (sent["serviceParams"]["transactionId"], sent["serviceParams"]["referenceId"]) == ("7001", "pay_1")
    assert "amount" not in sent["serviceParams"]
    assert captured.status is PaymentStatus.SUCCEEDED
    assert captured.provider_reference == "preauth:7001"
    assert captured.amount == USD_10


async def test_preauthorize_then_cancel(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(approved_push(transaction_id="7001"))
    authorized = await client.create_payment(create_payment(capture_mode=CaptureMode.MANUAL))
    responder.answer(action())
    released = await client.cancel_payment(cancel(authorized.provider_reference))
    sent = responder.sent()
    assert sent["serviceName"] == "API_PREAUTHORIZE_CANCEL"
    assert "paymentMethod" not in sent["serviceParams"]
    assert released.status is PaymentStatus.CLOSED


async def test_a_declined_preauthorization(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse(ISSUER.format("Invalid PIN code"))
    outcome = await client.create_payment(create_payment(capture_mode=CaptureMode.MANUAL))
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None and not outcome.failure.hard


async def test_commit_of_a_released_hold_is_closed(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_TRAN_ALREADY_CANCELLED", code="5202", error="E10207")
    outcome = await client.capture_payment(capture("preauth:7001"))
    assert outcome.status is PaymentStatus.CLOSED
    assert outcome.failure is not None


async def test_a_commit_answered_not_found_is_unknown(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    # 5213 says the hold is not open: committed before (an answer lost, the portal) or gone. Whether the money
    # was captured is not said, so it is no refusal to capture again.
    responder.refuse("RCS_TRAN_NOT_FOUND", code="5213", error="E10206")
    with pytest.raises(ProviderServerError) as caught:
        await client.capture_payment(capture("preauth:7001"))
    assert caught.value.code == "5213/E10206"


async def test_a_refused_commit_states_nothing(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("We are sorry this Operation is not Allowed at this moment", code="5222", error="E10235")
    outcome = await client.capture_payment(capture("preauth:7001"))
    assert outcome.status is PaymentStatus.PENDING
    assert outcome.failure is not None


async def test_a_lost_commit_answer_is_unknown(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.queue(Reply(error=httpx.ReadTimeout("read timed out")))
    with pytest.raises(OutcomeUnknownError):
        await client.capture_payment(capture("preauth:7001"))
    responder.answer(action(state="pending"))
    with pytest.raises(OutcomeUnknownError):
        await client.capture_payment(capture("preauth:7001"))


@pytest.mark.parametrize("reference", [None, "purchase:1111", "hpp:1", "7001"])
async def test_only_holds_can_be_captured(
    client: WaafiPayClient, responder: WaafiPayResponder, reference: str | None
) -> None:
    with pytest.raises(InvalidStateError) as caught:
        await client.capture_payment(capture(reference))
    assert caught.value.field == "payment.provider_reference"
    assert responder.requests == []


# -- hosted payment page ------------------------------------------------------------------------


async def test_hosted_page_purchase(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(
        {
            "hppUrl": "https://sandbox.waafipay.net/hpp/token/4542",
            "directPaymentLink": "https://sandbox.waafipay.net/hpp/token/4542?r=10629",
            "orderId": "1185941",
            "referenceId": "pay_1",
        }
    )
    outcome = await client.create_payment(create_payment(payment_method="HPP"))
    request = responder.requests[0]
    assert request.extensions["timeout"]["read"] == 45
    sent = responder.sent()
    assert sent["serviceName"] == "HPP_PURCHASE"
    params = sent["serviceParams"]
    assert params["merchantUid"] == MERCHANT_UID
    assert params["storeId"] == 1000201
    assert params["hppKey"] == HPP_KEY
    assert "apiKey" not in params
    assert params["paymentMethod"] == "MWALLET_ACCOUNT"
    assert params["hppRespDataFormat"] == 4
    assert params["hppSuccessCallbackUrl"] == "https://shop.example/hpp/ok?referenceId=pay_1"
    assert params["hppFailureCallbackUrl"] == "https://shop.example/hpp/fail?referenceId=pay_1"
    assert params["payerInfo"] == {"subscriptionId": "252611111111"}
    assert params["transactionInfo"]["referenceId"] == "pay_1"
    assert params["transactionInfo"]["amount"] == Decimal("10.00")

    assert outcome.status is PaymentStatus.PENDING
    assert outcome.provider_reference == "hpp:1185941"
    assert outcome.amount == USD_10
    assert outcome.customer_action is not None
    assert outcome.customer_action.kind is CustomerActionKind.REDIRECT
    assert outcome.customer_action.url == "https://sandbox.waafipay.net/hpp/token/4542?r=10629"


@pytest.mark.parametrize("method", ["HPP", "HPP:MWALLET_ACCOUNT"])
async def test_a_wallet_hosted_page_needs_the_phone_before_anything_is_sent(
    client: WaafiPayClient, responder: WaafiPayResponder, method: str
) -> None:
    # Seed 002, HPP_PURCHASE: payerInfo.subscriptionId is "Required for MWALLET_ACCOUNT payment method".
    with pytest.raises(InputError) as caught:
        await client.create_payment(create_payment(payment_method=method, customer=Customer(customer_id="cust-1")))
    assert caught.value.field == "customer.phone"
    assert responder.requests == []


async def test_hosted_card_page_with_request_urls(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(
        {"hppUrl": "https://sandbox.waafipay.net/hpp/token/AB", "hppRequestId": "10629", "referenceId": "pay_1"}
    )
    outcome = await client.create_payment(
        create_payment(
            payment_method="hpp:credit_card",
            customer=Customer(customer_id="cust-1"),
            success_url="https://m.example/ok?o=1",
            failure_url="https://m.example/ko",
        )
    )
    params = responder.sent()["serviceParams"]
    assert params["paymentMethod"] == "CREDIT_CARD"
    assert "payerInfo" not in params
    assert params["hppSuccessCallbackUrl"] == "https://m.example/ok?o=1&referenceId=pay_1"
    assert outcome.provider_reference == "hpp:10629"
    assert outcome.customer_action is not None
    assert (
        outcome.customer_action.url == "https://sandbox.waafipay.net/hpp/token/AB?hppRequestId=10629&referenceId=pay_1"
    )


async def test_a_refused_hosted_page_order(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_FAILED_TOCREATE_ORDER", code="5035", error="E10222", params={})
    outcome = await client.create_payment(create_payment(payment_method="HPP"))
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.failure is not None
    assert (outcome.failure.category, outcome.failure.hard) == (FailureCategory.MERCHANT, True)


async def test_a_hosted_page_answer_without_a_url_is_unknown(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer({"orderId": "1"})
    with pytest.raises(ResponseVerificationError):
        await client.create_payment(create_payment(payment_method="HPP"))


async def test_the_hosted_page_has_no_preauthorization(client: WaafiPayClient) -> None:
    with pytest.raises(InputError) as caught:
        await client.create_payment(create_payment(payment_method="HPP", capture_mode=CaptureMode.MANUAL))
    assert caught.value.field == "capture_mode"


async def test_the_hosted_page_needs_callback_urls(responder: WaafiPayResponder) -> None:
    bare = WaafiPayClient(
        base_url=SANDBOX,
        merchant_uid=MERCHANT_UID,
        store_id=STORE_ID,
        hpp_key=HPP_KEY,
        transport=httpx.MockTransport(responder),
    )
    with pytest.raises(InputError) as caught:
        await bare.create_payment(create_payment(payment_method="HPP"))
    assert caught.value.field == "success_url"
    await bare.aclose()


# -- inquiry ------------------------------------------------------------------------------------

TRAN_INFO = {
    "tranStatusDesc": "Approved",
    "amount": "10.0",
    "payerId": "252611111111",
    "paymentMethod": "mwallet_account",
    "description": "payment",
    "tranDate": "2024-11-05 10:58:50.0",
    "currency": "USD",
    "invoiceId": "ORD-1",
    "referenceId": "pay_1",
    "tranAmount": "10.0",
    "transactionId": "126895",
    "tranStatusId": "3",
    "status": "Approved",
}


async def test_hosted_page_payment_found_by_inquiry(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(TRAN_INFO)
    outcome = await client.inquire_payment(PaymentRef(idempotency_key="pay_1", provider_reference="hpp:1185941"))
    sent = responder.sent()
    assert sent["serviceName"] == "HPP_GETTRANINFO"
    assert sent["serviceParams"] == {
        "merchantUid": MERCHANT_UID,
        "storeId": 1000201,
        "hppKey": HPP_KEY,
        "referenceId": "pay_1",
    }
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.provider_reference == "hpp:1185941"
    assert outcome.amount == USD_10
    assert outcome.merchant_reference == "ORD-1"
    assert outcome.completed_at == datetime(2024, 11, 5, 10, 58, 50, tzinfo=UTC)


async def test_inquiries_use_a_fresh_request_id(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(TRAN_INFO)
    responder.answer(TRAN_INFO)
    ref = PaymentRef(idempotency_key="pay_1")
    await client.inquire_payment(ref)
    await client.inquire_payment(ref)
    assert responder.sent(0)["requestId"] != responder.sent(1)["requestId"]


async def test_a_timed_out_push_is_reconciled_by_inquiry(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.queue(Reply(error=httpx.ReadTimeout("read timed out")))
    with pytest.raises(OutcomeUnknownError):
        await client.create_payment(create_payment())
    responder.answer(TRAN_INFO)
    outcome = await client.inquire_payment(PaymentRef(idempotency_key="pay_1"))
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.provider_reference == "126895"
    assert responder.services() == ["API_PURCHASE", "HPP_GETTRANINFO"]


async def test_an_unpaid_hosted_page_order_has_no_transaction(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    # Said as it is: not found. The workflow knows when the page lapses (customer_action.expires_at).
    responder.refuse("RCS_TRAN_NOT_FOUND", code="5213", error="E10206")
    with pytest.raises(NotFoundError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_1", provider_reference="hpp:1185941"))


async def test_an_unknown_payment_is_not_found(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_TRAN_NOT_FOUND", code="5213", error="E10206")
    with pytest.raises(NotFoundError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_1"))


async def test_a_declined_transaction_and_other_refusals(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer({**TRAN_INFO, "status": "Declined", "tranStatusDesc": "Declined", "tranStatusId": "5"})
    declined = await client.inquire_payment(PaymentRef(idempotency_key="pay_1"))
    assert declined.status is PaymentStatus.DECLINED
    assert declined.failure is not None

    responder.refuse("RCS_INVALID_HPPKEY", code="5301", error="E10301")
    refused = await client.inquire_payment(PaymentRef(idempotency_key="pay_1", provider_reference="hpp:1"))
    assert refused.status is PaymentStatus.PENDING
    assert refused.failure is not None and refused.failure.category is FailureCategory.MERCHANT


async def test_an_inquiry_answer_about_another_payment_is_not_trusted(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer({**TRAN_INFO, "referenceId": "pay_other"})
    with pytest.raises(ResponseVerificationError):
        await client.inquire_payment(PaymentRef(idempotency_key="pay_1"))


async def test_hosted_page_result_token(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(
        {
            "procCode": "000",
            "procDescription": "Approved",
            "referenceId": "pay_1",
            "transactionId": "126895",
            "txAmount": "10.0",
            "invoiceId": "ORD-1",
            "state": "APPROVED",
        }
    )
    outcome = await client.inquire_hpp_result("4837446776")
    sent = responder.sent()
    assert sent["serviceName"] == "HPP_GETRESULTINFO"
    assert sent["serviceParams"]["hppResultToken"] == "4837446776"
    assert outcome.status is PaymentStatus.SUCCEEDED
    assert outcome.idempotency_key == "pay_1"
    # The result states no payment time; the answer's timestamp is not one (it would make an on-time
    # payment look late when the result is read after the deadline).
    assert outcome.completed_at is None


async def test_hosted_page_result_2001_declined(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(
        {
            "procCode": "5214",
            "procDescription": "RCS_PAYMENTBROKER_REQUEST_FAILED",
            "referenceId": "pay_1",
            "transactionId": "0",
            "state": "DECLINED",
        }
    )
    outcome = await client.inquire_hpp_result("4837446776")
    assert outcome.status is PaymentStatus.DECLINED
    assert outcome.provider_reference is None
    assert outcome.failure is not None
    assert (outcome.failure.code, outcome.failure.message) == ("5214", "RCS_PAYMENTBROKER_REQUEST_FAILED")


async def test_a_rejected_result_token(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.refuse("RCS_INVALID_HPPRESULTTOKEN", code="5303", error="E10303")
    with pytest.raises(NotFoundError) as caught:
        await client.inquire_hpp_result("00")
    assert caught.value.field == "hpp_result_token"


# -- refunds ------------------------------------------------------------------------------------


async def test_partial_refunds_one_after_another(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    three = Money(amount_minor=300, currency="USD")
    responder.answer(action(transaction_id="9001", reference_id="ref_1"))
    responder.answer(action(transaction_id="9002", reference_id="ref_2"))
    first = await client.refund(refund_request("ref_1", three))
    second = await client.refund(refund_request("ref_2", three))

    assert responder.services() == ["API_REFUND", "API_REFUND"]
    params = responder.sent(0)["serviceParams"]
    assert (params["transactionId"], params["referenceId"], params["amount"], params["description"]) == (
        "1111",
        "ref_1",
        Decimal("3.00"),
        "Damaged item",
    )
    assert params["apiKey"] == API_KEY
    assert responder.sent(0)["requestId"] != responder.sent(1)["requestId"]
    for outcome, key, reference in ((first, "ref_1", "9001"), (second, "ref_2", "9002")):
        assert outcome.status is RefundStatus.SUCCEEDED
        assert outcome.idempotency_key == key
        assert outcome.provider_reference == reference
        assert outcome.payment_reference == "purchase:1111"
        assert outcome.amount == three


async def test_a_refund_above_what_remains_is_a_failure_value(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.refuse("RCS_REFUND_AMOUNT_EXCEEDS_BALANCE", code="5207", error="E10208", params=[])
    outcome = await client.refund(refund_request("ref_3", Money(amount_minor=5000, currency="USD")))
    assert outcome.status is RefundStatus.FAILED
    assert outcome.failure is not None
    assert outcome.failure.code == "5207/E10208"
    assert outcome.failure.message == "RCS_REFUND_AMOUNT_EXCEEDS_BALANCE"


async def test_a_refund_with_a_declined_state_failed(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.answer(action(state="failed", reference_id="ref_1"))
    outcome = await client.refund(refund_request("ref_1", USD_10))
    assert outcome.status is RefundStatus.FAILED


async def test_refund_amounts_are_checked_before_sending(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    with pytest.raises(InvalidAmountError):
        await client.refund(refund_request("ref_1", Money(amount_minor=1, currency="KWD"), reference="purchase:1111"))
    assert responder.requests == []


async def test_a_lost_refund_answer_is_unknown(client: WaafiPayClient, responder: WaafiPayResponder) -> None:
    responder.queue(Reply(error=httpx.ReadTimeout("read timed out")))
    with pytest.raises(OutcomeUnknownError):
        await client.refund(refund_request("ref_1", USD_10))
    responder.answer({"description": "success"})  # 2001 without a state
    with pytest.raises(OutcomeUnknownError):
        await client.refund(refund_request("ref_1", USD_10))
    with pytest.raises(UnsupportedOperationError):
        await client.inquire_refund(RefundRef(idempotency_key="ref_1"))


async def test_hosted_page_refund_looks_up_the_transaction(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer(TRAN_INFO)
    responder.answer(action(transaction_id="9101"))
    outcome = await client.refund(
        refund_request("ref_1", Money(amount_minor=250, currency="USD"), reference="hpp:1185941")
    )
    assert responder.services() == ["HPP_GETTRANINFO", "HPP_REFUNDPURCHASE"]
    assert responder.sent()["serviceParams"] == {
        "merchantUid": MERCHANT_UID,
        "storeId": 1000201,
        "hppKey": HPP_KEY,
        "amount": Decimal("2.50"),
        "transactionId": 126895,
        "referenceId": "pay_1",
        "description": "Damaged item",
    }
    assert responder.sent()["requestId"] == waafipay_transform.request_id("HPP_REFUNDPURCHASE", "ref_1")
    assert outcome.status is RefundStatus.SUCCEEDED
    assert outcome.provider_reference == "9101"


async def test_a_bare_transaction_is_refunded_through_the_hosted_page_service(
    client: WaafiPayClient, api_only: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer(action())
    await client.refund(refund_request("ref_1", USD_10, reference="126895"))
    responder.answer(action(reference_id="ref_2"))
    await api_only.refund(refund_request("ref_2", USD_10, reference="126895"))
    assert responder.services() == ["HPP_REFUNDPURCHASE", "API_REFUND"]
    assert responder.sent(0)["serviceParams"]["transactionId"] == 126895
    assert responder.sent(1)["serviceParams"]["transactionId"] == "126895"


async def test_an_unpaid_hosted_page_order_is_not_refunded(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.refuse("RCS_TRAN_NOT_FOUND", code="5213", error="E10206")
    outcome = await client.refund(refund_request("ref_1", USD_10, reference="hpp:1185941"))
    assert outcome.status is RefundStatus.FAILED
    assert responder.services() == ["HPP_GETTRANINFO"]

    responder.answer({**TRAN_INFO, "status": "Pending", "tranStatusDesc": "Pending", "tranStatusId": "1"})
    pending = await client.refund(refund_request("ref_1", USD_10, reference="hpp:1185941"))
    assert pending.status is RefundStatus.FAILED
    assert pending.failure is not None and pending.failure.code == "NOT_REFUNDABLE"
    assert responder.services() == ["HPP_GETTRANINFO", "HPP_GETTRANINFO"]


async def test_a_refund_without_any_reference_needs_the_hosted_page_lookup(
    api_only: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await api_only.refund(refund_request("ref_1", USD_10, reference=None))
    assert caught.value.setting == "BILLING_WAAFIPAY_HPP_KEY"
    assert responder.requests == []


# -- subscriptions ------------------------------------------------------------------------------


async def test_there_are_no_native_subscriptions(client: WaafiPayClient) -> None:
    plan = SubscriptionPlan(plan_id="p", description="Plan", amount=USD_10, interval=BillingInterval.MONTH)
    ref = SubscriptionRef(idempotency_key="sub_1")
    with pytest.raises(UnsupportedOperationError):
        await client.create_subscription(
            CreateSubscription(
                idempotency_key="sub_1",
                merchant_subscription_id="S-1",
                plan=plan,
                customer=PAYER,
                requested_at=NOW,
            )
        )
    with pytest.raises(UnsupportedOperationError):
        await client.inquire_subscription(ref)
    with pytest.raises(UnsupportedOperationError):
        await client.cancel_subscription(CancelSubscription(subscription=ref, requested_at=NOW))
    with pytest.raises(UnsupportedOperationError):
        await client.manage_subscription(ManageSubscription(subscription=ref))


# -- the answer is about the object we asked for (issue #13.2) ----------------------------------


async def test_a_refund_answer_about_another_reference_is_no_answer(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer(action(transaction_id="9001", reference_id="ref_other"))
    with pytest.raises(AnswerMismatchError) as caught:
        await client.refund(refund_request("ref_1", USD_10))
    assert (caught.value.asked, caught.value.answered) == ("ref_1", "ref_other")


async def test_a_cancel_answer_about_another_payment_is_no_answer(
    client: WaafiPayClient, responder: WaafiPayResponder
) -> None:
    responder.answer(action(reference_id="pay_other"))
    with pytest.raises(AnswerMismatchError):
        await client.cancel_payment(
            CancelPayment(
                payment=PaymentRef(idempotency_key="pay_1", provider_reference="purchase:1111"), requested_at=NOW
            )
        )
