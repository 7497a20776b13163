"""Waffo emulator: order lifecycle, notifications, capture, cancel, refunds, idempotency."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import pytest

from emulators.waffo import WaffoEmulatorConfig
from tests.emulators.waffo_support import MERCHANT_ID, NOW_TS, Receiver, WaffoApi, order_payload, rid


async def _create(waffo: WaffoApi, **overrides: Any) -> dict[str, Any]:
    return await waffo.ok("order/create", order_payload(**overrides))


async def _pay(waffo: WaffoApi, ref: str) -> dict[str, Any]:
    response = await waffo.control("POST", f"/orders/{ref}/pay")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _refund_payload(acquiring_order_id: str, amount: str, **overrides: Any) -> dict[str, Any]:
    payload = {
        "refundRequestId": rid("r"),
        "acquiringOrderId": acquiring_order_id,
        "merchantId": MERCHANT_ID,
        "requestedAt": NOW_TS,
        "refundAmount": amount,
        "refundReason": "customer request",
        "refundNotifyUrl": "http://merchant.test/webhooks/waffo",
    }
    payload.update(overrides)
    return payload


async def test_create_pay_success_with_signed_notification(waffo: WaffoApi, receiver: Receiver) -> None:
    payload = order_payload()
    created = await waffo.ok("order/create", payload)
    assert created["orderStatus"] == "AUTHORIZATION_REQUIRED"
    assert created["paymentRequestId"] == payload["paymentRequestId"]
    action = json.loads(created["orderAction"])  # a JSON-encoded string
    assert action == {
        "actionType": "WEB",
        "webUrl": f"http://waffo.test/checkout/{created['acquiringOrderId']}",
    }

    viewed = await _pay(waffo, payload["paymentRequestId"])
    assert viewed["orderStatus"] == "PAY_SUCCESS"
    assert await waffo.emulator.drain_notifications(timeout_s=5)

    [event] = receiver.events("PAYMENT_NOTIFICATION")
    result = event["result"]
    assert result["orderStatus"] == "PAY_SUCCESS"
    assert result["acquiringOrderId"] == created["acquiringOrderId"]
    assert result["paymentRequestId"] == payload["paymentRequestId"]
    assert result["orderAmount"] == "10.00"
    assert result["finalDealAmount"] == "10.00"
    assert result["paymentInfo"]["payMethodName"] == "CC_VISA"
    assert result["refundExpiryAt"].endswith("T23:59:59.999Z")
    # The exact bytes were signed (verified by the receiver) and are compact JSON.
    raw_body, signature = receiver.raw[0]
    assert signature and b": " not in raw_body

    by_request = await waffo.ok("order/inquiry", {"paymentRequestId": payload["paymentRequestId"]})
    by_order = await waffo.ok("order/inquiry", {"acquiringOrderId": created["acquiringOrderId"]})
    assert by_request == by_order
    assert by_request["orderStatus"] == "PAY_SUCCESS"
    assert by_request["subscriptionInfo"] is None

    log = (await waffo.control("GET", "/notifications")).json()
    assert [e["accepted"] for e in log["entries"]] == [True]
    assert log["notifications"][0]["status"] == "delivered"

    [entry] = await waffo.ledger()
    assert entry["kind"] == "charge"
    assert entry["amount"] == "10.00"
    assert entry["currency"] == "USD"
    assert entry["paymentRequestId"] == payload["paymentRequestId"]
    assert entry["acquiringOrderId"] == created["acquiringOrderId"]
    assert entry["merchantId"] == MERCHANT_ID


async def test_inquiry_of_unknown_order_is_a0009(waffo: WaffoApi) -> None:
    envelope = await waffo.call("order/inquiry", {"paymentRequestId": rid()})
    assert (envelope["code"], envelope["_http_status"]) == ("A0009", 400)


async def test_notification_retried_until_reply_is_exactly_right(waffo: WaffoApi, receiver: Receiver) -> None:
    receiver.replies = [
        "wrong_body",
        "spaced_body",
        "wrong_content_type",
        "missing_signature",
        "bad_signature",
        "http_500",
        "charset",
    ]
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    assert await waffo.emulator.drain_notifications(timeout_s=10)
    log = (await waffo.control("GET", "/notifications")).json()
    attempts = log["entries"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6, 7]
    assert [a["accepted"] for a in attempts] == [False] * 6 + [True]
    reasons = [a["reason"] for a in attempts[:6]]
    assert "body" in reasons[0] and "body" in reasons[1]
    assert "Content-Type" in reasons[2]
    assert "X-SIGNATURE" in reasons[3] and "X-SIGNATURE" in reasons[4]
    assert attempts[5]["httpStatus"] == 500
    assert attempts[0]["replyBody"] == '{"status":"success"}'
    # Every attempt carried identical, signed bytes.
    assert len({body for body, _ in receiver.raw}) == 1


async def test_notification_permanently_fails_after_eight_attempts(waffo: WaffoApi, receiver: Receiver) -> None:
    receiver.replies = ["http_500"] * 20
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    assert await waffo.emulator.drain_notifications(timeout_s=15)
    log = (await waffo.control("GET", "/notifications")).json()
    assert len(log["entries"]) == 8
    assert log["notifications"][0]["status"] == "failed"


async def test_retry_delays_follow_waffo_schedule(waffo_config: WaffoEmulatorConfig) -> None:
    from emulators.waffo.config import WAFFO_RETRY_DELAYS_S

    assert WAFFO_RETRY_DELAYS_S == (30, 60, 240, 1800, 14400, 28800, 28800)
    assert waffo_config.notify_retry_delays_s == WAFFO_RETRY_DELAYS_S


async def test_customer_failure_closes_order_with_reason_string(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo)
    response = await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/fail", {"orderFailedCode": "K024"})
    assert response.json()["orderStatus"] == "ORDER_CLOSE"
    reason = response.json()["orderFailedReason"]
    assert isinstance(reason, str)
    assert json.loads(reason)["orderFailedCode"] == "K024"
    again = await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/pay")
    assert again.status_code == 409
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert receiver.events()[0]["result"]["orderStatus"] == "ORDER_CLOSE"
    assert await waffo.ledger() == []


async def test_control_unknown_order_is_404(waffo: WaffoApi) -> None:
    response = await waffo.control("POST", "/orders/nope/pay")
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize("action", ["abandon", "expire"])
async def test_abandon_and_expire_close_the_order(waffo: WaffoApi, action: str) -> None:
    created = await _create(waffo)
    response = await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/{action}")
    assert response.json()["orderStatus"] == "ORDER_CLOSE"


async def test_order_expires_when_clock_passes_order_expired_at(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo)
    response = await waffo.control("POST", "/clock/advance", {"seconds": 3601})
    assert response.status_code == 200
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": created["acquiringOrderId"]})
    assert order["orderStatus"] == "ORDER_CLOSE"
    assert "timeout" in json.loads(order["orderFailedReason"])["orderFailedDescription"]
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert receiver.events()[0]["result"]["orderStatus"] == "ORDER_CLOSE"


async def test_explicit_order_expired_at_is_honoured(waffo: WaffoApi) -> None:
    created = await _create(waffo, orderExpiredAt="2000-01-01T00:00:00.000Z")
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": created["acquiringOrderId"]})
    assert order["orderStatus"] == "ORDER_CLOSE"


async def test_manual_capture_full_and_partial(waffo: WaffoApi, receiver: Receiver) -> None:
    info = {"productName": "ONE_TIME_PAYMENT", "payMethodType": "CREDITCARD", "captureMode": "manualCapture"}
    created = await _create(waffo, paymentInfo=info)
    order_id = created["acquiringOrderId"]
    paid = await _pay(waffo, order_id)
    assert paid["orderStatus"] == "AUTHED_WAITING_CAPTURE"
    assert [e["kind"] for e in await waffo.ledger()] == ["authorization"]
    # Not pushed by default (unknown for real Waffo): the merchant polls.
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert receiver.events() == []

    capture = {
        "acquiringOrderId": order_id,
        "merchantId": MERCHANT_ID,
        "captureAmount": "7.50",
        "captureRequestedAt": NOW_TS,
    }
    assert (await waffo.call("order/capture", {**capture, "captureAmount": "10.01"}))["code"] == "A0003"
    data = await waffo.ok("order/capture", capture)
    assert data["orderStatus"] == "CAPTURE_IN_PROGRESS"
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": order_id})
    assert order["orderStatus"] == "PAY_SUCCESS"
    assert order["finalDealAmount"] == "7.50"
    # A replayed capture is answered with the current state and moves no money.
    again = await waffo.ok("order/capture", {**capture, "captureRequestedAt": "2026-01-15T10:00:05.000Z"})
    assert again["orderStatus"] == "PAY_SUCCESS"
    kinds = [(e["kind"], e["amount"]) for e in await waffo.ledger()]
    assert kinds == [("authorization", "10.00"), ("capture", "7.50"), ("void", "2.50")]
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert [e["result"]["orderStatus"] for e in receiver.events()] == ["PAY_SUCCESS"]
    # Refunds are limited to the captured amount.
    too_much = await waffo.call("order/refund", _refund_payload(order_id, "8.00"))
    assert too_much["code"] == "A0014"


async def test_cancel_rules(waffo: WaffoApi) -> None:
    unpaid = await _create(waffo)
    cancel = {
        "acquiringOrderId": unpaid["acquiringOrderId"],
        "merchantId": MERCHANT_ID,
        "orderRequestedAt": NOW_TS,
    }
    data = await waffo.ok("order/cancel", cancel)
    assert data["orderStatus"] == "ORDER_CLOSE"
    assert (await waffo.ok("order/cancel", cancel))["orderStatus"] == "ORDER_CLOSE"  # idempotent

    paid = await _create(waffo)
    await _pay(waffo, paid["acquiringOrderId"])
    envelope = await waffo.call(
        "order/cancel",
        {"paymentRequestId": paid["paymentRequestId"], "merchantId": MERCHANT_ID, "orderRequestedAt": NOW_TS},
    )
    assert (envelope["code"], envelope["_http_status"]) == ("A0013", 400)

    missing_time = await waffo.call(
        "order/cancel", {"acquiringOrderId": unpaid["acquiringOrderId"], "merchantId": MERCHANT_ID}
    )
    assert missing_time["code"] == "A0003"


async def test_cancel_of_an_authorization_voids_it(waffo: WaffoApi) -> None:
    info = {"productName": "ONE_TIME_PAYMENT", "payMethodType": "CREDITCARD", "captureMode": "manualCapture"}
    created = await _create(waffo, paymentInfo=info)
    await _pay(waffo, created["acquiringOrderId"])
    cancel = {
        "acquiringOrderId": created["acquiringOrderId"],
        "merchantId": MERCHANT_ID,
        "orderRequestedAt": NOW_TS,
    }
    assert (await waffo.ok("order/cancel", cancel))["orderStatus"] == "ORDER_CLOSE"
    assert [e["kind"] for e in await waffo.ledger()] == ["authorization", "void"]


async def test_refunds_track_the_remaining_amount(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo, orderAmount="100.00")
    order_id = created["acquiringOrderId"]
    unpaid = await waffo.call("order/refund", _refund_payload(order_id, "10.00"))
    assert (unpaid["code"], unpaid["_http_status"]) == ("A0014", 400)

    await _pay(waffo, order_id)
    first = await waffo.ok("order/refund", _refund_payload(order_id, "30.00"))
    assert first["refundStatus"] == "REFUND_IN_PROGRESS"
    assert first["remainingRefundAmount"] == "70.00"
    assert len(first["acquiringRefundOrderId"]) <= 32
    inquiry = await waffo.ok("refund/inquiry", {"refundRequestId": first["refundRequestId"]})
    assert inquiry["refundStatus"] == "ORDER_PARTIALLY_REFUNDED"
    assert inquiry["origPaymentRequestId"] == created["paymentRequestId"]

    over = await waffo.call("order/refund", _refund_payload(order_id, "70.01"))
    assert over["code"] == "A0014"
    second = await waffo.ok("order/refund", _refund_payload(order_id, "70"))
    assert second["remainingRefundAmount"] == "0.00"
    by_id = await waffo.ok("refund/inquiry", {"acquiringRefundOrderId": second["acquiringRefundOrderId"]})
    assert by_id["refundStatus"] == "ORDER_FULLY_REFUNDED"
    assert (await waffo.call("order/refund", _refund_payload(order_id, "0.01")))["code"] == "A0014"

    assert await waffo.emulator.drain_notifications(timeout_s=5)
    refunds = receiver.events("REFUND_NOTIFICATION")
    assert [r["result"]["refundStatus"] for r in refunds] == [
        "ORDER_PARTIALLY_REFUNDED",
        "ORDER_FULLY_REFUNDED",
    ]
    assert all(r["result"]["acquiringOrderId"] == order_id for r in refunds)
    entries = await waffo.ledger()
    assert [(e["kind"], e["amount"]) for e in entries] == [
        ("charge", "100.00"),
        ("refund", "30.00"),
        ("refund", "70.00"),
    ]
    assert entries[1]["refundRequestId"] == first["refundRequestId"]
    unknown = await waffo.call("refund/inquiry", {"refundRequestId": rid()})
    assert unknown["code"] == "A0009"


async def test_refund_notification_falls_back_to_order_notify_url(waffo: WaffoApi, receiver: Receiver) -> None:
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    payload = _refund_payload(created["acquiringOrderId"], "1.00")
    del payload["refundNotifyUrl"]
    await waffo.ok("order/refund", payload)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert len(receiver.events("REFUND_NOTIFICATION")) == 1


async def test_refund_left_in_progress_can_fail(waffo_config: WaffoEmulatorConfig, waffo: WaffoApi) -> None:
    waffo.emulator.config.refund_delay_s = None
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    refund = await waffo.ok("order/refund", _refund_payload(created["acquiringOrderId"], "10.00"))
    inquiry = await waffo.ok("refund/inquiry", {"refundRequestId": refund["refundRequestId"]})
    assert inquiry["refundStatus"] == "REFUND_IN_PROGRESS"
    assert (await waffo.call("order/refund", _refund_payload(created["acquiringOrderId"], "0.01")))["code"] == "A0014"
    failed = await waffo.control("POST", f"/refunds/{refund['refundRequestId']}/fail")
    assert failed.json()["refundStatus"] == "ORDER_REFUND_FAILED"
    assert json.loads(failed.json()["refundFailedReason"])
    # The reservation is released: the full amount is refundable again.
    retry = await waffo.ok("order/refund", _refund_payload(created["acquiringOrderId"], "10.00"))
    assert retry["remainingRefundAmount"] == "0.00"
    assert [e["kind"] for e in await waffo.ledger()] == ["charge"]


async def test_refund_completes_after_configured_delay(waffo: WaffoApi) -> None:
    waffo.emulator.config.refund_delay_s = 0.05
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    refund = await waffo.ok("order/refund", _refund_payload(created["acquiringOrderId"], "5.00"))
    status = (await waffo.ok("refund/inquiry", {"refundRequestId": refund["refundRequestId"]}))["refundStatus"]
    assert status == "REFUND_IN_PROGRESS"
    # The refund completes on a timer 0.05 s later: inquire until it did (bounded).
    deadline = time.monotonic() + 5.0
    while status == "REFUND_IN_PROGRESS" and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        status = (await waffo.ok("refund/inquiry", {"refundRequestId": refund["refundRequestId"]}))["refundStatus"]
    assert status == "ORDER_PARTIALLY_REFUNDED"


async def test_idempotent_order_create(waffo: WaffoApi) -> None:
    payload = order_payload()
    first = await waffo.ok("order/create", payload)
    # SDKs refill orderRequestedAt on every call: still the same request.
    replay = await waffo.ok("order/create", {**payload, "orderRequestedAt": "2026-01-15T10:00:09.000Z"})
    assert replay["acquiringOrderId"] == first["acquiringOrderId"]
    await _pay(waffo, first["acquiringOrderId"])
    after_payment = await waffo.ok("order/create", payload)
    assert after_payment["orderStatus"] == "PAY_SUCCESS"
    assert after_payment["acquiringOrderId"] == first["acquiringOrderId"]
    conflict = await waffo.call("order/create", {**payload, "orderAmount": "11.00"})
    assert (conflict["code"], conflict["_http_status"]) == ("A0011", 400)
    assert len(await waffo.ledger()) == 1


async def test_idempotent_refund(waffo: WaffoApi) -> None:
    created = await _create(waffo)
    await _pay(waffo, created["acquiringOrderId"])
    payload = _refund_payload(created["acquiringOrderId"], "4.00")
    first = await waffo.ok("order/refund", payload)
    replay = await waffo.ok("order/refund", {**payload, "requestedAt": "2026-01-15T11:00:00.000Z"})
    assert replay["acquiringRefundOrderId"] == first["acquiringRefundOrderId"]
    assert replay["refundStatus"] == "ORDER_PARTIALLY_REFUNDED"
    assert (await waffo.call("order/refund", {**payload, "refundAmount": "5.00"}))["code"] == "A0011"
    assert [e["kind"] for e in await waffo.ledger()] == ["charge", "refund"]


@pytest.mark.parametrize(
    ("amount", "code", "http_status"),
    [
        ("9.1", "C0001", 500),
        ("9.10", "C0001", 500),
        ("91", "C0001", 500),
        ("991.00", "C0001", 500),
        ("9", "C0005", 503),
        ("90.00", "C0005", 503),
        ("990", "C0005", 503),
    ],
)
async def test_magic_amounts_create_nothing(waffo: WaffoApi, amount: str, code: str, http_status: int) -> None:
    payload = order_payload(orderAmount=amount)
    envelope = await waffo.call("order/create", payload)
    assert (envelope["code"], envelope["_http_status"], envelope["data"]) == (code, http_status, None)
    inquiry = await waffo.call("order/inquiry", {"paymentRequestId": payload["paymentRequestId"]})
    assert inquiry["code"] == "A0009"


@pytest.mark.parametrize("amount", ["9.2", "92", "992.00"])
async def test_magic_e0001_creates_an_order_recoverable_by_inquiry(waffo: WaffoApi, amount: str) -> None:
    payload = order_payload(orderAmount=amount)
    envelope = await waffo.call("order/create", payload)
    assert (envelope["code"], envelope["_http_status"]) == ("E0001", 500)
    order = await waffo.ok("order/inquiry", {"paymentRequestId": payload["paymentRequestId"]})
    assert order["orderStatus"] == "PAY_IN_PROGRESS"
    replay = await waffo.ok("order/create", payload)
    assert replay["acquiringOrderId"] == order["acquiringOrderId"]
    paid = await _pay(waffo, payload["paymentRequestId"])
    assert paid["orderStatus"] == "PAY_SUCCESS"


async def test_checkout_pages(waffo: WaffoApi) -> None:
    created = await _create(waffo, orderDescription="Blue <widget>")
    page = await waffo.http.get(f"/checkout/{created['acquiringOrderId']}")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Blue &lt;widget&gt;" in page.text
    assert f"/checkout/{created['acquiringOrderId']}/pay" in page.text
    done = await waffo.http.post(f"/checkout/{created['acquiringOrderId']}/pay")
    assert "PAY_SUCCESS" in done.text
    assert "https://merchant.test/ok" in done.text
    again = await waffo.http.post(f"/checkout/{created['acquiringOrderId']}/fail")
    assert "Not possible" in again.text
    missing = await waffo.http.get("/checkout/A000")
    assert missing.status_code == 404


async def test_amount_strings_are_decimal_not_float(waffo: WaffoApi) -> None:
    created = await _create(waffo, orderAmount="0.30")
    await _pay(waffo, created["acquiringOrderId"])
    for amount in ("0.10", "0.20"):
        await waffo.ok("order/refund", _refund_payload(created["acquiringOrderId"], amount))
    entries = await waffo.ledger()
    assert sum(Decimal(e["amount"]) for e in entries if e["kind"] == "refund") == Decimal("0.30")
    order = await waffo.call("order/refund", _refund_payload(created["acquiringOrderId"], "0.01"))
    assert order["code"] == "A0014"


async def test_retry_waits_for_the_scaled_delay(waffo: WaffoApi, receiver: Receiver) -> None:
    import time

    waffo.emulator.config.notify_time_scale = 0.01  # attempt 2 comes 30 s × 0.01 = 0.3 s after attempt 1
    receiver.replies = ["http_500"]
    created = await _create(waffo)
    started = time.monotonic()
    await _pay(waffo, created["acquiringOrderId"])
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert time.monotonic() - started >= 0.3
    assert [a["accepted"] for a in (await waffo.control("GET", "/notifications")).json()["entries"]] == [
        False,
        True,
    ]


async def test_checkout_forms_work_when_mounted_under_a_prefix(waffo: WaffoApi) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from emulators.waffo import create_app

    hub = Starlette(routes=[Mount("/waffo", app=create_app(waffo.emulator))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hub), base_url="http://hub.test") as http:
        created = await _create(waffo)
        page = await http.get(f"/waffo/checkout/{created['acquiringOrderId']}")
        assert f'action="/waffo/checkout/{created["acquiringOrderId"]}/pay"' in page.text
        done = await http.post(f"/waffo/checkout/{created['acquiringOrderId']}/pay")
        assert "PAY_SUCCESS" in done.text
        view = await http.get(f"/waffo/control/orders/{created['acquiringOrderId']}")
        assert view.json()["orderStatus"] == "PAY_SUCCESS"


async def test_a_merchant_cancel_can_carry_a_failure_reason(waffo: WaffoApi) -> None:
    unpaid = await _create(waffo)
    cancel = {"acquiringOrderId": unpaid["acquiringOrderId"], "merchantId": MERCHANT_ID, "orderRequestedAt": NOW_TS}
    waffo.emulator.config.cancel_failed_reason = ("B0002", "payment timeout")
    await waffo.ok("order/cancel", cancel)
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": unpaid["acquiringOrderId"]})
    assert order["orderStatus"] == "ORDER_CLOSE"
    assert json.loads(order["orderFailedReason"])["orderFailedCode"] == "B0002"


async def test_an_expired_order_stays_payable_for_the_grace(waffo: WaffoApi) -> None:
    waffo.emulator.config.expiry_grace_s = 600
    created = await _create(waffo)
    await waffo.control("POST", "/clock/advance", {"seconds": 3601})
    paid = await _pay(waffo, created["acquiringOrderId"])
    assert paid["orderStatus"] == "PAY_SUCCESS"
    assert paid["orderCompletedAt"] > paid["orderExpiredAt"]
    late = await _create(waffo)
    await waffo.control("POST", "/clock/advance", {"seconds": 3601 + 601})
    order = await waffo.ok("order/inquiry", {"acquiringOrderId": late["acquiringOrderId"]})
    assert order["orderStatus"] == "ORDER_CLOSE"
