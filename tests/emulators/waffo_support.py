"""Helpers and fixtures for the Waffo emulator tests: throwaway keys, a signing client, a receiver."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.waffo import WaffoEmulator, WaffoEmulatorConfig, create_app

API_KEY = "test-api-key"
MERCHANT_ID = "MID-TEST-1"
NOTIFY_URL = "http://merchant.test/webhooks/waffo"
BASE_URL = "http://waffo.test"


# -- keys and signing (independent of the emulator's own code) ---------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def sign(body: bytes, key: rsa.RSAPrivateKey) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(body: bytes, signature: str, public_key_b64: str) -> bool:
    public = serialization.load_der_public_key(base64.b64decode(public_key_b64))
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def rid(prefix: str = "") -> str:
    """A request id within Waffo's 32-character limit."""
    return (prefix + uuid.uuid4().hex)[:32]


NOW_TS = "2026-01-15T10:00:00.000Z"


def order_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "paymentRequestId": rid("p"),
        "merchantOrderId": rid("mo"),
        "orderCurrency": "USD",
        "orderAmount": "10.00",
        "orderDescription": "Test order",
        "orderRequestedAt": NOW_TS,
        "notifyUrl": NOTIFY_URL,
        "successRedirectUrl": "https://merchant.test/ok",
        "failedRedirectUrl": "https://merchant.test/failed",
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com", "userTerminal": "WEB"},
        "goodsInfo": {"goodsName": "Widget", "goodsUrl": "https://merchant.test/widget"},
        "paymentInfo": {"productName": "ONE_TIME_PAYMENT", "payMethodType": "CREDITCARD"},
    }
    payload.update(overrides)
    return payload


def subscription_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "subscriptionRequest": rid("s"),
        "merchantSubscriptionId": rid("ms"),
        "currency": "USD",
        "amount": "20.00",
        "productInfo": {
            "description": "Monthly plan",
            "periodType": "MONTHLY",
            "periodInterval": "1",
            "numberOfPeriod": "12",
        },
        "merchantInfo": {"merchantId": MERCHANT_ID},
        "userInfo": {"userId": "u-1", "userEmail": "u1@example.com", "userTerminal": "WEB"},
        "goodsInfo": {"goodsId": "g-1", "goodsName": "Plan", "goodsUrl": "https://merchant.test/plan"},
        "paymentInfo": {"productName": "SUBSCRIPTION", "payMethodType": "CREDITCARD"},
        "requestedAt": NOW_TS,
        "notifyUrl": NOTIFY_URL,
        "subscriptionManagementUrl": "https://merchant.test/manage",
    }
    payload.update(overrides)
    return payload


# -- the merchant's webhook receiver -------------------------------------------------------------


@dataclass
class Receiver:
    """A tiny merchant endpoint. `replies` scripts the next answers; "ok" once the script runs out."""

    merchant_key: rsa.RSAPrivateKey
    waffo_public_b64: str
    replies: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, str | None]] = field(default_factory=list)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.received if event_type is None or e["eventType"] == event_type]

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("x-signature")
        self.raw.append((body, signature))
        assert signature and verify(body, signature, self.waffo_public_b64), "bad Waffo signature"
        self.received.append(json.loads(body))
        mode = self.replies.pop(0) if self.replies else "ok"
        ok = b'{"message":"success"}'
        signed = {"X-SIGNATURE": sign(ok, self.merchant_key)}
        if mode == "ok":
            return Response(ok, media_type="application/json", headers=signed)
        if mode == "wrong_body":
            body2 = b'{"status":"success"}'
            return Response(
                body2, media_type="application/json", headers={"X-SIGNATURE": sign(body2, self.merchant_key)}
            )
        if mode == "spaced_body":
            body3 = b'{"message": "success"}'
            return Response(
                body3, media_type="application/json", headers={"X-SIGNATURE": sign(body3, self.merchant_key)}
            )
        if mode == "wrong_content_type":
            return Response(ok, media_type="text/plain", headers=signed)
        if mode == "missing_signature":
            return Response(ok, media_type="application/json")
        if mode == "bad_signature":
            return Response(ok, media_type="application/json", headers={"X-SIGNATURE": sign(b"x", self.merchant_key)})
        if mode == "http_500":
            return Response(ok, status_code=500, media_type="application/json", headers=signed)
        if mode == "charset":
            return Response(ok, headers={**signed, "content-type": "application/json; charset=utf-8"})
        raise AssertionError(f"unknown reply mode {mode}")


# -- the client a merchant would use -------------------------------------------------------------


@dataclass
class WaffoApi:
    http: httpx.AsyncClient
    emulator: WaffoEmulator
    merchant_key: rsa.RSAPrivateKey
    api_key: str = API_KEY

    async def raw(
        self,
        operation: str,
        body: bytes,
        *,
        api_key: str | None = None,
        signature: str | None = None,
        omit_signature: bool = False,
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-API-KEY": api_key or self.api_key}
        if not omit_signature:
            headers["X-SIGNATURE"] = signature or sign(body, self.merchant_key)
        return await self.http.post(f"/api/v1/{operation}", content=body, headers=headers)

    async def call(self, operation: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Send a signed request; return the envelope after checking the response signature."""
        response = await self.raw(operation, compact(payload), **kwargs)
        assert verify(response.content, response.headers["x-signature"], self.emulator.waffo_public_key_b64())
        envelope = json.loads(response.content)
        assert isinstance(envelope["code"], str)
        envelope["_http_status"] = response.status_code
        return envelope

    async def ok(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        envelope = await self.call(operation, payload)
        assert envelope["code"] == "0", envelope
        assert envelope["_http_status"] == 200
        data: dict[str, Any] = envelope["data"]
        return data

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(method, f"/control{path}", json=body)

    async def ledger(self) -> list[dict[str, Any]]:
        response = await self.control("GET", "/ledger")
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries


@pytest.fixture(scope="session")
def merchant_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="session")
def waffo_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
def receiver(merchant_key: rsa.RSAPrivateKey, waffo_key: rsa.RSAPrivateKey) -> Receiver:
    return Receiver(merchant_key=merchant_key, waffo_public_b64=public_b64(waffo_key))


@pytest.fixture
def waffo_config(waffo_key: rsa.RSAPrivateKey) -> WaffoEmulatorConfig:
    return WaffoEmulatorConfig(
        public_base_url=BASE_URL,
        waffo_private_key_pem=private_pem(waffo_key),
        notify_time_scale=0.00001,
        notify_timeout_s=2.0,
    )


@pytest.fixture
async def waffo(
    waffo_config: WaffoEmulatorConfig, receiver: Receiver, merchant_key: rsa.RSAPrivateKey
) -> AsyncIterator[WaffoApi]:
    receiver_app = Starlette(routes=[Route("/webhooks/waffo", receiver.endpoint, methods=["POST"])])
    notify_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver_app))
    emulator = WaffoEmulator(waffo_config, http_client=notify_client)
    emulator.register_merchant(API_KEY, MERCHANT_ID, public_b64(merchant_key))
    app = create_app(emulator)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield WaffoApi(http=http, emulator=emulator, merchant_key=merchant_key)
    await emulator.aclose()
    await notify_client.aclose()
