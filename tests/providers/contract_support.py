"""Small helpers shared by the provider contract modules: an emulator's control API and its ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from billing.money import Money
from tests.providers.contract import Movement


@dataclass
class ControlApi:
    """One emulator's unauthenticated control API (``<hub>/<provider>/control``)."""

    http: httpx.AsyncClient

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.http.get(path)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    async def act(self, path: str, **body: Any) -> dict[str, Any]:
        response = await self.http.post(path, json=body or None)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    async def fault(self, operation: str, kind: str, count: int = 1, **params: Any) -> None:
        await self.act("/faults", operation=operation, kind=kind, count=count, params=params)

    async def clear_faults(self) -> None:
        response = await self.http.delete("/faults")
        response.raise_for_status()

    async def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.get("/ledger"))["entries"]
        return entries

    async def movements(self, belongs: Callable[[dict[str, Any]], bool]) -> list[Movement]:
        """The ledger entries ``belongs`` selects, in order, as contract movements."""
        return [
            Movement(entry["kind"], Money.parse(str(entry["amount"]), entry["currency"]))
            for entry in await self.ledger()
            if belongs(entry)
        ]
