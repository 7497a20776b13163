"""Waffo emulator: authentication, response signing, validation, configuration endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.emulators.waffo_support import (
    API_KEY,
    MERCHANT_ID,
    WaffoApi,
    compact,
    new_key,
    order_payload,
    public_b64,
    rid,
    sign,
    subscription_payload,
    verify,
)


async def test_signed_request_is_accepted_and_response_is_signed(waffo: WaffoApi) -> None:
    body = compact(order_payload())
    response = await waffo.raw("order/create", body)
    assert response.status_code == 200
    assert verify(response.content, response.headers["x-signature"], waffo.emulator.waffo_public_key_b64())
    envelope = json.loads(response.content)
    assert set(envelope) == {"code", "msg", "data"}
    assert envelope["code"] == "0"
    assert envelope["msg"] == "Success"


async def test_signature_covers_raw_bytes_not_parsed_json(waffo: WaffoApi) -> None:
    # Whitespace and key order are irrelevant: the server verifies the bytes it received.
    body = json.dumps(order_payload(), indent=2, sort_keys=True).encode()
    response = await waffo.raw("order/create", body)
    assert json.loads(response.content)["code"] == "0"


async def test_tampered_body_is_rejected_with_a0002(waffo: WaffoApi) -> None:
    body = compact(order_payload(orderAmount="10.00"))
    signature = sign(body, waffo.merchant_key)
    tampered = body.replace(b'"10.00"', b'"1.00"')
    response = await waffo.raw("order/create", tampered, signature=signature)
    assert response.status_code == 401
    assert json.loads(response.content)["code"] == "A0002"
    assert verify(response.content, response.headers["x-signature"], waffo.emulator.waffo_public_key_b64())


async def test_wrong_key_is_rejected_with_a0002(waffo: WaffoApi) -> None:
    body = compact(order_payload())
    response = await waffo.raw("order/create", body, signature=sign(body, new_key()))
    assert (response.status_code, json.loads(response.content)["code"]) == (401, "A0002")


@pytest.mark.parametrize("signature", [None, "", "not-base64!!"])
async def test_missing_or_garbage_signature_is_rejected(waffo: WaffoApi, signature: str | None) -> None:
    body = compact(order_payload())
    if signature is None:
        response = await waffo.raw("order/create", body, omit_signature=True)
    else:
        headers = {"Content-Type": "application/json", "X-API-KEY": API_KEY, "X-SIGNATURE": signature}
        response = await waffo.http.post("/api/v1/order/create", content=body, headers=headers)
    assert (response.status_code, json.loads(response.content)["code"]) == (401, "A0002")


async def test_unknown_api_key_is_rejected_with_a0001(waffo: WaffoApi) -> None:
    envelope = await waffo.call("order/create", order_payload(), api_key="nope")
    assert (envelope["_http_status"], envelope["code"], envelope["data"]) == (401, "A0001", None)


async def test_merchant_registered_through_control_api(waffo: WaffoApi) -> None:
    other = new_key()
    response = await waffo.control(
        "POST", "/merchants", {"apiKey": "k2", "merchantId": "MID-2", "publicKey": public_b64(other)}
    )
    assert response.status_code == 200
    key = (await waffo.control("GET", "/waffo-public-key")).json()["publicKey"]
    assert key == waffo.emulator.waffo_public_key_b64()
    body = compact(order_payload(merchantInfo={"merchantId": "MID-2"}))
    response = await waffo.raw("order/create", body, api_key="k2", signature=sign(body, other))
    assert json.loads(response.content)["code"] == "0"


def _without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    parts = path.split(".")
    node = payload
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]
    return payload


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: _without(p, "paymentRequestId"), "paymentRequestId"),
        (lambda p: _without(p, "notifyUrl"), "notifyUrl"),
        (lambda p: _without(p, "userInfo.userEmail"), "userInfo.userEmail"),
        (lambda p: _without(p, "paymentInfo.productName"), "paymentInfo.productName"),
        (lambda p: {**p, "paymentRequestId": "x" * 33}, "paymentRequestId"),
        (lambda p: {**p, "orderRequestedAt": "2026-01-15 10:00:00"}, "orderRequestedAt"),
        (lambda p: {**p, "orderRequestedAt": "2026-01-15T10:00:00.0000Z"}, "orderRequestedAt"),
        (lambda p: {**p, "orderRequestedAt": "2026-01-15T10:00:00.000+08:00"}, "orderRequestedAt"),
        (lambda p: {**p, "orderAmount": "ten"}, "orderAmount"),
        (lambda p: {**p, "orderAmount": "-1.00"}, "orderAmount"),
        (lambda p: {**p, "orderAmount": 10.0}, "orderAmount"),
        (lambda p: {**p, "orderAmount": "10.001"}, "orderAmount"),
        (lambda p: {**p, "orderAmount": "0"}, "orderAmount"),
        (lambda p: {**p, "orderCurrency": "JPY", "orderAmount": "100.5"}, "orderAmount"),
        (lambda p: {**p, "orderCurrency": "usd"}, "orderCurrency"),
    ],
)
async def test_order_create_validation(waffo: WaffoApi, mutate: Any, field: str) -> None:
    envelope = await waffo.call("order/create", mutate(order_payload()))
    assert (envelope["_http_status"], envelope["code"]) == (400, "A0003")
    assert field in envelope["msg"]


@pytest.mark.parametrize(
    ("currency", "amount"),
    [("IDR", "50000"), ("IDR", "50000.00"), ("JPY", "500"), ("KWD", "1.250"), ("USD", "9.5")],
)
async def test_amounts_follow_currency_exponents(waffo: WaffoApi, currency: str, amount: str) -> None:
    data = await waffo.ok("order/create", order_payload(orderCurrency=currency, orderAmount=amount))
    assert data["orderStatus"] == "AUTHORIZATION_REQUIRED"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: _without(p, "paymentInfo.payMethodType"), "paymentInfo.payMethodType"),
        (lambda p: {**p, "productInfo": {**p["productInfo"], "periodType": "YEARLY"}}, "periodType"),
        (lambda p: {**p, "productInfo": {**p["productInfo"], "periodInterval": 1}}, "periodInterval"),
        (lambda p: _without(p, "requestedAt"), "requestedAt"),
        (lambda p: {**p, "subscriptionRequest": "s" * 33}, "subscriptionRequest"),
    ],
)
async def test_subscription_create_validation(waffo: WaffoApi, mutate: Any, field: str) -> None:
    envelope = await waffo.call("subscription/create", mutate(subscription_payload()))
    assert (envelope["_http_status"], envelope["code"]) == (400, "A0003")
    assert field in envelope["msg"]


async def test_capture_requires_capture_requested_at(waffo: WaffoApi) -> None:
    created = await waffo.ok("order/create", order_payload())
    envelope = await waffo.call(
        "order/capture",
        {
            "acquiringOrderId": created["acquiringOrderId"],
            "merchantId": MERCHANT_ID,
            "captureAmount": "10.00",
        },
    )
    assert envelope["code"] == "A0003"
    assert "captureRequestedAt" in envelope["msg"]


async def test_body_must_be_a_json_object(waffo: WaffoApi) -> None:
    response = await waffo.raw("order/inquiry", b"[1,2]")
    assert json.loads(response.content)["code"] == "A0003"


async def test_merchant_id_of_another_merchant_is_refused(waffo: WaffoApi) -> None:
    envelope = await waffo.call("order/create", order_payload(merchantInfo={"merchantId": "SOMEONE-ELSE"}))
    assert envelope["code"] == "A0004"


async def test_merchant_and_pay_method_config(waffo: WaffoApi) -> None:
    merchant = await waffo.ok("merchantconfig/inquiry", {"merchantId": MERCHANT_ID})
    assert merchant == {
        "merchantId": MERCHANT_ID,
        "totalDailyLimit": None,
        "remainingDailyLimit": None,
        "transactionLimit": None,
    }
    methods = await waffo.ok("paymethodconfig/inquiry", {"merchantId": MERCHANT_ID})
    assert methods["payMethodDetails"]
    assert {m["currentStatus"] for m in methods["payMethodDetails"]} == {"1"}


async def test_ids_and_timestamps_have_waffo_shapes(waffo: WaffoApi) -> None:
    created = await waffo.ok("order/create", order_payload(paymentRequestId=rid()))
    assert len(created["acquiringOrderId"]) <= 32
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": created["acquiringOrderId"]})
    import re

    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert pattern.match(order["orderUpdatedAt"])
    assert pattern.match(order["orderExpiredAt"])
    assert order["orderRequestedAt"] == "2026-01-15T10:00:00.000Z"
    assert order["addressInfo"] is None
