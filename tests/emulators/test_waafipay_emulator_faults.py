"""WaafiPay emulator: fault injection, the ledger, reset, and serving over a real loopback socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulators.waafipay import create_app
from host.serving import AppServer
from tests.emulators.waafipay_support import (
    EVC,
    MERCHANT_UID,
    WaafiPayApi,
    encode,
    fast_config,
    hpp_params,
    new_emulator,
    purchase_params,
    waafipay_client,
)


@pytest.fixture
async def waafipay() -> AsyncIterator[WaafiPayApi]:
    async with waafipay_client() as api:
        yield api


async def test_latency(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("API_REFUND", "latency", ms=150)
    started = time.monotonic()
    await waafipay.call("API_REFUND", {"transactionId": "1", "amount": "1"})
    assert time.monotonic() - started >= 0.15


async def test_timeout_after_commit(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("API_PURCHASE", "timeout_after_commit", ms=5000)
    params = purchase_params()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waafipay.call("API_PURCHASE", params), 0.4)
    # The purchase went through although the client never saw the answer.
    [entry] = await waafipay.ledger()
    assert entry["referenceId"] == params["transactionInfo"]["referenceId"]
    # Retrying with the same referenceId answers the original purchase instead of charging again.
    assert (await waafipay.ok("API_PURCHASE", params))["transactionId"] == entry["transactionId"]
    assert len(await waafipay.ledger()) == 1


async def test_http_500_handles_nothing(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("API_PURCHASE", "http_500", status=503, body="Service Unavailable")
    response = await waafipay.raw("API_PURCHASE", purchase_params())
    assert (response.status_code, response.text) == (503, "Service Unavailable")
    assert await waafipay.ledger() == []


async def test_drop_connection_after_commit(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("API_CANCELPURCHASE", "drop_connection")
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    body = {"paymentMethod": "MWALLET_ACCOUNT", "transactionId": paid["transactionId"]}
    with pytest.raises(httpx.TransportError):
        await waafipay.raw("API_CANCELPURCHASE", body)
    assert [e["kind"] for e in await waafipay.ledger()] == ["charge", "void"]
    assert (await waafipay.call("API_CANCELPURCHASE", body))["responseCode"] == "5202"


async def test_commit_then_drop_and_a_void_answered_500(waafipay: WaafiPayApi) -> None:
    first = await waafipay.ok("API_PREAUTHORIZE", purchase_params(amount="5"))
    second = await waafipay.ok("API_PREAUTHORIZE", purchase_params(amount="6"))
    # The commit captures the hold, then the connection drops; the repeat answers that commit.
    await waafipay.fault("API_PREAUTHORIZE_COMMIT", "drop_connection")
    with pytest.raises(httpx.TransportError):
        await waafipay.raw("API_PREAUTHORIZE_COMMIT", {"transactionId": first["transactionId"]})
    again = await waafipay.ok("API_PREAUTHORIZE_COMMIT", {"transactionId": first["transactionId"]})
    # The release answered HTTP 500 handled nothing: the hold is still there, and a re-send releases it.
    await waafipay.fault("API_PREAUTHORIZE_CANCEL", "http_500")
    body = {"transactionId": second["transactionId"]}
    assert (await waafipay.raw("API_PREAUTHORIZE_CANCEL", body)).status_code == 500
    assert (await waafipay.control("GET", f"/wallets/{EVC}")).json()["held"] == "6.00"
    await waafipay.ok("API_PREAUTHORIZE_CANCEL", body)
    ledger = await waafipay.ledger()
    assert [(e["kind"], e["amount"]) for e in ledger] == [
        ("authorization", "5.00"),
        ("authorization", "6.00"),
        ("capture", "5.00"),
        ("void", "6.00"),
    ]
    assert ledger[2]["transactionId"] == again["transactionId"]
    assert (await waafipay.control("GET", f"/wallets/{EVC}")).json()["held"] == "0.00"


async def test_approved_but_the_response_never_arrives(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour="reject")  # overridden: the fault makes the payer approve
    await waafipay.fault("API_PURCHASE", "approved_no_response")
    params = purchase_params(amount="7")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waafipay.call("API_PURCHASE", params), 0.5)
    [entry] = await waafipay.ledger()
    assert (entry["kind"], entry["amount"]) == ("charge", "7.00")
    assert await waafipay.balance(EVC) == "993.00"


async def test_approved_no_response_then_connection_closes(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("API_PREAUTHORIZE", "approved_no_response", ms=100)
    with pytest.raises(httpx.TransportError):
        await waafipay.raw("API_PREAUTHORIZE", purchase_params())
    assert [e["kind"] for e in await waafipay.ledger()] == ["authorization"]


async def test_fault_count_and_wildcard(waafipay: WaafiPayApi) -> None:
    await waafipay.fault("*", "http_500", count=2)
    listed = (await waafipay.control("GET", "/faults")).json()["faults"]
    assert listed == [{"id": listed[0]["id"], "operation": "*", "kind": "http_500", "count": 2, "params": {}}]
    assert (await waafipay.raw("HPP_PURCHASE", hpp_params())).status_code == 500
    assert (await waafipay.http.post("/asm", content=b"garbage")).status_code == 500
    assert (await waafipay.raw("API_PURCHASE", purchase_params())).status_code == 200
    await waafipay.fault("API_PURCHASE", "http_500", count=5)
    assert (await waafipay.control("DELETE", "/faults")).json() == {"faults": []}
    await waafipay.ok("API_PURCHASE", purchase_params())


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "API_NOPE", "kind": "latency"},
        {"operation": "API_PURCHASE", "kind": "explode"},
        {"operation": "API_PURCHASE", "kind": "latency", "count": 0},
        {"operation": "API_PURCHASE", "kind": "latency", "params": []},
        {"kind": "latency"},
    ],
)
async def test_fault_validation(waafipay: WaafiPayApi, body: dict[str, Any]) -> None:
    assert (await waafipay.control("POST", "/faults", body)).status_code == 400


# -- ledger, control validation, reset ----------------------------------------------------------


async def test_ledger_shape_and_exactly_once(waafipay: WaafiPayApi) -> None:
    params = purchase_params(amount="12.5")
    paid = await waafipay.ok("API_PURCHASE", params)
    await waafipay.ok("API_PURCHASE", params)  # idempotent replay
    [entry] = await waafipay.ledger()
    assert set(entry) == {
        "id",
        "kind",
        "merchantId",
        "serviceName",
        "referenceId",
        "transactionId",
        "accountNo",
        "amount",
        "currency",
        "at",
    }
    assert entry["id"].startswith("L")
    assert (entry["merchantId"], entry["amount"], entry["currency"]) == (MERCHANT_UID, "12.50", "USD")
    assert entry["transactionId"] == paid["transactionId"]
    assert entry["accountNo"] == "252611****1111"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/wallets", {"balance": "1"}),
        ("/wallets", {"number": EVC, "balance": "-1"}),
        ("/wallets", {"number": EVC, "behaviour": "dance"}),
        ("/wallets", {"number": EVC, "behaviour": {"action": "approve", "afterS": -1}}),
        ("/wallets", {"number": EVC, "behaviour": []}),
        ("/merchants", {"merchantUid": "M1"}),
        ("/merchants", {"merchantUid": "M1", "apiUserId": "1", "apiKey": "k", "storeId": "9"}),
        ("/clock/advance", {"seconds": -1}),
        ("/clock/set", {"now": "yesterday"}),
    ],
)
async def test_control_validation(waafipay: WaafiPayApi, path: str, body: dict[str, Any]) -> None:
    assert (await waafipay.control("POST", path, body)).status_code == 400


async def test_control_merchants_and_transactions(waafipay: WaafiPayApi) -> None:
    registered = await waafipay.control(
        "POST",
        "/merchants",
        {"merchantUid": "M2", "apiUserId": 2, "apiKey": "API-2AHX", "storeId": 3, "hppKey": "HPP-3"},
    )
    assert registered.json() == {"merchantUid": "M2", "storeId": "3"}
    assert "M2" in [m["merchantUid"] for m in (await waafipay.control("GET", "/merchants")).json()["merchants"]]
    paid = await waafipay.ok("API_PURCHASE", purchase_params())
    by_reference = (await waafipay.control("GET", f"/transactions/{paid['referenceId']}")).json()
    assert by_reference["transactionId"] == paid["transactionId"]
    assert len((await waafipay.control("GET", "/transactions")).json()["transactions"]) == 1
    assert (await waafipay.control("GET", "/transactions/0")).status_code == 404
    wallets = (await waafipay.control("GET", "/wallets")).json()["wallets"]
    assert {w["number"] for w in wallets} >= {"252611111111", "252631111111", "252901111111", "9715111111111"}
    assert (await waafipay.control("GET", "/wallets/1")).status_code == 404


async def test_reset_keeps_merchants_and_restores_sandbox_wallets(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet("252615550000", balance="5")
    await waafipay.wallet(EVC, balance="1", behaviour="reject")
    await waafipay.fault("*", "latency", ms=1)
    created = await waafipay.ok("HPP_PURCHASE", hpp_params())
    assert (await waafipay.control("POST", "/reset")).json() == {"reset": True}
    assert await waafipay.ledger() == []
    assert (await waafipay.control("GET", "/faults")).json()["faults"] == []
    assert (await waafipay.control("GET", f"/hpp/{created['orderId']}")).status_code == 404
    assert (await waafipay.control("GET", "/wallets/252615550000")).status_code == 404
    assert await waafipay.balance(EVC) == "1000.00"
    assert (await waafipay.ok("API_PURCHASE", purchase_params()))["state"] == "APPROVED"


async def test_reset_cancels_a_waiting_push(waafipay: WaafiPayApi) -> None:
    await waafipay.wallet(EVC, behaviour={"action": "approve", "afterS": 50})
    pending = asyncio.ensure_future(waafipay.call("API_PURCHASE", purchase_params()))
    await asyncio.sleep(0.05)
    await waafipay.control("POST", "/reset")
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert await waafipay.ledger() == []


# -- over a real socket -------------------------------------------------------------------------


async def test_served_over_loopback() -> None:
    emulator = new_emulator(fast_config())
    server = AppServer(create_app(emulator))
    emulator.config.public_base_url = f"{server.url}/"
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            api = WaafiPayApi(http=http, emulator=emulator)
            paid = await api.ok("API_PURCHASE", purchase_params(amount="3"))
            assert paid["state"] == "APPROVED"

            created = await api.ok("HPP_PURCHASE", hpp_params())
            assert created["hppUrl"].startswith(f"{server.url}/hpp/token/")
            assert (await http.get(created["hppUrl"])).status_code == 200
            approve = await http.post(f"{created['hppUrl']}/approve", follow_redirects=False)
            assert approve.status_code == 303
            token = approve.headers["location"].rsplit("?hppResultToken=", 1)[1]
            assert (await api.ok("HPP_GETRESULTINFO", {"hppResultToken": token}))["state"] == "APPROVED"

            # Faults whose real shape only shows on a socket.
            await api.fault("HPP_GETTRANINFO", "drop_connection")
            with pytest.raises(httpx.RemoteProtocolError):
                await api.raw("HPP_GETTRANINFO", {"referenceId": created["referenceId"]})
            await api.fault("API_PURCHASE", "approved_no_response")
            params = purchase_params(amount="4")
            envelope = encode(api.envelope("API_PURCHASE", params, "api"))
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/asm", content=envelope, timeout=0.5)
            assert (await http.post("/control/settle", json={"timeoutS": 5})).json() == {"settled": True}
            charged = [e["amount"] for e in (await http.get("/control/ledger")).json()["entries"]]
            assert charged == ["3.00", "10.00", "4.00"]
            health = await http.get("/health")
            assert health.json() == {"status": "ok", "provider": "waafipay"}
    finally:
        await server.stop()
