"""Waffo emulator: fault injection, the ledger, reset, and serving over a real loopback socket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from emulators.waffo import WaffoEmulator, WaffoEmulatorConfig, create_app
from tests.emulators.waffo_support import (
    API_KEY,
    MERCHANT_ID,
    Receiver,
    WaffoApi,
    compact,
    order_payload,
    private_pem,
    public_b64,
    sign,
    verify,
)


async def _fault(waffo: WaffoApi, operation: str, kind: str, count: int = 1, **params: Any) -> None:
    response = await waffo.control(
        "POST", "/faults", {"operation": operation, "kind": kind, "count": count, "params": params}
    )
    assert response.status_code == 200, response.text


async def _status(waffo: WaffoApi, payment_request_id: str) -> str | None:
    envelope = await waffo.call("order/inquiry", {"paymentRequestId": payment_request_id})
    return envelope["data"]["orderStatus"] if envelope["code"] == "0" else envelope["code"]


async def test_latency(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "latency", ms=150)
    started = time.monotonic()
    await waffo.ok("order/create", order_payload())
    assert time.monotonic() - started >= 0.15


async def test_timeout_after_commit(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "timeout_after_commit", ms=5000)
    payload = order_payload()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waffo.call("order/create", payload), 0.3)
    # The order exists although the client never saw the answer.
    assert await _status(waffo, payload["paymentRequestId"]) == "AUTHORIZATION_REQUIRED"


async def test_http_500_handles_nothing(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "http_500", status=503)
    payload = order_payload()
    response = await waffo.raw("order/create", compact(payload))
    assert response.status_code == 503
    assert "x-signature" not in response.headers
    assert await _status(waffo, payload["paymentRequestId"]) == "A0009"


async def test_e0001_commits_then_reports_unknown(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "e0001")
    payload = order_payload()
    envelope = await waffo.call("order/create", payload)
    assert (envelope["code"], envelope["_http_status"]) == ("E0001", 500)
    assert await _status(waffo, payload["paymentRequestId"]) == "AUTHORIZATION_REQUIRED"


async def test_bad_signature(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "bad_signature")
    payload = order_payload()
    response = await waffo.raw("order/create", compact(payload))
    assert json.loads(response.content)["code"] == "0"
    assert not verify(response.content, response.headers["x-signature"], waffo.emulator.waffo_public_key_b64())
    assert await _status(waffo, payload["paymentRequestId"]) == "AUTHORIZATION_REQUIRED"


async def test_drop_connection_in_process(waffo: WaffoApi) -> None:
    await _fault(waffo, "order/create", "drop_connection")
    payload = order_payload()
    with pytest.raises(httpx.TransportError):
        await waffo.raw("order/create", compact(payload))
    assert await _status(waffo, payload["paymentRequestId"]) == "AUTHORIZATION_REQUIRED"


async def test_fault_count_and_wildcard(waffo: WaffoApi) -> None:
    await _fault(waffo, "*", "e0001", count=2)
    listed = (await waffo.control("GET", "/faults")).json()["faults"]
    assert listed == [{"id": listed[0]["id"], "operation": "*", "kind": "e0001", "count": 2, "params": {}}]
    assert (await waffo.call("merchantconfig/inquiry", {"merchantId": MERCHANT_ID}))["code"] == "E0001"
    assert (await waffo.call("order/inquiry", {"paymentRequestId": "x"}))["code"] == "E0001"
    assert (await waffo.call("merchantconfig/inquiry", {"merchantId": MERCHANT_ID}))["code"] == "0"
    await _fault(waffo, "order/create", "http_500", count=5)
    assert (await waffo.control("DELETE", "/faults")).json() == {"faults": []}
    await waffo.ok("order/create", order_payload())


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "order/nope", "kind": "e0001"},
        {"operation": "order/create", "kind": "explode"},
        {"operation": "notify", "kind": "e0001"},
        {"operation": "order/create", "kind": "e0001", "count": 0},
    ],
)
async def test_fault_validation(waffo: WaffoApi, body: dict[str, Any]) -> None:
    assert (await waffo.control("POST", "/faults", body)).status_code == 400


async def _paid_order(waffo: WaffoApi) -> str:
    created = await waffo.ok("order/create", order_payload())
    await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/pay")
    order_id: str = created["acquiringOrderId"]
    return order_id


async def test_notify_drop(waffo: WaffoApi, receiver: Receiver) -> None:
    await _fault(waffo, "notify", "drop")
    dropped = await _paid_order(waffo)
    delivered = await _paid_order(waffo)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert [e["result"]["acquiringOrderId"] for e in receiver.received] == [delivered]
    log = (await waffo.control("GET", "/notifications")).json()
    statuses = {n["payload"]["result"]["acquiringOrderId"]: n["status"] for n in log["notifications"]}
    assert statuses == {dropped: "dropped", delivered: "delivered"}


async def test_notify_duplicate(waffo: WaffoApi, receiver: Receiver) -> None:
    await _fault(waffo, "notify", "duplicate")
    order_id = await _paid_order(waffo)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert [e["result"]["acquiringOrderId"] for e in receiver.received] == [order_id, order_id]
    assert receiver.raw[0] == receiver.raw[1]


async def test_notify_reorder(waffo: WaffoApi, receiver: Receiver) -> None:
    await _fault(waffo, "notify", "reorder")
    first = await _paid_order(waffo)
    second = await _paid_order(waffo)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert [e["result"]["acquiringOrderId"] for e in receiver.received] == [second, first]


async def test_held_notification_is_released_on_drain(waffo: WaffoApi, receiver: Receiver) -> None:
    await _fault(waffo, "notify", "reorder")
    only = await _paid_order(waffo)
    assert await waffo.emulator.drain_notifications(timeout_s=5)
    assert [e["result"]["acquiringOrderId"] for e in receiver.received] == [only]


async def test_ledger_records_each_money_movement_once(waffo: WaffoApi) -> None:
    payload = order_payload(orderAmount="12.50")
    created = await waffo.ok("order/create", payload)
    await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/pay")
    again = await waffo.control("POST", f"/orders/{created['acquiringOrderId']}/pay")
    assert again.status_code == 409
    await waffo.ok("order/create", payload)  # idempotent replay
    entries = await waffo.ledger()
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) >= {
        "id",
        "kind",
        "merchantId",
        "paymentRequestId",
        "acquiringOrderId",
        "amount",
        "currency",
        "at",
    }
    assert entry["amount"] == "12.50"


async def test_reset_keeps_merchants(waffo: WaffoApi) -> None:
    order_id = await _paid_order(waffo)
    await _fault(waffo, "*", "latency", ms=1)
    assert (await waffo.control("POST", "/reset")).status_code == 200
    assert await waffo.ledger() == []
    assert (await waffo.control("GET", "/faults")).json()["faults"] == []
    assert (await waffo.control("GET", f"/orders/{order_id}")).status_code == 404
    await waffo.ok("order/create", order_payload())  # the merchant is still registered


# -- over a real socket -------------------------------------------------------------------------


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_served_over_loopback_with_uvicorn(merchant_key: rsa.RSAPrivateKey, waffo_key: rsa.RSAPrivateKey) -> None:
    receiver = Receiver(merchant_key=merchant_key, waffo_public_b64=public_b64(waffo_key))
    receiver_app = Starlette(routes=[Route("/webhooks/waffo", receiver.endpoint, methods=["POST"])])
    async with serve(receiver_app) as receiver_url:
        config = WaffoEmulatorConfig(
            public_base_url="http://127.0.0.1:1",
            waffo_private_key_pem=private_pem(waffo_key),
            notify_time_scale=0.00001,
        )
        emulator = WaffoEmulator(config)  # owns its notification client
        emulator.register_merchant(API_KEY, MERCHANT_ID, public_b64(merchant_key))
        async with serve(create_app(emulator)) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            emulator.config.public_base_url = base_url
            body = compact(order_payload(notifyUrl=f"{receiver_url}/webhooks/waffo"))
            headers = {
                "Content-Type": "application/json",
                "X-API-KEY": API_KEY,
                "X-SIGNATURE": sign(body, merchant_key),
            }
            response = await http.post("/api/v1/order/create", content=body, headers=headers)
            assert response.status_code == 200
            assert verify(response.content, response.headers["x-signature"], public_b64(waffo_key))
            created = json.loads(response.content)["data"]
            web_url = json.loads(created["orderAction"])["webUrl"]
            assert web_url.startswith(base_url)
            page = await http.get(web_url)
            assert page.status_code == 200
            paid = await http.post(f"/control/orders/{created['acquiringOrderId']}/pay")
            assert paid.json()["orderStatus"] == "PAY_SUCCESS"
            drained = await http.post("/control/notifications/drain", json={"timeoutS": 5})
            assert drained.json() == {"drained": True}
            assert receiver.events("PAYMENT_NOTIFICATION")[0]["result"]["orderStatus"] == "PAY_SUCCESS"

            # Faults that only show their real shape on a socket.
            await http.post("/control/faults", json={"operation": "order/inquiry", "kind": "drop_connection"})
            inquiry = compact({"acquiringOrderId": created["acquiringOrderId"]})
            inquiry_headers = {**headers, "X-SIGNATURE": sign(inquiry, merchant_key)}
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post("/api/v1/order/inquiry", content=inquiry, headers=inquiry_headers)
            await http.post(
                "/control/faults",
                json={"operation": "order/inquiry", "kind": "timeout_after_commit", "params": {"ms": 800}},
            )
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/api/v1/order/inquiry", content=inquiry, headers=inquiry_headers, timeout=0.3)
            ok = await http.post("/api/v1/order/inquiry", content=inquiry, headers=inquiry_headers)
            assert json.loads(ok.content)["data"]["orderStatus"] == "PAY_SUCCESS"
