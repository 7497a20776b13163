"""The Starlette application: /api/v1 (signed API), /checkout and /manage pages, /control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.waffo.api import api_endpoint
from emulators.waffo.checkout import checkout_routes
from emulators.waffo.control import control_routes
from emulators.waffo.emulator import WaffoEmulator


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "provider": "waffo"})


def create_app(emulator: WaffoEmulator) -> Starlette:
    """Build the ASGI app around `emulator`.

    The lifespan starts notification delivery and the expiry sweeper and closes them on shutdown.
    Without a lifespan (e.g. `httpx.ASGITransport`) they start lazily on the first request.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        emulator.ensure_background()
        try:
            yield
        finally:
            await emulator.aclose()

    routes = [
        Route("/api/v1/{operation:path}", api_endpoint, methods=["POST"]),
        *checkout_routes(),
        *control_routes(),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emulator
    return app
