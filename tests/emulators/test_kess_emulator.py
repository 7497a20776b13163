"""KESS emulator by itself: tokens, native / quick / JSAPI pay, refunds, idempotency, faults, ledger."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulators.kess import DEFAULT_PATHS, KessEmulator, KessEmulatorConfig, create_app
from host.serving import AppServer

USER, PASSWORD, STORE_ID = "merchant-user", "merchant-pass", "109038"


def out_no(prefix: str = "ORDER-") -> str:
    return (prefix + uuid.uuid4().hex)[:32]


@dataclass
class KessApi:
    http: httpx.AsyncClient
    emulator: KessEmulator
    token: str | None = None

    async def fetch_token(self, user: str = USER, password: str = PASSWORD) -> httpx.Response:
        return await self.http.post(DEFAULT_PATHS["token"], json={"user": user, "password": password})

    async def raw(self, operation: str, body: bytes, token: str | None = None) -> httpx.Response:
        if token is None:
            # Seed 004: a token before every request (the emulator takes each token once by default).
            self.token = (await self.fetch_token()).json()["data"]["token"]
            token = self.token
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return await self.http.post(DEFAULT_PATHS[operation], content=body, headers=headers)

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.raw(operation, json.dumps(payload).encode())
        document: dict[str, Any] = json.loads(response.content)
        document["_http_status"] = response.status_code
        return document

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.request(method, f"/control{path}", json=body)


def pay_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": 30,
        "store_id": STORE_ID,
        "sub_store_id": 123,
        "sub_store_name": "Test Store",
        "amount": 10.0,
        "fee_rate": 0,
        "out_trade_no": out_no(),
    }
    body.update(overrides)
    return body


def make_emulator(**config: Any) -> KessEmulator:
    emulator = KessEmulator(KessEmulatorConfig(public_base_url="http://kess.test", **config))
    emulator.register_merchant(USER, PASSWORD, store_id=STORE_ID)
    return emulator


@pytest.fixture
async def kess() -> AsyncIterator[KessApi]:
    # time_scale 0.01: a 45 s PIN wait takes 0.45 s, the 60 s token 0.6 s.
    emulator = make_emulator(time_scale=0.01, sweep_interval_s=0.02)
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        yield KessApi(http, emulator)
    await emulator.aclose()


# -- tokens -------------------------------------------------------------------------------------


async def test_token_is_an_hs256_jwt_that_expires() -> None:
    # Tokens reusable until they expire, so only the expiry (not single use) refuses the last call.
    emulator = make_emulator(time_scale=0.01, token_use="until_expiry")
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        kess = KessApi(http, emulator)
        response = await kess.fetch_token()
        assert response.status_code == 200
        document = response.json()
        assert document["success"] is True
        assert document["data"]["message"] == "SUCCESS"
        token = document["data"]["token"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert header == {"typ": "JWT", "alg": "HS256"}
        assert claims["iss"] == "www.kesspay.com"
        assert claims["exp"] - claims["iat"] == pytest.approx(0.6)

        status = json.dumps({"store_id": STORE_ID, "out_trade_no": "X"}).encode()
        assert (await kess.raw("payment_status", status, token)).status_code == 200
        await kess.control("POST", "/clock/advance", {"seconds": 0.4})
        assert (await kess.raw("payment_status", status, token)).status_code == 200, "still within its 0.6 s"
        await kess.control("POST", "/clock/advance", {"seconds": 0.25})  # past the 60 s x 0.01 lifetime
        expired = await kess.raw("payment_status", status, token)
        assert expired.status_code == 401
        assert expired.json()["success"] is False
    await emulator.aclose()


async def test_bad_credentials_and_missing_or_forged_tokens(kess: KessApi) -> None:
    assert (await kess.fetch_token(password="wrong")).status_code == 401
    body = json.dumps({"store_id": STORE_ID, "out_trade_no": "X"}).encode()
    no_token = await kess.http.post(DEFAULT_PATHS["payment_status"], content=body)
    assert no_token.status_code == 401
    token = (await kess.fetch_token()).json()["data"]["token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await kess.raw("payment_status", body, forged)).status_code == 401


async def test_control_expires_every_token(kess: KessApi) -> None:
    body = json.dumps({"store_id": STORE_ID, "out_trade_no": "X"}).encode()
    token = (await kess.fetch_token()).json()["data"]["token"]
    assert (await kess.control("POST", "/tokens/expire")).json()["tokensIssued"] == 1
    assert (await kess.raw("payment_status", body, token)).status_code == 401
    fresh = (await kess.fetch_token()).json()["data"]["token"]
    assert (await kess.raw("payment_status", body, fresh)).status_code == 200


# -- native pay ---------------------------------------------------------------------------------


async def test_native_pay_paid_through_control(kess: KessApi) -> None:
    body = pay_body(amount=10.0, fee_rate=2)
    created = await kess.call("native_pay", body)
    assert created["success"] is True
    data = created["data"]
    assert data["result_code"] == "SUCCESS"
    assert data["qr_code"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert (data["amount"], data["total_amount"], data["fee_amount"]) == (10.0, 10.2, 0.2)
    assert data["trade_state"] == "NOTPAY"

    status = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
    assert status["data"]["is_success"] is False
    assert status["data"]["trade_state"] == "NOTPAY"

    paid = await kess.control("POST", f"/orders/{body['out_trade_no']}/pay")
    assert paid.status_code == 200
    status = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
    assert status["data"]["is_success"] is True
    assert status["data"]["trade_state"] == "SUCCESS"
    assert status["data"]["message"] == "Payment Successful!"

    ledger = (await kess.control("GET", "/ledger")).json()["entries"]
    assert [(e["kind"], e["amount"], e["out_trade_no"]) for e in ledger] == [("charge", "10.20", body["out_trade_no"])]
    assert ledger[0]["merchant_amount"] == "10.00"
    assert ledger[0]["merchantId"] == STORE_ID


async def test_alipay_native_qr_and_unknown_service(kess: KessApi) -> None:
    alipay = await kess.call("native_pay", pay_body(service_id=2))
    assert alipay["data"]["qr_code"].startswith("https://qr.alipay.com/bax")
    unknown = await kess.call("native_pay", pay_body(service_id=99))
    assert unknown["_http_status"] == 400
    assert unknown["data"]["err_code"] == "PARAM_ERROR"


async def test_native_expiry_close_and_late_payment(kess: KessApi) -> None:
    kess.emulator.config.close_endpoint = True  # close and revoke are not in seed 004: off by default
    expiring = pay_body()
    await kess.call("native_pay", expiring)
    await kess.control("POST", "/clock/advance", {"seconds": 2 * 3600 * 0.01 + 1})
    kess.token = None  # the jump in time expired the token too
    status = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": expiring["out_trade_no"]})
    assert status["data"]["trade_state"] == "CLOSED"

    closing = pay_body()
    await kess.call("native_pay", closing)
    closed = await kess.call("close", {"store_id": STORE_ID, "out_trade_no": closing["out_trade_no"]})
    assert closed["success"] is True
    assert closed["data"]["trade_state"] == "CLOSED"
    again = await kess.call("close", {"store_id": STORE_ID, "out_trade_no": closing["out_trade_no"]})
    assert again["data"]["trade_state"] == "CLOSED"
    assert (await kess.control("POST", f"/orders/{closing['out_trade_no']}/pay")).status_code == 409
    late = await kess.control("POST", f"/orders/{closing['out_trade_no']}/pay", {"late": True})
    assert late.json()["latePayment"] is True
    assert late.json()["trade_state"] == "SUCCESS"

    paid = pay_body()
    await kess.call("native_pay", paid)
    await kess.control("POST", f"/orders/{paid['out_trade_no']}/pay")
    refused = await kess.call("close", {"store_id": STORE_ID, "out_trade_no": paid["out_trade_no"]})
    assert refused["success"] is False
    assert refused["data"]["err_code"] == "ORDERPAID"
    assert refused["data"]["trade_state"] == "SUCCESS"


async def test_out_trade_no_replay_and_mismatch(kess: KessApi) -> None:
    body = pay_body()
    first = await kess.call("native_pay", body)
    replay = await kess.call("native_pay", body)
    assert replay["data"]["qr_code"] == first["data"]["qr_code"]
    assert replay["data"]["transaction_id"] == first["data"]["transaction_id"]
    # 10 and 10.00 are the same amount.
    assert (await kess.call("native_pay", {**body, "amount": 10}))["success"] is True
    mismatch = await kess.call("native_pay", {**body, "amount": 11.0})
    assert mismatch["success"] is False
    assert mismatch["data"]["err_code"] == "OUT_TRADE_NO_USED"
    assert (await kess.call("native_pay", {**body, "store_id": "999"}))["data"]["err_code"] == "NOAUTH"


# -- quick pay ----------------------------------------------------------------------------------


async def quick(kess: KessApi, auth_code: str, **overrides: Any) -> dict[str, Any]:
    return await kess.call("quick_pay", pay_body(service_id=2, auth_code=auth_code, **overrides))


async def test_quick_pay_instant_success(kess: KessApi) -> None:
    answer = await quick(kess, "134567890123456789", fee_rate=2)
    assert answer["success"] is True
    assert answer["data"]["trade_state"] == "SUCCESS"
    assert answer["data"]["currency"] == "USD"
    assert answer["data"]["transaction_id"]
    assert answer["data"]["total_amount"] == 10.2


async def test_quick_pay_blocks_until_the_pin_is_entered(kess: KessApi) -> None:
    started = time.monotonic()
    answer = await quick(kess, "140012345678901234")
    # Scripted PIN delay: 6 s x 0.01, seen by a poll every 3 s x 0.01.
    assert time.monotonic() - started >= 0.06
    assert answer["success"] is True
    assert answer["data"]["trade_state"] == "SUCCESS"


async def test_quick_pay_userpaying_past_45_s_is_revoked(kess: KessApi) -> None:
    body = pay_body(auth_code="140112345678901234")
    started = time.monotonic()
    answer = await kess.call("quick_pay", body)
    assert time.monotonic() - started >= 0.39  # held for 40 s x 0.01
    assert answer["success"] is False
    assert answer["data"]["err_code"] == "USERPAYING"
    # Revoked 45 s x 0.01 after the call started: poll (a loaded machine may be late), bounded.
    query = {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]}
    deadline = time.monotonic() + 3.0
    state = (await kess.call("payment_status", query))["data"]["trade_state"]
    while state != "REVOKED" and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        state = (await kess.call("payment_status", query))["data"]["trade_state"]
    assert state == "REVOKED"


@pytest.mark.parametrize(
    ("auth_code", "err_code"),
    [("140212345678901234", "AUTHCODEEXPIRE"), ("140312345678901234", "NOTENOUGH")],
)
async def test_quick_pay_refusals(kess: KessApi, auth_code: str, err_code: str) -> None:
    body = pay_body(auth_code=auth_code)
    answer = await kess.call("quick_pay", body)
    assert answer["success"] is False
    assert answer["data"]["result_code"] == "FAIL"
    assert answer["data"]["err_code"] == err_code
    assert answer["data"]["trade_state"] == "PAYERROR"
    assert (await kess.control("GET", "/ledger")).json()["entries"] == []


async def test_quick_pay_userpaying_without_holding() -> None:
    emulator = make_emulator(time_scale=0.01, quick_pay_hold_s=0)
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        kess = KessApi(http, emulator)
        body = pay_body(auth_code="140012345678901234")
        answer = await kess.call("quick_pay", body)
        assert answer["data"]["err_code"] == "USERPAYING"
        await kess.control("POST", "/clock/advance", {"seconds": 0.08})  # past the 6 s x 0.01 PIN delay
        status = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
        assert status["data"]["trade_state"] == "SUCCESS"
    await emulator.aclose()


async def test_jsapi_pay_waits_for_the_buyer(kess: KessApi) -> None:
    body = pay_body(auth_code="openid-123")
    answer = await kess.call("jsapi_pay", body)
    assert answer["success"] is True
    assert answer["data"]["trade_state"] == "NOTPAY"
    await kess.control("POST", f"/orders/{body['out_trade_no']}/fail", {"errCode": "NOTENOUGH"})
    status = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
    assert status["data"]["trade_state"] == "PAYERROR"
    assert status["data"]["err_code"] == "NOTENOUGH"


# -- refunds ------------------------------------------------------------------------------------


async def test_partial_and_full_refunds(kess: KessApi) -> None:
    body = pay_body(amount=10.0, fee_rate=2)
    await kess.call("native_pay", body)
    not_paid = await kess.call(
        "refund",
        {
            "service_id": 30,
            "store_id": STORE_ID,
            "refund_amount": 1,
            "out_trade_no": body["out_trade_no"],
            "out_refund_no": out_no("R-"),
        },
    )
    assert not_paid["data"]["err_code"] == "TRADE_STATE_ERROR"
    await kess.control("POST", f"/orders/{body['out_trade_no']}/pay")

    def refund(no: str, amount: Any) -> dict[str, Any]:
        return {
            "service_id": 30,
            "store_id": STORE_ID,
            "refund_amount": amount,
            "out_trade_no": body["out_trade_no"],
            "out_refund_no": no,
            "reason": "test",
        }

    first_no = out_no("R-")
    first = await kess.call("refund", refund(first_no, 4.0))
    assert first["data"]["refund_status"] == "SUCCESS"
    assert first["data"]["remaining_amount"] == 6.0
    assert (await kess.call("refund", refund(first_no, 4.0)))["data"]["refund_id"] == first["data"]["refund_id"]
    assert (await kess.call("refund", refund(first_no, 5.0)))["data"]["err_code"] == "REFUND_FEE_MISMATCH"
    assert (await kess.call("refund", refund(out_no("R-"), 6.01)))["data"]["err_code"] == "INVALID_REQUEST"
    second_no = out_no("R-")
    second = await kess.call("refund", refund(second_no, 6))
    assert second["data"]["remaining_amount"] == 0

    # Seed 004: CHECK REFUND STATUS takes out_trade_no, and answers the order's latest refund (out_refund_no is
    # ignored unless refund_status_by="out_refund_no").
    latest = await kess.call("refund_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
    assert latest["data"]["out_refund_no"] == second_no
    assert latest["data"]["is_success"] is True
    assert latest["data"]["message"] == "Refund Successful!"
    named = {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"], "out_refund_no": first_no}
    assert (await kess.call("refund_status", named))["data"]["out_refund_no"] == second_no
    assert (await kess.call("refund_status", {"store_id": STORE_ID, "out_refund_no": first_no}))["data"][
        "err_code"
    ] == "PARAM_ERROR"
    kess.emulator.config.refund_status_by = "out_refund_no"
    assert (await kess.call("refund_status", named))["data"]["out_refund_no"] == first_no
    missing = await kess.call("refund_status", {"store_id": STORE_ID, "out_refund_no": "NOPE"})
    assert missing["data"]["err_code"] == "REFUNDNOTEXIST"
    order = await kess.call("payment_status", {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
    assert order["data"]["trade_state"] == "REFUND"

    entries = (await kess.control("GET", "/ledger")).json()["entries"]
    # The buyer paid 10.20; refunds return 4.08 and, being the last, the rest: 6.12.
    assert [(e["kind"], e["amount"]) for e in entries] == [("charge", "10.20"), ("refund", "4.08"), ("refund", "6.12")]


async def test_refund_left_processing_until_control() -> None:
    emulator = make_emulator(refund_delay_s=None)
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        kess = KessApi(http, emulator)
        body = pay_body()
        await kess.call("native_pay", body)
        await kess.control("POST", f"/orders/{body['out_trade_no']}/pay")
        no = out_no("R-")
        answer = await kess.call(
            "refund",
            {
                "service_id": 30,
                "store_id": STORE_ID,
                "refund_amount": 10,
                "out_trade_no": body["out_trade_no"],
                "out_refund_no": no,
            },
        )
        assert answer["data"]["refund_status"] == "PROCESSING"
        failed = await kess.control("POST", f"/refunds/{no}/fail")
        assert failed.json()["refund_status"] == "REFUNDCLOSE"
        # A failed refund releases its amount.
        again = await kess.call(
            "refund",
            {
                "service_id": 30,
                "store_id": STORE_ID,
                "refund_amount": 10,
                "out_trade_no": body["out_trade_no"],
                "out_refund_no": out_no("R-"),
            },
        )
        assert again["data"]["refund_status"] == "PROCESSING"
    await emulator.aclose()


# -- faults, reset, loopback ----------------------------------------------------------------------


async def fault(kess: KessApi, operation: str, kind: str, **params: Any) -> None:
    response = await kess.control("POST", "/faults", {"operation": operation, "kind": kind, "params": params})
    assert response.status_code == 200, response.text


async def test_faults(kess: KessApi) -> None:
    await kess.fetch_token()
    await fault(kess, "native_pay", "latency", ms=100)
    started = time.monotonic()
    assert (await kess.call("native_pay", pay_body()))["success"] is True
    assert time.monotonic() - started >= 0.1

    await fault(kess, "native_pay", "http_500")
    response = await kess.raw("native_pay", json.dumps(pay_body()).encode())
    assert response.status_code == 500

    body = pay_body()
    await fault(kess, "native_pay", "timeout_after_commit", ms=5000)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(kess.call("native_pay", body), 0.3)
    assert (await kess.control("GET", f"/orders/{body['out_trade_no']}")).json()["trade_state"] == "NOTPAY"

    body = pay_body()
    await fault(kess, "native_pay", "drop_connection")
    with pytest.raises(httpx.RemoteProtocolError):
        await kess.call("native_pay", body)
    assert (await kess.control("GET", f"/orders/{body['out_trade_no']}")).status_code == 200

    body = pay_body()
    token = (await kess.fetch_token()).json()["data"]["token"]  # before the wildcard fault, which hits tokens too
    await fault(kess, "*", "system_error")
    answer = json.loads((await kess.raw("native_pay", json.dumps(body).encode(), token)).content)
    assert answer["data"]["err_code"] == "SYSTEMERROR"
    assert (await kess.control("GET", f"/orders/{body['out_trade_no']}")).status_code == 200

    assert (await kess.control("POST", "/faults", {"operation": "nope", "kind": "latency"})).status_code == 400
    assert (await kess.control("POST", "/faults", {"operation": "refund", "kind": "nope"})).status_code == 400


async def test_token_faults_refuse_or_fail_the_token_request(kess: KessApi) -> None:
    issued = (await kess.control("GET", "/tokens")).json()["tokensIssued"]
    await fault(kess, "token", "refuse_token")
    refused = await kess.fetch_token()
    assert refused.status_code == 401
    assert refused.json() == {"success": False, "data": {"message": "Invalid user or password"}}
    assert (await kess.control("GET", "/tokens")).json()["tokensIssued"] == issued, "no token issued"
    assert (await kess.fetch_token()).json()["success"] is True, "one refusal per count"

    await fault(kess, "token", "refuse_token", status=200)
    refused = await kess.fetch_token()
    assert refused.status_code == 200 and refused.json()["success"] is False

    await fault(kess, "token", "system_error")
    failed = await kess.fetch_token()
    assert failed.json()["success"] is False and failed.json()["data"]["err_code"] == "SYSTEMERROR"

    # Only the token endpoint can refuse a token.
    response = await kess.control("POST", "/faults", {"operation": "refund", "kind": "refuse_token"})
    assert response.status_code == 400


async def test_reset_forgets_orders_but_keeps_merchants(kess: KessApi) -> None:
    body = pay_body()
    await kess.call("native_pay", body)
    await kess.control("POST", f"/orders/{body['out_trade_no']}/pay")
    assert (await kess.control("POST", "/reset")).json() == {"reset": True}
    assert (await kess.control("GET", "/ledger")).json() == {"entries": []}
    assert (await kess.control("GET", f"/orders/{body['out_trade_no']}")).status_code == 404
    assert (await kess.control("GET", "/merchants")).json()["merchants"][0]["user"] == USER


async def test_over_a_real_socket_with_custom_paths() -> None:
    emulator = KessEmulator(KessEmulatorConfig(paths={"token": "/auth/get_token"}))
    emulator.register_merchant(USER, PASSWORD, store_id=STORE_ID)
    server = AppServer(create_app(emulator))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            token = (await http.post("/auth/get_token", json={"user": USER, "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {token['data']['token']}"}
            body = pay_body()
            created = await http.post(DEFAULT_PATHS["native_pay"], content=json.dumps(body), headers=headers)
            assert created.json()["data"]["trade_state"] == "NOTPAY"
            await http.post("/control/faults", json={"operation": "payment_status", "kind": "drop_connection"})
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(
                    DEFAULT_PATHS["payment_status"],
                    json={"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]},
                    headers=headers,
                )
            assert (await http.get("/health")).json() == {"status": "ok", "provider": "kess"}
    finally:
        await server.stop()


async def test_a_token_is_taken_once_unless_configured_otherwise() -> None:
    for token_use, second_status in (("single", 401), ("until_expiry", 200)):
        emulator = make_emulator(token_use=token_use)
        transport = httpx.ASGITransport(app=create_app(emulator))
        async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
            kess = KessApi(http, emulator)
            token = (await kess.fetch_token()).json()["data"]["token"]
            body = json.dumps(pay_body()).encode()
            assert (await kess.raw("native_pay", body, token)).status_code == 200
            assert (await kess.raw("native_pay", body, token)).status_code == second_status, token_use
        await emulator.aclose()


async def test_native_pay_auth_code_required_when_configured() -> None:
    emulator = make_emulator(native_auth_code="required")
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        kess = KessApi(http, emulator)
        refused = await kess.call("native_pay", pay_body())
        assert (refused["_http_status"], refused["data"]["err_code"]) == (400, "PARAM_ERROR")
        accepted = await kess.call("native_pay", pay_body(auth_code=284957))
        assert accepted["success"] is True
    await emulator.aclose()


@pytest.mark.parametrize(
    ("mode", "refused"),
    [
        ("any", set()),
        # seed 004's types: store_id text in pay bodies, a number in status checks; auth_code a number
        ("as_seed", {"quick text auth_code", "status text store_id"}),
        ("text", {"quick number auth_code", "native number sub_store_id", "status number store_id"}),
    ],
)
async def test_id_types(mode: str, refused: set[str]) -> None:
    emulator = make_emulator(id_types=mode)
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://kess.test") as http:
        kess = KessApi(http, emulator)
        paid = pay_body(sub_store_id=None)
        await kess.call("native_pay", paid)
        calls = {
            "quick text auth_code": ("quick_pay", pay_body(sub_store_id=None, auth_code="134567890123456789")),
            "quick number auth_code": ("quick_pay", pay_body(sub_store_id=None, auth_code=134567890123456789)),
            "native number sub_store_id": ("native_pay", pay_body(sub_store_id=123)),
            "status text store_id": ("payment_status", {"store_id": STORE_ID, "out_trade_no": paid["out_trade_no"]}),
            "status number store_id": (
                "payment_status",
                {"store_id": int(STORE_ID), "out_trade_no": paid["out_trade_no"]},
            ),
        }
        for name, (operation, body) in calls.items():
            answer = await kess.call(operation, body)
            if name in refused:
                assert (answer["_http_status"], answer["data"]["err_code"]) == (400, "PARAM_ERROR"), name
                assert name.rsplit(" ", 1)[1] in answer["data"]["err_code_des"], answer
            else:
                assert answer["success"] is True, (name, answer)
    await emulator.aclose()


def test_id_types_must_be_known() -> None:
    with pytest.raises(ValueError, match="id_types"):
        KessEmulatorConfig(id_types="numbers")


async def test_close_and_revoke_answer_as_unknown_paths_by_default(kess: KessApi) -> None:
    body = pay_body()
    await kess.call("native_pay", body)
    for operation in ("close", "revoke"):
        answer = await kess.call(operation, {"store_id": STORE_ID, "out_trade_no": body["out_trade_no"]})
        assert (answer["_http_status"], answer["success"]) == (404, False)
    assert (await kess.control("GET", f"/orders/{body['out_trade_no']}")).json()["trade_state"] == "NOTPAY"
