"""The HTTP stack every provider client, the emulators and merchant-event delivery use."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from host.serving import AppServer


class CountingFinder(importlib.abc.MetaPathFinder):
    """Sees every import that is not already in sys.modules."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.asked.append(fullname)
        return None


async def test_a_request_does_not_search_for_modules() -> None:
    """httpcore asks which event loop runs, by importing sniffio, several times per request.

    Without sniffio installed every ask is a failed import that searches sys.path: about a third of the CPU
    of a request to a provider. The dependency is declared in pyproject.toml; this fails if it goes missing.
    """

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    server = AppServer(Starlette(routes=[Route("/", ok)]))
    await server.start()
    finder = CountingFinder()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/")).text == "ok"  # warm: first-use imports happen here
            sys.meta_path.insert(0, finder)
            for _ in range(5):
                assert (await client.get("/")).status_code == 200
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        await server.stop()
    assert finder.asked == [], f"imports searched for on every request: {sorted(set(finder.asked))}"
