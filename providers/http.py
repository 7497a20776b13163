"""The one POST every provider client makes: httpx's failures become the engine's outcome-unknown errors.

A timeout, a connection that failed or broke, or a body that could not be decoded says nothing about
whether the provider acted: each becomes a branch of ``OutcomeUnknownError`` naming the provider and the
operation, and the workflow reconciles by inquiry.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Self

import httpx

from billing.errors import ProviderConnectionError, ProviderTimeoutError, ResponseVerificationError


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    operation: str,
    content: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout | float | None,
) -> httpx.Response:
    try:
        return await http.post(url, content=content, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(
            f"no complete answer in time ({type(exc).__name__})", provider=provider, operation=operation
        ) from exc
    except httpx.DecodingError as exc:
        raise ResponseVerificationError(
            "the response body could not be decoded", provider=provider, operation=operation
        ) from exc
    except httpx.RequestError as exc:
        raise ProviderConnectionError(
            f"the connection failed ({type(exc).__name__})", provider=provider, operation=operation
        ) from exc


class HttpClientOwner:
    """The lifecycle every provider client shares: it closes its HTTP client only if it made it, and it is
    an async context manager. Subclasses set ``_http`` and ``_owns_http`` in their constructor."""

    _http: httpx.AsyncClient
    _owns_http: bool

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def json_numbers(value: Any) -> str:
    """JSON of ``value`` with every ``Decimal`` written as a JSON number in plain notation (``10.50``), never
    through a float: what KESS and WaafiPay document as number-typed amounts."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{json_numbers(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_numbers(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)
