"""The official Waffo Python SDK (PyPI ``waffo``) as an independent reference for our client and emulator.

Our client (providers/waffo) and our emulator (emulators/waffo) were written from the same reading of the
documents, so a shared misreading passes every other test. Here the SDK's public API judges both:

1. every request our client sends validates against the SDK's request model for that endpoint, and names
   no field the model does not know;
2. the emulator's answer to every endpoint it serves parses into the SDK's response model (the SDK itself
   makes the calls, over real HTTP, and reports "C0001" when a response does not parse);
3. the SDK's webhook handler accepts every notification the emulator sends (signature, routing, the
   result parsed into the SDK's model for it) and the emulator accepts the SDK's signed reply;
4. our notification verifier (what the HTTP service runs) accepts notifications signed by the SDK's
   signing code, and the SDK verifies our replies.

Where the SDK and the documents disagree, the documents win; each such case is a comment on its row and
is listed in emulators/waffo/README.md ("The official SDK as a reference").
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from waffo import Environment, Waffo, WaffoConfig
from waffo.core.webhook_handler import FAILED_RESPONSE_BODY, SUCCESS_RESPONSE_BODY
from waffo.net import HttpRequest, HttpResponse
from waffo.types.merchant import InquiryMerchantConfigData, InquiryMerchantConfigParams
from waffo.types.order import (
    CancelOrderData,
    CancelOrderParams,
    CaptureOrderData,
    CaptureOrderParams,
    CreateOrderData,
    CreateOrderParams,
    InquiryOrderData,
    InquiryOrderParams,
    RefundOrderData,
    RefundOrderParams,
)
from waffo.types.payment import InquiryPayMethodConfigData, InquiryPayMethodConfigParams
from waffo.types.refund import InquiryRefundData, InquiryRefundParams
from waffo.types.subscription import (
    CancelSubscriptionData,
    CancelSubscriptionParams,
    CreateSubscriptionData,
    CreateSubscriptionParams,
    InquirySubscriptionData,
    InquirySubscriptionParams,
    ManageSubscriptionData,
    ManageSubscriptionParams,
    SubscriptionChangeData,
    SubscriptionChangeInquiryData,
    SubscriptionChangeInquiryParams,
    SubscriptionChangeParams,
    UpdateSubscriptionData,
    UpdateSubscriptionParams,
)
from waffo.utils import rsa_utils

from billing.money import Money
from host.serving import AppServer
from providers.base import (
    BillingInterval,
    CancelPayment,
    CancelSubscription,
    CaptureMode,
    CapturePayment,
    ChangeSubscription,
    CreatePayment,
    CreateRefund,
    CreateSubscription,
    Customer,
    InquireSubscriptionChange,
    ManageSubscription,
    PaymentEvent,
    PaymentRef,
    PaymentStatus,
    RefundEvent,
    RefundRef,
    SubscriptionPlan,
    SubscriptionRef,
    UnknownEvent,
)
from providers.waffo import (
    SUCCESS_REPLY_BODY,
    TopUp,
    UpdateSubscription,
    WaffoClient,
    WaffoNotifications,
)
from tests.support.keys import merchant_keys, waffo_keys
from tests.support.stack import MERCHANT_ID, emulator_hub, waffo_client

# -- the SDK, pointed at the emulator ------------------------------------------------------------


@dataclass
class EmulatorTransport:
    """The SDK's pluggable HttpTransport (WaffoConfig.http_transport), sending to the emulator instead."""

    base_url: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    statuses: list[int] = field(default_factory=list)

    def send(self, request: HttpRequest) -> HttpResponse:
        url = request.url.replace(Environment.SANDBOX.base_url, self.base_url)
        response = self.http.request(request.method, url, headers=request.headers, content=request.body)
        self.statuses.append(response.status_code)
        return HttpResponse(
            status_code=response.status_code,
            headers={key.lower(): value for key, value in response.headers.items()},
            body=response.text,
        )


def sdk_config(transport: EmulatorTransport | None = None) -> WaffoConfig:
    return WaffoConfig(
        api_key="test-api-key",
        private_key=merchant_keys().private_b64,
        waffo_public_key=waffo_keys().public_b64,
        environment=Environment.SANDBOX,
        merchant_id=MERCHANT_ID,
        http_transport=transport,
    )


# -- a merchant endpoint run by the SDK's webhook handler ---------------------------------------

#: The SDK model each notification's ``result`` must parse into (the inquiry model of the same object).
NOTIFICATION_MODELS: dict[str, type[BaseModel]] = {
    "PAYMENT_NOTIFICATION": InquiryOrderData,
    "REFUND_NOTIFICATION": InquiryRefundData,
    "SUBSCRIPTION_STATUS_NOTIFICATION": InquirySubscriptionData,
    "SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION": InquirySubscriptionData,
    "SUBSCRIPTION_CHANGE_NOTIFICATION": SubscriptionChangeInquiryData,
}


@dataclass
class SdkReceiver:
    """Answers every notification with ``waffo.webhook().handle_webhook``; its handlers parse the result
    into the SDK's model, so a result that does not parse makes the SDK answer "failed"."""

    sdk: Waffo
    results: list[tuple[str, bool, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        def parse_into(event_type: str) -> Callable[[dict[str, Any]], None]:
            def handler(notification: dict[str, Any]) -> None:
                NOTIFICATION_MODELS[event_type].model_validate(notification["result"])

            return handler

        hook = self.sdk.webhook()
        hook.on_payment(parse_into("PAYMENT_NOTIFICATION"))
        hook.on_refund(parse_into("REFUND_NOTIFICATION"))
        hook.on_subscription_status(parse_into("SUBSCRIPTION_STATUS_NOTIFICATION"))
        hook.on_subscription_period_changed(parse_into("SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION"))
        hook.on_subscription_change(parse_into("SUBSCRIPTION_CHANGE_NOTIFICATION"))

    async def endpoint(self, request: Request) -> Response:
        body = (await request.body()).decode()
        result = self.sdk.webhook().handle_webhook(body, request.headers.get("x-signature"))
        self.results.append((json.loads(body).get("eventType", "?"), result.success, result.error))
        return Response(
            result.response_body, media_type="application/json", headers={"X-SIGNATURE": result.response_signature}
        )


# -- the environment ------------------------------------------------------------------------------


@dataclass
class Env:
    url: str
    notify_url: str
    control: httpx.AsyncClient
    sdk: Waffo
    transport: EmulatorTransport
    receiver: SdkReceiver
    client: WaffoClient
    sent: list[httpx.Request]

    async def call(self, resource: Callable[[], Any], method: str, params: dict[str, Any]) -> Any:
        """One SDK call (blocking HTTP, so off the event loop that serves the emulator)."""
        return await asyncio.to_thread(lambda: getattr(resource(), method)(params))

    async def act(self, path: str) -> dict[str, Any]:
        response = await self.control.post(path, json={})
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    async def drain(self) -> None:
        response = await self.control.post("/notifications/drain", json={"timeoutS": 10})
        assert response.json() == {"drained": True}


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[Env]:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with emulator_hub() as (_, server):
        transport = EmulatorTransport(f"{server.url}/waffo/api/v1")
        sdk = Waffo(sdk_config(transport))
        receiver = SdkReceiver(sdk)
        receiver_server = AppServer(Starlette(routes=[Route("/notify", receiver.endpoint, methods=["POST"])]))
        await receiver_server.start()
        recording = httpx.AsyncClient(event_hooks={"request": [record]})
        notify_url = f"{receiver_server.url}/notify"
        client = waffo_client(
            server.url,
            http_client=recording,
            notify_url=notify_url,
            refund_notify_url=notify_url,
            app_name="com.merchant.shop",
        )
        try:
            async with httpx.AsyncClient(base_url=f"{server.url}/waffo/control", timeout=30.0) as control:
                yield Env(server.url, notify_url, control, sdk, transport, receiver, client, sent)
        finally:
            await client.aclose()
            await recording.aclose()
            await receiver_server.stop()
            transport.http.close()


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"[:32]


def now() -> datetime:
    return datetime.now(UTC)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


CUSTOMER = Customer(customer_id="cust-1", email="payer@example.com")
PLAN = SubscriptionPlan(plan_id="plan-m", description="Monthly", amount=usd("20.00"), interval=BillingInterval.MONTH)
BIGGER = SubscriptionPlan(plan_id="plan-p", description="Pro", amount=usd("50.00"), interval=BillingInterval.MONTH)


# -- 1. our client's requests against the SDK's request models -----------------------------------

#: Endpoint → the SDK's request model. Every operation our client has is a row.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "order/create": CreateOrderParams,
    "order/inquiry": InquiryOrderParams,
    "order/cancel": CancelOrderParams,
    "order/capture": CaptureOrderParams,
    "order/refund": RefundOrderParams,
    "refund/inquiry": InquiryRefundParams,
    "subscription/create": CreateSubscriptionParams,
    "subscription/inquiry": InquirySubscriptionParams,
    "subscription/cancel": CancelSubscriptionParams,
    "subscription/manage": ManageSubscriptionParams,
    "subscription/change": SubscriptionChangeParams,
    "subscription/change/inquiry": SubscriptionChangeInquiryParams,
    "subscription/update": UpdateSubscriptionParams,
    "merchantconfig/inquiry": InquiryMerchantConfigParams,
    "paymethodconfig/inquiry": InquiryPayMethodConfigParams,
}


def unknown_keys(model: type[BaseModel], document: Any, path: str = "") -> list[str]:
    """Keys of ``document`` that ``model`` (recursively) does not declare: a misspelt field would pass
    ``model_validate`` because the SDK's models allow extra keys."""
    if not isinstance(document, dict):
        return []
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    found: list[str] = []
    for key, value in document.items():
        info = fields.get(key)
        if info is None:
            found.append(f"{path}{key}")
            continue
        nested = _model_of(info.annotation)
        if nested is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            suffix = f"[{index}]" if isinstance(value, list) else ""
            found += unknown_keys(nested, item, f"{path}{key}{suffix}.")
    return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found is not None:
            return found
    return None


async def drive_every_operation(env: Env) -> None:
    """Our client calls every endpoint once (the emulator answering), so each request is on record."""
    client = env.client
    order = CreatePayment(
        idempotency_key=new_id("pay"),
        merchant_order_id=new_id("ord"),
        amount=usd("25.00"),
        description="Conformance order",
        customer=CUSTOMER,
        requested_at=now(),
        capture_mode=CaptureMode.MANUAL,
    )
    created = await client.create_payment(order)
    payment = PaymentRef(idempotency_key=order.idempotency_key, provider_reference=created.provider_reference)
    await env.act(f"/orders/{created.provider_reference}/pay")
    await client.inquire_payment(payment)
    captured = await client.capture_payment(
        CapturePayment(idempotency_key=new_id("cap"), payment=payment, amount=usd("25.00"), requested_at=now())
    )
    assert captured.failure is None, captured.failure
    refund = CreateRefund(idempotency_key=new_id("ref"), payment=payment, amount=usd("5.00"), requested_at=now())
    refunded = await client.refund(refund)
    assert refunded.failure is None, refunded.failure
    await client.inquire_refund(
        RefundRef(
            idempotency_key=refund.idempotency_key, provider_reference=refunded.provider_reference, currency="USD"
        )
    )
    other = order.model_copy(update={"idempotency_key": new_id("pay"), "merchant_order_id": new_id("ord")})
    second = await client.create_payment(other)
    await client.cancel_payment(
        CancelPayment(
            payment=PaymentRef(idempotency_key=other.idempotency_key, provider_reference=second.provider_reference),
            requested_at=now(),
        )
    )

    subscription = CreateSubscription(
        idempotency_key=new_id("sub"),
        merchant_subscription_id=new_id("ms"),
        plan=PLAN,
        customer=CUSTOMER,
        requested_at=now(),
        management_url="https://merchant.test/manage",
    )
    opened = await client.create_subscription(subscription)
    ref = SubscriptionRef(idempotency_key=subscription.idempotency_key, provider_reference=opened.provider_reference)
    await env.act(f"/subscriptions/{opened.provider_reference}/pay")
    await client.inquire_subscription(ref)
    await client.manage_subscription(ManageSubscription(subscription=ref))
    updated = await client.update_subscription(
        UpdateSubscription(
            subscription=ref,
            currency="USD",
            amount=usd("22.00"),
            top_up=TopUp(idempotency_key=new_id("top"), amount=usd("3.00"), description="extra seats"),
        )
    )
    assert updated.failure is None, updated.failure
    change = ChangeSubscription(
        idempotency_key=new_id("chg"),
        original=ref,
        merchant_subscription_id=new_id("ms"),
        new_plan=BIGGER,
        remaining_credit=usd("5.00"),
        customer=CUSTOMER,
        requested_at=now(),
    )
    await client.change_subscription(change)
    await client.inquire_subscription_change(
        InquireSubscriptionChange(idempotency_key=change.idempotency_key, original=ref)
    )
    await client.cancel_subscription(CancelSubscription(subscription=ref, requested_at=now()))
    await client.inquire_merchant_config()
    await client.inquire_pay_method_config()


async def test_every_request_of_our_client_fits_the_sdk_request_model(env: Env) -> None:
    env.sent.clear()
    await drive_every_operation(env)
    seen: dict[str, list[dict[str, Any]]] = {}
    for request in env.sent:
        operation = request.url.path.split("/api/v1/", 1)[1]
        seen.setdefault(operation, []).append(json.loads(request.content))
    assert set(seen) == set(REQUEST_MODELS), "an endpoint our client calls has no row, or a row is not exercised"
    problems: list[str] = []
    for operation, documents in sorted(seen.items()):
        model = REQUEST_MODELS[operation]
        for document in documents:
            try:
                model.model_validate(document)
            except ValidationError as exc:
                problems.append(f"{operation}: {exc}")
            problems += [f"{operation}: unknown key {key}" for key in unknown_keys(model, document)]
    assert problems == []


async def test_order_goods_info_carries_the_keys_the_sdk_requires(env: Env) -> None:
    env.sent.clear()
    await env.client.create_payment(
        CreatePayment(
            idempotency_key=new_id("pay"),
            merchant_order_id=new_id("ord"),
            amount=usd("10.00"),
            description="Goods",
            customer=CUSTOMER,
            requested_at=now(),
        )
    )
    goods = json.loads(env.sent[-1].content)["goodsInfo"]
    # AcqOrderGoodsInfo requires goodsName, goodsUrl and appName. The documents (reference §3.1) ask for
    # goodsName and *either* goodsUrl or appName, so a merchant with only one configured sends only that one
    # (the documents win); this client has both configured.
    assert goods == {"goodsName": "Goods", "goodsUrl": "https://merchant.test/shop", "appName": "com.merchant.shop"}
    CreateOrderParams.model_validate(json.loads(env.sent[-1].content))


# -- 2. the emulator's answers, parsed by the SDK --------------------------------------------------


def order_params(env: Env, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "paymentRequestId": new_id("sdk"),
        "merchantOrderId": new_id("mo"),
        "orderCurrency": "USD",
        "orderAmount": "12.00",
        "orderDescription": "SDK order",
        "notifyUrl": env.notify_url,
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com", "userTerminal": "WEB"},
        "goodsInfo": {"goodsName": "Widget", "goodsUrl": "https://merchant.test/widget", "appName": "shop"},
        "paymentInfo": {"productName": "ONE_TIME_PAYMENT", "payMethodType": "CREDITCARD"},
    }
    params.update(overrides)
    return params


def subscription_params(env: Env, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "subscriptionRequest": new_id("sdks"),
        "merchantSubscriptionId": new_id("ms"),
        "currency": "USD",
        "amount": "20.00",
        "productInfo": {"description": "Monthly", "periodType": "MONTHLY", "periodInterval": "1"},
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com", "userTerminal": "WEB"},
        "goodsInfo": {"goodsId": "plan-m", "goodsName": "Monthly", "goodsUrl": "https://merchant.test/plan"},
        "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
        "notifyUrl": env.notify_url,
        "successRedirectUrl": "https://merchant.test/ok",
        "failedRedirectUrl": "https://merchant.test/failed",
        "cancelRedirectUrl": "https://merchant.test/cancel",
        "subscriptionManagementUrl": "https://merchant.test/manage",
    }
    params.update(overrides)
    return params


def ok(response: Any, model: type[BaseModel]) -> Any:
    """A success the SDK could parse: any parse failure is the SDK's "C0001 Failed to parse response"."""
    assert (response.code, response.message) == ("0", "success"), (response.code, response.message)
    assert isinstance(response.data, model)
    return response.data


async def test_every_order_endpoint_answer_parses_in_the_sdk(env: Env) -> None:
    sdk = env.sdk
    params = order_params(env, paymentInfo={"productName": "ONE_TIME_PAYMENT", "captureMode": "manualCapture"})
    created = ok(await env.call(sdk.order, "create", params), CreateOrderData)
    action = json.loads(created.order_action)
    assert action["webUrl"]
    await env.act(f"/orders/{created.acquiring_order_id}/pay")
    by_request = {"paymentRequestId": params["paymentRequestId"]}
    inquiry = ok(await env.call(sdk.order, "inquiry", by_request), InquiryOrderData)
    assert inquiry.order_status == "AUTHED_WAITING_CAPTURE"
    capture = {"paymentRequestId": params["paymentRequestId"], "captureAmount": "12.00"}
    ok(await env.call(sdk.order, "capture", capture), CaptureOrderData)
    refund = {
        "refundRequestId": new_id("r"),
        "acquiringOrderId": created.acquiring_order_id,
        "refundAmount": "2.00",
        "refundReason": "partial",
        "refundNotifyUrl": env.notify_url,
    }
    ok(await env.call(sdk.order, "refund", refund), RefundOrderData)
    ok(await env.call(sdk.refund, "inquiry", {"refundRequestId": refund["refundRequestId"]}), InquiryRefundData)
    unpaid = order_params(env)
    ok(await env.call(sdk.order, "create", unpaid), CreateOrderData)
    ok(await env.call(sdk.order, "cancel", {"paymentRequestId": unpaid["paymentRequestId"]}), CancelOrderData)


async def test_capture_refusals_are_the_sdk_codes(env: Env) -> None:
    sdk = env.sdk
    automatic = order_params(env)
    ok(await env.call(sdk.order, "create", automatic), CreateOrderData)
    refused = await env.call(
        sdk.order, "capture", {"paymentRequestId": automatic["paymentRequestId"], "captureAmount": "12.00"}
    )
    assert refused.code == "A0035"  # Current Order Does Not Support Capture Operation
    manual = order_params(env, paymentInfo={"productName": "ONE_TIME_PAYMENT", "captureMode": "manualCapture"})
    ok(await env.call(sdk.order, "create", manual), CreateOrderData)
    early = {"paymentRequestId": manual["paymentRequestId"], "captureAmount": "1"}
    refused = await env.call(sdk.order, "capture", early)
    assert refused.code == "A0036"  # Current Order Status Does Not Allow Capture Operation


async def test_channel_rejection_is_http_503(env: Env) -> None:
    response = await env.call(env.sdk.order, "create", order_params(env, orderAmount="9.00"))
    assert (response.code, env.transport.statuses[-1]) == ("C0005", 503)


async def test_every_subscription_endpoint_answer_parses_in_the_sdk(env: Env) -> None:
    sdk = env.sdk
    params = subscription_params(env)
    created = ok(await env.call(sdk.subscription, "create", params), CreateSubscriptionData)
    # The SDK types subscriptionAction as a string holding the action JSON, like orderAction.
    assert json.loads(created.subscription_action)["webUrl"]
    await env.act(f"/subscriptions/{created.subscription_id}/pay")
    await env.act(f"/subscriptions/{created.subscription_id}/renew")
    by_id = {"subscriptionId": created.subscription_id}
    inquiry = ok(await env.call(sdk.subscription, "inquiry", {**by_id, "paymentDetails": 1}), InquirySubscriptionData)
    assert inquiry.payment_details and inquiry.subscription_status == "ACTIVE"
    charge = ok(
        await env.call(sdk.order, "inquiry", {"acquiringOrderId": inquiry.payment_details[0].acquiring_order_id}),
        InquiryOrderData,
    )
    assert charge.subscription_info is not None
    ok(await env.call(sdk.subscription, "manage", by_id), ManageSubscriptionData)
    update = {
        **by_id,
        "amount": "25.00",
        "productInfo": {"scheduledAmounts": [{"period": "3", "amount": "15.00"}]},
        "topupInfo": {"topupRequest": new_id("t"), "topupAmount": "4.00", "description": "extra"},
    }
    updated = ok(await env.call(sdk.subscription, "update", update), UpdateSubscriptionData)
    assert updated.topup_info is not None and updated.topup_info.topup_status == "PAY_SUCCESS"
    change = {
        "subscriptionRequest": new_id("sdkc"),
        "originSubscriptionRequest": params["subscriptionRequest"],
        "remainingAmount": "5.00",
        "currency": "USD",
        "notifyUrl": env.notify_url,
        "productInfoList": [{"description": "Pro", "periodType": "MONTHLY", "periodInterval": "1", "amount": "50.00"}],
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com", "userTerminal": "WEB"},
        "goodsInfo": {"goodsId": "plan-p", "goodsName": "Pro", "goodsUrl": "https://merchant.test/pro"},
        "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
    }
    changed = ok(await env.call(sdk.subscription, "change", change), SubscriptionChangeData)
    inquire_change = {key: change[key] for key in ("subscriptionRequest", "originSubscriptionRequest")}
    ok(await env.call(sdk.subscription, "change_inquiry", inquire_change), SubscriptionChangeInquiryData)
    await env.act(f"/subscriptions/{changed.subscription_id}/pay")
    ok(await env.call(sdk.subscription, "cancel", {"subscriptionId": changed.subscription_id}), CancelSubscriptionData)


async def test_configuration_answers_parse_in_the_sdk(env: Env) -> None:
    merchant = ok(await asyncio.to_thread(lambda: env.sdk.merchant_config().inquiry()), InquiryMerchantConfigData)
    assert merchant.merchant_id == MERCHANT_ID
    methods = ok(await asyncio.to_thread(lambda: env.sdk.pay_method_config().inquiry()), InquiryPayMethodConfigData)
    assert methods.pay_method_details
    for detail in methods.pay_method_details:
        stated = (detail.pay_method_type, detail.currency, detail.order_amount_min, detail.order_amount_max)
        assert None not in stated, detail
        assert detail.refund_allowed in (0, 1)


# -- 3. the emulator's notifications, judged by the SDK's webhook handler -------------------------


async def test_the_sdk_webhook_handler_accepts_every_emulator_notification(env: Env) -> None:
    await env.drain()
    types = {event_type for event_type, _, _ in env.receiver.results}
    # The flows above produced every notification type the emulator sends.
    assert types == set(NOTIFICATION_MODELS)
    refused = [(event_type, error) for event_type, success, error in env.receiver.results if not success]
    assert refused == []
    response = await env.control.get("/notifications")
    to_sdk = [n for n in response.json()["notifications"] if n["url"] == env.notify_url]
    assert len(to_sdk) == len(env.receiver.results)
    # The emulator took the SDK's signed {"message":"success"} reply: nothing failed, nothing retried.
    assert {(n["status"], n["attempts"]) for n in to_sdk} == {("delivered", 1)}


# -- 4. notifications the SDK signs, read by our verifier -----------------------------------------


def sdk_signed(document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return body.encode(), {"X-SIGNATURE": rsa_utils.sign(body, waffo_keys().private_b64)}


PAYMENT_RESULT = {
    "paymentRequestId": "pay_1",
    "merchantOrderId": "ord-1",
    "acquiringOrderId": "A2026000000000000000000001",
    "orderStatus": "PAY_SUCCESS",
    "orderCurrency": "USD",
    "orderAmount": "10.00",
    "finalDealAmount": "10.00",
    "orderDescription": "x",
}
REFUND_RESULT = {
    "refundRequestId": "ref_1",
    "acquiringOrderId": "A2026000000000000000000001",
    "acquiringRefundOrderId": "R2026000000000000000000001",
    "refundAmount": "1.00",
    "refundStatus": "ORDER_PARTIALLY_REFUNDED",
    "remainingRefundAmount": "9.00",
}


@pytest.mark.parametrize(
    ("event_type", "result", "event_class"),
    [
        ("PAYMENT_NOTIFICATION", PAYMENT_RESULT, PaymentEvent),
        ("REFUND_NOTIFICATION", REFUND_RESULT, RefundEvent),
    ],
)
def test_our_verifier_accepts_notifications_the_sdk_signs(
    event_type: str, result: dict[str, Any], event_class: type[BaseModel]
) -> None:
    codec = WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)
    body, headers = sdk_signed({"eventType": event_type, "result": result})
    event = codec.parse_notification(body, headers)
    assert isinstance(event, event_class)
    if isinstance(event, PaymentEvent):
        assert event.outcome.status is PaymentStatus.SUCCEEDED
    reply = codec.success_reply()
    # Our reply is what the SDK itself would answer, and verifies with the SDK's code.
    assert reply.body == SUCCESS_REPLY_BODY == SUCCESS_RESPONSE_BODY.encode()
    sdk_reply = Waffo(sdk_config()).webhook().build_success_response()
    assert rsa_utils.verify(reply.body.decode(), reply.headers["X-SIGNATURE"], merchant_keys().public_b64)
    assert reply.headers["X-SIGNATURE"] == sdk_reply.signature
    assert codec.failure_reply().body == FAILED_RESPONSE_BODY.encode()


def test_an_unknown_event_type_is_refused_like_the_sdk_does() -> None:
    body, headers = sdk_signed({"eventType": "CHARGEBACK_NOTIFICATION", "result": {"chargebackId": "C1"}})
    sdk_result = Waffo(sdk_config()).webhook().handle_webhook(body.decode(), headers["X-SIGNATURE"])
    assert (sdk_result.success, sdk_result.response_body) == (False, FAILED_RESPONSE_BODY)
    codec = WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)
    event = codec.parse_notification(body, headers)
    assert isinstance(event, UnknownEvent)
    # The HTTP service answers an unknown Waffo event with the failure reply (tests/webhooks), so that Waffo
    # retries it as it would with its own SDK; the verifier says so.
    assert codec.acknowledges_unknown_events is False
