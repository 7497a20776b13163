"""All provider emulators behind one ASGI app, each under its own prefix (``/waffo/...``, ``/kess/...``).

``billing emulators serve`` and ``billing dev`` serve this on one loopback port; tests can mount it
in-process through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators import kess as kess_emulator
from emulators import waafipay as waafipay_emulator
from emulators.common.persistence import EmulatorStates, Persisted, StateFile
from emulators.waffo import WaffoEmulator, WaffoEmulatorConfig, create_app

log = logging.getLogger(__name__)


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
    #: Where the emulators keep their state, when they keep it (``billing dev``).
    states: EmulatorStates | None = None
    #: The emulators whose saved state was loaded at start.
    restored: tuple[str, ...] = ()

    def save_state(self) -> None:
        """Write the emulators' state if it changed since the last save (no-op without a state file)."""
        if self.states is not None:
            try:
                self.states.save_if_changed()
            except Exception:  # a full disk must not take the emulators down
                log.exception("the emulators' state could not be saved")

    async def aclose(self) -> None:
        await self.waffo.aclose()
        await self.kess.aclose()
        await self.waafipay.aclose()
        if self.states is not None:
            self.save_state()
            self.states.close()
            self.states = None


#: How often background changes (deliveries, expiries, delayed completions) are saved, in seconds.
SAVE_INTERVAL_S = 0.5


def _persist(hub: EmulatorHub, state_file: Path, fresh: bool) -> None:
    """Keep the hub's state in ``state_file``: restore it now (unless ``fresh``), save it after every
    request and every :data:`SAVE_INTERVAL_S` while serving."""
    if fresh:
        for path in (state_file, *state_file.parent.glob(state_file.name + "-*")):
            path.unlink(missing_ok=True)
    hub.states = EmulatorStates(
        StateFile(state_file),
        {
            "waffo": Persisted(hub.waffo.export_state, hub.waffo.restore_state),
            "kess": Persisted(hub.kess.export_state, hub.kess.restore_state),
            "waafipay": Persisted(hub.waafipay.export_state, hub.waafipay.restore_state),
        },
    )
    hub.restored = tuple(hub.states.restore())
    hub.save_state()

    class SaveAfterRequest:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return

            async def send_after_saving(message: Message) -> None:
                # The change is on disk before the caller sees the answer: a kill right after loses nothing.
                if message["type"] == "http.response.start":
                    hub.save_state()
                await send(message)

            try:
                await self.app(scope, receive, send_after_saving)
            finally:
                hub.save_state()

    hub.app.add_middleware(SaveAfterRequest)


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
    state_file: Path | None = None,
    fresh: bool = False,
) -> EmulatorHub:
    """The emulators behind one app. With ``state_file`` their state survives a restart (see
    :mod:`emulators.common.persistence`); ``fresh`` deletes it first."""
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

    async def save_periodically() -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL_S)
            hub.save_state()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        saver = None
        if hub.states is not None:
            waffo.ensure_background()  # restored notifications and completions go out without a request
            saver = asyncio.get_running_loop().create_task(save_periodically(), name="emulator-state-saver")
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                await asyncio.wait({saver}, timeout=5)
            await hub.aclose()

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
    hub = EmulatorHub(waffo=waffo, kess=kess, waafipay=waafipay, app=app)
    if state_file is not None:
        _persist(hub, state_file, fresh)
    return hub
