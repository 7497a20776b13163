"""The Starlette application: POST /asm, the hosted payment page, /control and /health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.waafipay.api import asm_endpoint
from emulators.waafipay.control import control_routes
from emulators.waafipay.emulator import WaafiPayEmulator
from emulators.waafipay.pages import page_routes


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "provider": "waafipay"})


def create_app(emulator: WaafiPayEmulator) -> Starlette:
    """Build the ASGI app around `emulator`; the lifespan cancels pending payer pushes on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await emulator.aclose()

    routes = [
        Route("/asm", asm_endpoint, methods=["POST"]),
        *page_routes(),
        *control_routes(),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emulator
    return app
