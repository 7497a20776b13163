"""All provider emulators behind one ASGI app, each under its own prefix (``/waffo/...``, ``/kess/...``).

``billing emulators serve`` and ``billing dev`` serve this on one loopback port; tests can mount it
in-process through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route

from emulators import kess as kess_emulator
from emulators import waafipay as waafipay_emulator
from emulators.waffo import WaffoEmulator, WaffoEmulatorConfig, create_app


@dataclass(frozen=True)
class MerchantRegistration:
    api_key: str
    merchant_id: str
    public_key_pem: bytes


@dataclass(frozen=True)
class KessMerchant:
    username: str
    password: str
    store_id: str


@dataclass(frozen=True)
class WaafiPayMerchant:
    merchant_uid: str
    api_user_id: str
    api_key: str
    store_id: str
    hpp_key: str


@dataclass
class EmulatorHub:
    waffo: WaffoEmulator
    kess: kess_emulator.KessEmulator
    waafipay: waafipay_emulator.WaafiPayEmulator
    app: Starlette

    async def aclose(self) -> None:
        await self.waffo.aclose()
        await self.kess.aclose()
        await self.waafipay.aclose()


def build_hub(
    *,
    public_base_url: str,
    waffo_private_key_pem: bytes | None = None,
    waffo_merchants: Sequence[MerchantRegistration] = (),
    kess_merchants: Sequence[KessMerchant] = (),
    waafipay_merchants: Sequence[WaafiPayMerchant] = (),
    notify_time_scale: float = 1.0,
    kess_time_scale: float = 1.0,
    waafipay_time_scale: float = 1.0,
) -> EmulatorHub:
    base = public_base_url.rstrip("/")
    waffo = WaffoEmulator(
        WaffoEmulatorConfig(
            public_base_url=f"{base}/waffo",
            waffo_private_key_pem=waffo_private_key_pem,
            notify_time_scale=notify_time_scale,
        )
    )
    for merchant in waffo_merchants:
        waffo.register_merchant(merchant.api_key, merchant.merchant_id, merchant.public_key_pem)
    kess = kess_emulator.KessEmulator(
        kess_emulator.KessEmulatorConfig(public_base_url=f"{base}/kess", time_scale=kess_time_scale)
    )
    for account in kess_merchants:
        kess.register_merchant(account.username, account.password, store_id=account.store_id)
    waafipay = waafipay_emulator.WaafiPayEmulator(
        waafipay_emulator.WaafiPayEmulatorConfig(public_base_url=f"{base}/waafipay", time_scale=waafipay_time_scale)
    )
    for wallet_merchant in waafipay_merchants:
        waafipay.register_merchant(
            wallet_merchant.merchant_uid,
            wallet_merchant.api_user_id,
            wallet_merchant.api_key,
            wallet_merchant.store_id,
            wallet_merchant.hpp_key,
        )

    async def index(_: Request) -> HTMLResponse:
        return HTMLResponse(
            "<h1>Payment provider emulators</h1><ul>"
            f'<li>Waffo: API <code>{base}/waffo/api/v1</code>, ledger <a href="{base}/waffo/control/ledger">'
            "/waffo/control/ledger</a></li>"
            f'<li>KESS Pay: API <code>{base}/kess</code>, ledger <a href="{base}/kess/control/ledger">'
            "/kess/control/ledger</a></li>"
            f'<li>WaafiPay: API <code>{base}/waafipay/asm</code>, ledger <a href="{base}/waafipay/control/ledger">'
            "/waafipay/control/ledger</a></li></ul>"
        )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "emulators": ["waffo", "kess", "waafipay"]})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await waffo.aclose()
            await kess.aclose()
            await waafipay.aclose()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Mount("/waffo", app=create_app(waffo)),
            Mount("/kess", app=kess_emulator.create_app(kess)),
            Mount("/waafipay", app=waafipay_emulator.create_app(waafipay)),
        ],
        lifespan=lifespan,
    )
    return EmulatorHub(waffo=waffo, kess=kess, waafipay=waafipay, app=app)
