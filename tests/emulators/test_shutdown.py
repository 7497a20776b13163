"""Shutting servers and emulators down leaves nothing running on the loop, from any context.

A request still running when ``AppServer.stop`` is called (an injected latency, a dropped connection)
used to make the stop give up on the server task, so its lifespan never shut the emulator down; the
lifespan was then finalised when the test session's loop closed, outside any running loop, and the
emulator's ``aclose`` raised ``RuntimeError: no running event loop`` into pytest's teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.common.background import cancel_and_wait
from emulators.kess.config import KessEmulatorConfig
from emulators.kess.emulator import KessEmulator
from emulators.waffo.config import WaffoEmulatorConfig
from emulators.waffo.emulator import WaffoEmulator
from host.serving import AppServer


def run_outside_any_loop(coro: object) -> None:
    """Drive ``coro`` the way a garbage-collected lifespan is finalised: no event loop is running."""
    assert asyncio.iscoroutine(coro)
    with pytest.raises(StopIteration):
        coro.send(None)


def test_cancel_and_wait_outside_a_running_loop_cancels_and_returns() -> None:
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(asyncio.sleep(3600))
        run_outside_any_loop(cancel_and_wait([task, None]))
        assert task.cancelling() or task.cancelled()
        loop.run_until_complete(asyncio.wait({task}))
        assert task.cancelled()
    finally:
        loop.close()


@pytest.mark.parametrize(
    "make", [lambda: KessEmulator(KessEmulatorConfig()), lambda: WaffoEmulator(WaffoEmulatorConfig())]
)
def test_an_emulator_closed_outside_a_running_loop_does_not_raise(make: object) -> None:
    loop = asyncio.new_event_loop()
    try:
        emulator = make()  # type: ignore[operator]

        async def start() -> None:
            emulator.ensure_background()

        loop.run_until_complete(start())
        run_outside_any_loop(emulator.aclose())
    finally:
        loop.close()


async def test_stop_with_a_request_still_running_runs_the_lifespan_shutdown_and_leaves_no_task() -> None:
    shut_down = asyncio.Event()
    entered = asyncio.Event()

    async def hang(request: Request) -> JSONResponse:
        entered.set()
        await asyncio.sleep(3600)
        return JSONResponse({})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        shut_down.set()

    server = AppServer(Starlette(routes=[Route("/hang", hang)], lifespan=lifespan))
    await server.start()
    before = asyncio.all_tasks()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        request = asyncio.create_task(http.get("/hang"))
        await asyncio.wait_for(entered.wait(), timeout=10)
        await server.stop()
        assert shut_down.is_set(), "the lifespan shutdown did not run"
        (outcome,) = await asyncio.gather(request, return_exceptions=True)
        assert isinstance(outcome, httpx.HTTPError) or outcome.status_code >= 500, outcome
    left = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert not left, f"tasks left on the loop after stop: {left}"
