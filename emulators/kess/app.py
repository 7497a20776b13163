"""The Starlette application: the merchant API at the configured paths, /control and /health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.kess.api import OPERATIONS, api_endpoint
from emulators.kess.control import control_routes
from emulators.kess.emulator import KessEmulator


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "provider": "kess"})


def create_app(emulator: KessEmulator) -> Starlette:
    """Build the ASGI app around `emulator`.

    The lifespan starts the background sweeper and stops it on shutdown. Without a lifespan (e.g.
    `httpx.ASGITransport`) it starts lazily on the first request.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        emulator.ensure_background()
        try:
            yield
        finally:
            await emulator.aclose()

    token_methods = ["POST", "GET"]
    routes = [
        Route(
            emulator.config.path(operation),
            api_endpoint(emulator, operation),
            methods=token_methods if operation == "token" else ["POST"],
        )
        for operation in sorted(OPERATIONS)
    ]
    routes += [*control_routes(), Route("/health", health, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emulator
    return app
