"""Helpers for the WaafiPay emulator tests: a merchant-side client for POST /asm and the control API."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import httpx

from emulators.waafipay import WaafiPayEmulator, WaafiPayEmulatorConfig, create_app

BASE_URL = "http://waafipay.test"
MERCHANT_UID = "M0910291"
API_USER_ID = "1000416"
API_KEY = "API-1901083745AHX"
STORE_ID = "1000297"
HPP_KEY = "HPP-3AB2D7C91E0F44AA"
OTHER_UID = "M0910999"
EVC = "252611111111"
ZAAD = "252631111111"
SUCCESS_URL = "https://merchant.test/hpp/success?order=42"
FAILURE_URL = "https://merchant.test/hpp/failure"

_ids = itertools.count(1)
_NUMBER_MARK = re.compile(r'"#number#([0-9.]+)"')


def encode(value: Any) -> bytes:
    """JSON with Decimal values written as JSON numbers (12.5, not "12.5"), without floats."""

    def mark(node: Any) -> Any:
        if isinstance(node, Decimal):
            return f"#number#{node}"
        if isinstance(node, dict):
            return {k: mark(v) for k, v in node.items()}
        if isinstance(node, list):
            return [mark(v) for v in node]
        return node

    return _NUMBER_MARK.sub(r"\1", json.dumps(mark(value))).encode()


def ref(prefix: str = "R") -> str:
    return f"{prefix}{next(_ids):06d}"


def fast_config(**overrides: Any) -> WaafiPayEmulatorConfig:
    """Time runs 100x faster: a 5 s payer answers in 50 ms, the 60 s PIN dialog in 0.6 s."""
    config = WaafiPayEmulatorConfig(public_base_url=BASE_URL, time_scale=0.01, hpp_timeout_s=300.0)
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def purchase_params(
    *, account: str = EVC, amount: Any = "10", reference: str | None = None, currency: str = "USD"
) -> dict[str, Any]:
    reference = reference or ref()
    return {
        "paymentMethod": "MWALLET_ACCOUNT",
        "payerInfo": {"accountNo": account},
        "transactionInfo": {
            "referenceId": reference,
            "invoiceId": f"INV-{reference}",
            "amount": amount,
            "currency": currency,
            "description": "Test purchase",
        },
    }


def hpp_params(
    *,
    amount: Any = "10",
    reference: str | None = None,
    data_format: Any = 4,
    method: str = "MWALLET_ACCOUNT",
    subscription_id: str | None = EVC,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "paymentMethod": method,
        "hppSuccessCallbackUrl": SUCCESS_URL,
        "hppFailureCallbackUrl": FAILURE_URL,
        "hppRespDataFormat": data_format,
        "transactionInfo": {
            "referenceId": reference or ref("H"),
            "invoiceId": "INV-HPP",
            "amount": amount,
            "currency": "USD",
            "description": "Hosted purchase",
        },
    }
    if subscription_id is not None:
        params["payerInfo"] = {"subscriptionId": subscription_id}
    return params


Credentials = Literal["api", "hpp", "none"]


@dataclass
class WaafiPayApi:
    http: httpx.AsyncClient
    emulator: WaafiPayEmulator

    def envelope(self, service: str, params: dict[str, Any], credentials: Credentials) -> dict[str, Any]:
        service_params = dict(params)
        if credentials == "api":
            service_params.update({"merchantUid": MERCHANT_UID, "apiUserId": int(API_USER_ID), "apiKey": API_KEY})
        elif credentials == "hpp":
            service_params.update({"merchantUid": MERCHANT_UID, "storeId": int(STORE_ID), "hppKey": HPP_KEY})
        return {
            "schemaVersion": "1.0",
            "requestId": f"RPYWP{next(_ids)}",
            "timestamp": 1644407026,
            "channelName": "WEB",
            "serviceName": service,
            "serviceParams": service_params,
        }

    async def raw(
        self, service: str, params: dict[str, Any], credentials: Credentials | None = None, **kwargs: Any
    ) -> httpx.Response:
        creds: Credentials = credentials or ("hpp" if service.startswith("HPP_") else "api")
        body = encode(self.envelope(service, params, creds))
        return await self.http.post("/asm", content=body, headers={"Content-Type": "application/json"}, **kwargs)

    async def call(
        self, service: str, params: dict[str, Any], credentials: Credentials | None = None
    ) -> dict[str, Any]:
        response = await self.raw(service, params, credentials)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = json.loads(response.content)
        for key in ("responseCode", "errorCode", "responseMsg", "timestamp", "responseId"):
            assert isinstance(body[key], str), (key, body)
        return body

    async def ok(self, service: str, params: dict[str, Any]) -> dict[str, Any]:
        body = await self.call(service, params)
        assert (body["responseCode"], body["errorCode"], body["responseMsg"]) == ("2001", "0", "RCS_SUCCESS"), body
        result: dict[str, Any] = body["params"]
        assert all(isinstance(v, str) for v in result.values()), result
        return result

    async def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(method, f"/control{path}", json=body)

    async def wallet(self, number: str, **fields: Any) -> dict[str, Any]:
        response = await self.control("POST", "/wallets", {"number": number, **fields})
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    async def balance(self, number: str) -> str:
        balance: str = (await self.control("GET", f"/wallets/{number}")).json()["balance"]
        return balance

    async def fault(self, operation: str, kind: str, count: int = 1, **params: Any) -> None:
        body = {"operation": operation, "kind": kind, "count": count, "params": params}
        response = await self.control("POST", "/faults", body)
        assert response.status_code == 200, response.text

    async def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.control("GET", "/ledger")).json()["entries"]
        return entries

    async def hpp_action(self, reference: str, action: str, body: Any = None) -> dict[str, Any]:
        response = await self.control("POST", f"/hpp/{reference}/{action}", body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def new_emulator(config: WaafiPayEmulatorConfig | None = None) -> WaafiPayEmulator:
    emulator = WaafiPayEmulator(config or fast_config())
    emulator.register_merchant(MERCHANT_UID, API_USER_ID, API_KEY, store_id=STORE_ID, hpp_key=HPP_KEY)
    emulator.register_merchant(OTHER_UID, "1000999", "API-9999999999AHX", store_id="1000999", hpp_key="HPP-OTHER")
    return emulator


@asynccontextmanager
async def waafipay_client(config: WaafiPayEmulatorConfig | None = None) -> AsyncIterator[WaafiPayApi]:
    emulator = new_emulator(config)
    transport = httpx.ASGITransport(app=create_app(emulator))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield WaafiPayApi(http=http, emulator=emulator)
    await emulator.aclose()
