"""Waffo emulator: subscriptions (first payment, renewals, expiry, cancel, manage, change, update)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from emulators.waffo.calendar import period_boundary
from tests.emulators.waffo_support import (
    MERCHANT_ID,
    NOTIFY_URL,
    NOW_TS,
    Receiver,
    WaffoApi,
    rid,
    subscription_payload,
)


async def _create(waffo: WaffoApi, **overrides: Any) -> dict[str, Any]:
    return await waffo.ok("subscription/create", subscription_payload(**overrides))


async def _control(waffo: WaffoApi, ref: str, action: str, body: Any = None, status: int = 200) -> dict[str, Any]:
    response = await waffo.control("POST", f"/subscriptions/{ref}/{action}", body)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def _active(waffo: WaffoApi, **overrides: Any) -> dict[str, Any]:
    created = await _create(waffo, **overrides)
    return await _control(waffo, created["subscriptionRequest"], "pay")


async def _inquiry(waffo: WaffoApi, subscription_id: str, details: int = 1) -> dict[str, Any]:
    return await waffo.ok("subscription/inquiry", {"subscriptionId": subscription_id, "paymentDetails": details})


def _events(receiver: Receiver) -> list[tuple[str, str]]:
    out = []
    for event in receiver.received:
        result = event["result"]
        status = result.get("orderStatus") or result.get("subscriptionStatus") or result.get("subscriptionChangeStatus")
        out.append((event["eventType"], status))
    return out


async def test_first_payment_activates_and_notifies(waffo: WaffoApi, receiver: Receiver) -> None:
    payload = subscription_payload()
    created = await waffo.ok("subscription/create", payload)
    assert created["subscriptionStatus"] == "AUTHORIZATION_REQUIRED"
    action = json.loads(created["subscriptionAction"])
    assert action == {
        "actionType": "WEB",
        "webUrl": f"http://waffo.test/checkout/subscription/{created['subscriptionId']}",
    }
    assert (await _inquiry(waffo, created["subscriptionId"]))["paymentDetails"] is None

    active = await _control(waffo, payload["subscriptionRequest"], "pay")
    assert active["subscriptionStatus"] == "ACTIVE"
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver) == [
        ("PAYMENT_NOTIFICATION", "PAY_SUCCESS"),
        ("SUBSCRIPTION_STATUS_NOTIFICATION", "ACTIVE"),
    ]
    payment = receiver.received[0]["result"]
    assert payment["subscriptionInfo"]["period"] == "1"
    assert payment["subscriptionInfo"]["subscriptionId"] == created["subscriptionId"]
    assert payment["subscriptionInfo"]["subscriptionRequest"] == payload["subscriptionRequest"]
    assert payment["paymentInfo"]["productName"] == "SUBSCRIPTION"
    assert payment["orderAmount"] == "20.00"
    status = receiver.received[1]["result"]
    assert status["productInfo"]["currentPeriod"] == "1"
    assert status["paymentDetails"][0]["orderStatus"] == "PAY_SUCCESS"

    [entry] = await waffo.ledger()
    assert (entry["kind"], entry["amount"], entry["subscriptionId"], entry["period"]) == (
        "charge",
        "20.00",
        created["subscriptionId"],
        "1",
    )
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": payment["acquiringOrderId"]})
    assert order["subscriptionInfo"]["period"] == "1"
    assert (await _inquiry(waffo, created["subscriptionId"], details=0))["paymentDetails"] is None


async def test_renewals_success_and_failure(waffo: WaffoApi, receiver: Receiver) -> None:
    active = await _active(waffo)
    sub_id = active["subscriptionId"]
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    receiver.received.clear()

    renewed = await _control(waffo, sub_id, "renew", {"succeed": True})
    assert renewed["productInfo"]["currentPeriod"] == "2"
    failed = await _control(waffo, sub_id, "renew", {"succeed": False})
    assert failed["productInfo"]["currentPeriod"] == "2"
    assert failed["subscriptionStatus"] == "ACTIVE"
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver) == [
        ("PAYMENT_NOTIFICATION", "PAY_SUCCESS"),
        ("SUBSCRIPTION_PERIOD_CHANGED_NOTIFICATION", "ACTIVE"),
        ("PAYMENT_NOTIFICATION", "ORDER_CLOSE"),
    ]
    assert receiver.received[0]["result"]["subscriptionInfo"]["period"] == "2"
    assert receiver.received[2]["result"]["subscriptionInfo"]["period"] == "3"
    assert isinstance(receiver.received[2]["result"]["orderFailedReason"], str)

    details = (await _inquiry(waffo, sub_id))["paymentDetails"]
    assert [(d["period"], d["orderStatus"]) for d in details] == [
        ("1", "PAY_SUCCESS"),
        ("2", "PAY_SUCCESS"),
        ("3", "ORDER_CLOSE"),
    ]
    assert len({d["acquiringOrderId"] for d in details}) == 3
    for detail in details:
        order = await waffo.ok("order/inquiry", {"acquiringOrderId": detail["acquiringOrderId"]})
        assert order["orderStatus"] == detail["orderStatus"]
    assert [(e["kind"], e["period"]) for e in await waffo.ledger()] == [("charge", "1"), ("charge", "2")]


async def test_expires_after_number_of_periods(waffo: WaffoApi, receiver: Receiver) -> None:
    product = {
        "description": "Two months",
        "periodType": "MONTHLY",
        "periodInterval": "1",
        "numberOfPeriod": "2",
    }
    active = await _active(waffo, productInfo=product)
    sub_id = active["subscriptionId"]
    assert active["productInfo"]["endDateTime"] is not None
    last = await _control(waffo, sub_id, "renew", {"succeed": True})
    assert last["productInfo"]["nextPaymentDateTime"] is None
    expired = await _control(waffo, sub_id, "renew", {"succeed": True})
    assert expired["subscriptionStatus"] == "EXPIRED"
    await _control(waffo, sub_id, "renew", {"succeed": True}, status=409)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver)[-1] == ("SUBSCRIPTION_STATUS_NOTIFICATION", "EXPIRED")
    assert len(await waffo.ledger()) == 2


async def test_month_end_anchor_clamps_without_drifting(waffo: WaffoApi) -> None:
    response = await waffo.control("POST", "/clock/set", {"now": "2024-01-31T10:00:00.000Z"})
    assert response.status_code == 200
    active = await _active(waffo)
    assert active["productInfo"]["startDateTime"].startswith("2024-01-31T10:00:00")
    assert active["productInfo"]["nextPaymentDateTime"].startswith("2024-02-29T10:00:00")
    renewed = await _control(waffo, active["subscriptionId"], "renew", {"succeed": True})
    assert renewed["productInfo"]["nextPaymentDateTime"].startswith("2024-03-31T10:00:00")
    renewed = await _control(waffo, active["subscriptionId"], "renew", {"succeed": True})
    assert renewed["productInfo"]["nextPaymentDateTime"].startswith("2024-04-30T10:00:00")


@pytest.mark.parametrize(
    ("period_type", "interval", "periods", "expected"),
    [
        ("MONTHLY", 1, 1, "2023-02-28"),
        ("MONTHLY", 1, 2, "2023-03-31"),
        ("MONTHLY", 12, 1, "2024-01-31"),
        ("MONTHLY", 1, 13, "2024-02-29"),
        ("WEEKLY", 2, 1, "2023-02-14"),
        ("DAILY", 1, 1, "2023-02-01"),
    ],
)
def test_period_boundaries(period_type: str, interval: int, periods: int, expected: str) -> None:
    anchor = datetime(2023, 1, 31, 8, 30, tzinfo=UTC)
    assert period_boundary(anchor, period_type, interval, periods).date().isoformat() == expected


async def test_first_payment_failure_closes(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo)
    closed = await _control(waffo, created["subscriptionId"], "fail")
    assert closed["subscriptionStatus"] == "CLOSE"
    assert isinstance(closed["failedReason"], str)
    await _control(waffo, created["subscriptionId"], "pay", status=409)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver) == [
        ("PAYMENT_NOTIFICATION", "ORDER_CLOSE"),
        ("SUBSCRIPTION_STATUS_NOTIFICATION", "CLOSE"),
    ]
    manage = await waffo.call("subscription/manage", {"subscriptionId": created["subscriptionId"]})
    assert manage["code"] == "A0010"
    assert await waffo.ledger() == []


async def test_cancel_and_manage_only_when_active(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo)
    cancel = {"subscriptionId": created["subscriptionId"], "merchantId": MERCHANT_ID, "requestedAt": NOW_TS}
    assert (await waffo.call("subscription/cancel", cancel))["code"] == "A0010"
    await _control(waffo, created["subscriptionId"], "pay")

    manage = await waffo.ok("subscription/manage", {"subscriptionRequest": created["subscriptionRequest"]})
    assert manage["managementUrl"].startswith("http://waffo.test/manage/subscription/")
    assert manage["expiredAt"].endswith("Z")
    page = await waffo.http.get(manage["managementUrl"])
    assert "Next period payment success" in page.text

    cancelled = await waffo.ok("subscription/cancel", cancel)
    assert cancelled["orderStatus"] == "MERCHANT_CANCELLED"
    assert (await waffo.ok("subscription/cancel", cancel))["orderStatus"] == "MERCHANT_CANCELLED"
    assert (await waffo.call("subscription/manage", {"subscriptionId": created["subscriptionId"]}))["code"] == "A0010"
    await _control(waffo, created["subscriptionId"], "renew", {"succeed": True}, status=409)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver)[-1] == ("SUBSCRIPTION_STATUS_NOTIFICATION", "MERCHANT_CANCELLED")


async def test_user_cancel(waffo: WaffoApi, receiver: Receiver) -> None:
    active = await _active(waffo)
    cancelled = await _control(waffo, active["subscriptionId"], "user-cancel")
    assert cancelled["subscriptionStatus"] == "USER_CANCELLED"
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver)[-1] == ("SUBSCRIPTION_STATUS_NOTIFICATION", "USER_CANCELLED")


def _change_payload(origin_request: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "subscriptionRequest": rid("c"),
        "originSubscriptionRequest": origin_request,
        "merchantSubscriptionId": rid("ms"),
        "remainingAmount": "5.00",
        "currency": "USD",
        "requestedAt": NOW_TS,
        "notifyUrl": NOTIFY_URL,
        "productInfoList": [
            {"description": "Pro monthly", "periodType": "MONTHLY", "periodInterval": "1", "amount": "50.00"}
        ],
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com"},
        "goodsInfo": {"goodsName": "Pro"},
        "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
    }
    payload.update(overrides)
    return payload


async def test_change_replaces_the_original(waffo: WaffoApi, receiver: Receiver) -> None:
    original = await _active(waffo)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    receiver.received.clear()

    payload = _change_payload(original["subscriptionRequest"])
    change = await waffo.ok("subscription/change", payload)
    assert change["subscriptionChangeStatus"] == "AUTHORIZATION_REQUIRED"
    assert change["subscriptionId"] != original["subscriptionId"]
    action = json.loads(change["subscriptionAction"])
    assert action["webUrl"].endswith(f"/checkout/subscription/{change['subscriptionId']}")
    replay = await waffo.ok("subscription/change", {**payload, "requestedAt": "2026-01-15T10:01:00.000Z"})
    assert replay["subscriptionId"] == change["subscriptionId"]
    assert (await waffo.call("subscription/change", {**payload, "remainingAmount": "6.00"}))["code"] == "A0011"
    inquiry_body = {
        "originSubscriptionRequest": original["subscriptionRequest"],
        "subscriptionRequest": payload["subscriptionRequest"],
    }
    pending = await waffo.ok("subscription/change/inquiry", inquiry_body)
    assert pending["subscriptionChangeStatus"] == "AUTHORIZATION_REQUIRED"

    new = await _control(waffo, change["subscriptionId"], "pay")
    assert new["subscriptionStatus"] == "ACTIVE"
    assert new["amount"] == "50.00"
    done = await waffo.ok("subscription/change/inquiry", inquiry_body)
    assert done["subscriptionChangeStatus"] == "SUCCESS"
    old = await _inquiry(waffo, original["subscriptionId"])
    assert old["subscriptionStatus"] == "MERCHANT_CANCELLED"

    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert _events(receiver) == [
        ("PAYMENT_NOTIFICATION", "PAY_SUCCESS"),
        ("SUBSCRIPTION_CHANGE_NOTIFICATION", "SUCCESS"),
        ("SUBSCRIPTION_STATUS_NOTIFICATION", "MERCHANT_CANCELLED"),
        ("SUBSCRIPTION_STATUS_NOTIFICATION", "ACTIVE"),
    ]
    change_event = receiver.received[1]["result"]
    assert change_event["originSubscriptionRequest"] == original["subscriptionRequest"]
    assert change_event["subscriptionId"] == change["subscriptionId"]
    # The credit from the original plan reduces the first charge of the new one: 50 - 5.
    amounts = [(e["subscriptionId"], e["amount"]) for e in await waffo.ledger()]
    assert amounts == [(original["subscriptionId"], "20.00"), (change["subscriptionId"], "45.00")]


async def test_change_requires_an_active_original(waffo: WaffoApi) -> None:
    created = await _create(waffo)
    envelope = await waffo.call("subscription/change", _change_payload(created["subscriptionRequest"]))
    assert envelope["code"] == "A0010"
    missing = await waffo.call("subscription/change", _change_payload(rid("none")))
    assert missing["code"] == "A0009"


async def test_failed_change_authorization_keeps_the_original(waffo: WaffoApi, receiver: Receiver) -> None:
    original = await _active(waffo)
    change = await waffo.ok("subscription/change", _change_payload(original["subscriptionRequest"]))
    await _control(waffo, change["subscriptionId"], "fail")
    assert (await _inquiry(waffo, original["subscriptionId"]))["subscriptionStatus"] == "ACTIVE"
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert ("SUBSCRIPTION_CHANGE_NOTIFICATION", "CLOSED") in _events(receiver)


async def test_subscription_idempotency_and_magic_amounts(waffo: WaffoApi) -> None:
    payload = subscription_payload()
    first = await waffo.ok("subscription/create", payload)
    replay = await waffo.ok("subscription/create", {**payload, "requestedAt": "2026-01-15T10:00:01.000Z"})
    assert replay["subscriptionId"] == first["subscriptionId"]
    assert (await waffo.call("subscription/create", {**payload, "amount": "21.00"}))["code"] == "A0011"

    assert (await waffo.call("subscription/create", subscription_payload(amount="91.00")))["code"] == "C0001"
    assert (await waffo.call("subscription/create", subscription_payload(amount="990")))["code"] == "C0005"
    unknown = subscription_payload(amount="9.20")
    envelope = await waffo.call("subscription/create", unknown)
    assert (envelope["code"], envelope["_http_status"]) == ("E0001", 500)
    found = await waffo.ok("subscription/inquiry", {"subscriptionRequest": unknown["subscriptionRequest"]})
    assert found["subscriptionStatus"] == "IN_PROGRESS"
    assert (await _control(waffo, found["subscriptionId"], "pay"))["subscriptionStatus"] == "ACTIVE"


async def test_unpaid_subscription_closes_after_default_expiry(waffo: WaffoApi) -> None:
    created = await _create(waffo)
    await waffo.control("POST", "/clock/advance", {"seconds": 4 * 3600 + 1})
    assert (await _inquiry(waffo, created["subscriptionId"]))["subscriptionStatus"] == "CLOSE"


async def test_update_schedules_a_new_amount(waffo: WaffoApi) -> None:
    active = await _active(waffo)
    update = {
        "subscriptionId": active["subscriptionId"],
        "productInfo": {"scheduledAmounts": [{"period": "2", "amount": "15.00"}]},
    }
    data = await waffo.ok("subscription/update", update)
    assert data["nextEffectivePeriod"] == "2"
    assert data["newScheduledAmounts"] == [{"period": "2", "amount": "15.00"}]
    await _control(waffo, active["subscriptionId"], "renew", {"succeed": True})
    assert [e["amount"] for e in await waffo.ledger()] == ["20.00", "15.00"]


async def test_subscription_checkout_page(waffo: WaffoApi) -> None:
    created = await _create(waffo)
    page = await waffo.http.get(f"/checkout/subscription/{created['subscriptionId']}")
    assert page.status_code == 200
    assert "Monthly plan" in page.text
    done = await waffo.http.post(f"/checkout/subscription/{created['subscriptionId']}/pay")
    assert "ACTIVE" in done.text
