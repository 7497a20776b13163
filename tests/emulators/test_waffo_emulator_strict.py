"""Waffo emulator: what the real Waffo refuses is refused here too (documented required fields and codes).

Each rule names its source: the reference (/work/shared/reference/waffo.md) or the official SDK's error-code
tables and models. The lenient variants stay reachable through WaffoEmulatorConfig options.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulators.waffo import WaffoEmulatorConfig
from tests.emulators.waffo_support import MERCHANT_ID, NOW_TS, WaffoApi, order_payload, rid, subscription_payload


def _without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    document = json.loads(json.dumps(payload))
    node = document
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return document


@pytest.mark.parametrize(
    "path",
    [
        "goodsInfo",  # reference §3.1: required in practice
        "goodsInfo.goodsName",  # Waffo asked integrators to add goodsName
        "goodsInfo.goodsUrl",  # with appName absent too: "provide either goodsUrl or appName"
        "userInfo.userTerminal",  # reference §3.1 userInfo: userTerminal ✔
    ],
)
async def test_order_create_refuses_missing_required_fields(waffo: WaffoApi, path: str) -> None:
    envelope = await waffo.call("order/create", _without(order_payload(), path))
    assert (envelope["code"], envelope["_http_status"]) == ("A0003", 400)
    assert path in envelope["msg"]


async def test_order_create_accepts_app_name_instead_of_goods_url(waffo: WaffoApi) -> None:
    payload = order_payload(goodsInfo={"goodsName": "Widget", "appName": "com.merchant.app"})
    assert (await waffo.ok("order/create", payload))["orderStatus"] == "AUTHORIZATION_REQUIRED"


async def test_subscription_change_requires_goods_info(waffo: WaffoApi) -> None:
    original = await _active_subscription(waffo)
    change = {
        "subscriptionRequest": rid("c"),
        "originSubscriptionRequest": original["subscriptionRequest"],
        "remainingAmount": "0.00",
        "currency": "USD",
        "requestedAt": NOW_TS,
        "notifyUrl": "http://merchant.test/webhooks/waffo",
        "productInfoList": [{"description": "Pro", "periodType": "MONTHLY", "periodInterval": "1", "amount": "50.00"}],
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com"},
        "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
    }
    envelope = await waffo.call("subscription/change", change)
    assert (envelope["code"], "goodsInfo" in envelope["msg"]) == ("A0003", True)


async def test_subscription_create_refuses_a_missing_user_terminal(waffo: WaffoApi) -> None:
    envelope = await waffo.call("subscription/create", _without(subscription_payload(), "userInfo.userTerminal"))
    assert envelope["code"] == "A0003"
    assert "userInfo.userTerminal" in envelope["msg"]


async def test_goods_info_rule_can_be_relaxed(waffo: WaffoApi) -> None:
    waffo.emulator.config.require_goods_info = False
    payload = _without(order_payload(), "goodsInfo")
    assert (await waffo.ok("order/create", payload))["orderStatus"] == "AUTHORIZATION_REQUIRED"


def _capture_of(created: dict[str, Any]) -> dict[str, Any]:
    """The capture request for the whole of an order ``order/create`` answered with ``created``."""
    return {
        "acquiringOrderId": created["acquiringOrderId"],
        "merchantId": MERCHANT_ID,
        "captureAmount": "10.00",
        "captureRequestedAt": NOW_TS,
    }


async def test_capture_of_an_order_without_manual_capture_is_a0035(waffo: WaffoApi) -> None:
    created = await waffo.ok("order/create", order_payload())
    assert (await waffo.call("order/capture", _capture_of(created)))["code"] == "A0035"


async def test_capture_of_an_unauthorized_manual_capture_order_is_a0036(waffo: WaffoApi) -> None:
    payload = order_payload()
    payload["paymentInfo"] = {**payload["paymentInfo"], "captureMode": "manualCapture"}
    created = await waffo.ok("order/create", payload)
    assert (await waffo.call("order/capture", _capture_of(created)))["code"] == "A0036"


@pytest.mark.parametrize("amount", ["9", "90.00", "990"])
async def test_channel_rejection_travels_with_http_503(waffo: WaffoApi, amount: str) -> None:
    envelope = await waffo.call("order/create", order_payload(orderAmount=amount))
    assert (envelope["code"], envelope["_http_status"]) == ("C0005", 503)


async def test_pay_method_config_lists_type_currency_limits_and_refundability(waffo: WaffoApi) -> None:
    data = await waffo.ok("paymethodconfig/inquiry", {"merchantId": MERCHANT_ID})
    assert data["payMethodDetails"]
    for detail in data["payMethodDetails"]:
        assert {"payMethodType", "currency", "orderAmountMin", "orderAmountMax", "refundAllowed"} <= detail.keys()
        assert detail["payMethodType"] and detail["currency"]
        assert detail["refundAllowed"] in (0, 1)


async def test_subscription_action_is_a_json_action(waffo: WaffoApi) -> None:
    created = await waffo.ok("subscription/create", subscription_payload())
    action = json.loads(created["subscriptionAction"])
    assert action["actionType"] == "WEB"
    assert action["webUrl"].endswith(created["subscriptionId"])
    inquiry = await waffo.ok("subscription/inquiry", {"subscriptionId": created["subscriptionId"]})
    assert json.loads(inquiry["subscriptionAction"]) == action


async def test_subscription_action_can_be_a_bare_url(waffo: WaffoApi) -> None:
    waffo.emulator.config.subscription_action_format = "url"
    created = await waffo.ok("subscription/create", subscription_payload())
    assert created["subscriptionAction"].startswith("http")


async def _active_subscription(waffo: WaffoApi) -> dict[str, Any]:
    created = await waffo.ok("subscription/create", subscription_payload())
    response = await waffo.control("POST", f"/subscriptions/{created['subscriptionId']}/pay")
    assert response.status_code == 200, response.text
    return created


async def test_subscription_charge_inquiry_keeps_the_order_id_keys(waffo: WaffoApi) -> None:
    created = await _active_subscription(waffo)
    inquiry = await waffo.ok("subscription/inquiry", {"subscriptionId": created["subscriptionId"], "paymentDetails": 1})
    charge_id = inquiry["paymentDetails"][0]["acquiringOrderId"]
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": charge_id})
    # Required keys of AcqOrderInquiry: present, null for a Waffo-initiated charge.
    assert "paymentRequestId" in order
    assert "merchantOrderId" in order
    assert order["subscriptionInfo"]["subscriptionId"] == created["subscriptionId"]


async def test_subscription_update_with_topup_charges_once(waffo: WaffoApi) -> None:
    created = await _active_subscription(waffo)
    update = {
        "subscriptionId": created["subscriptionId"],
        "topupInfo": {"topupRequest": rid("t"), "topupAmount": "5.00", "description": "extra seats"},
    }
    data = await waffo.ok("subscription/update", update)
    topup = data["topupInfo"]
    assert topup["topupRequest"] == update["topupInfo"]["topupRequest"]
    assert topup["topupAmount"] == "5.00"
    assert topup["topupStatus"] == "PAY_SUCCESS"
    assert topup["acquiringOrderId"]
    again = await waffo.ok("subscription/update", update)
    assert again["topupInfo"]["acquiringOrderId"] == topup["acquiringOrderId"]
    charges = [e for e in await waffo.ledger() if e["kind"] == "charge" and e["amount"] == "5.00"]
    assert len(charges) == 1
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": topup["acquiringOrderId"]})
    assert (order["orderStatus"], order["orderAmount"]) == ("PAY_SUCCESS", "5.00")
    other = {**update, "topupInfo": {**update["topupInfo"], "topupAmount": "6.00"}}
    assert (await waffo.call("subscription/update", other))["code"] == "A0011"


def test_strict_is_the_default() -> None:
    config = WaffoEmulatorConfig()
    assert config.require_goods_info is True
    assert config.subscription_action_format == "json"
