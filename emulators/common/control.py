"""Pieces every emulator's control API shares: its error, and reading a JSON object body."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request


class ControlError(Exception):
    """A control request that cannot be carried out; answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: Request, *, exact_numbers: bool = False) -> dict[str, Any]:
    """The request's JSON object body; an empty body is an empty object.

    ``exact_numbers`` reads JSON numbers with a fraction as Decimal (money), never as float.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw, parse_float=Decimal) if exact_numbers else json.loads(raw)
    except ValueError as exc:
        raise ControlError(400, "body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise ControlError(400, "body must be a JSON object")
    return payload


def opt_str(payload: dict[str, Any], key: str) -> str | None:
    """``payload[key]`` when it is a non-empty string."""
    value = payload.get(key)
    return value if isinstance(value, str) and value else None
