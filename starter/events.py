"""For merchant apps: verify and parse the events the engine POSTs to your endpoint.

::

    from starter.events import construct_event, SignatureError

    async def billing_events(request):                      # any web framework
        body = await request.body()                         # the raw bytes, before any JSON parsing
        try:
            event = construct_event(body, request.headers.get("Billing-Signature"), secret)
        except SignatureError:
            return Response(status_code=400)
        if already_processed(event.id):                     # deliveries are at least once
            return Response(status_code=200)
        handle(event.type, event.data)
        return Response(status_code=200)

Answer 2xx quickly once the event is stored; anything else (or no answer within 10 seconds) is retried
with backoff for three days. Events of one order or subscription arrive in order (``sequence``).

:class:`EventReceiver` is a ready-made endpoint that verifies and hands each event to a callback;
``billing events listen`` runs one and prints what arrives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billing.errors import SignatureError
from billing.events import (
    DEFAULT_TOLERANCE_SECONDS,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    MerchantEvent,
    verify_signature,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "EventReceiver",
    "MerchantEvent",
    "SignatureError",
    "construct_event",
]


def construct_event(
    payload: bytes,
    header: str | None,
    secrets: str | Iterable[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> MerchantEvent:
    """Verify ``header`` against the raw ``payload`` with any of ``secrets``, then parse the event.

    Raises :class:`SignatureError` (naming the header) when the signature is missing, does not match,
    or was made more than ``tolerance`` seconds from ``now``; and when the verified body is not an event.
    """
    verify_signature(payload, header, secrets, now=time.time() if now is None else now, tolerance=tolerance)
    try:
        return MerchantEvent.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise SignatureError(f"signed body is not an event: {exc}", field="body") from None


Handler = Callable[[MerchantEvent], Awaitable[None]]


class EventReceiver:
    """A merchant endpoint: verifies each POST, skips ids it has seen, and awaits ``handler`` for new ones."""

    def __init__(
        self, secrets: str | Iterable[str], handler: Handler, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        self.secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        self.handler = handler
        self.tolerance = tolerance
        self.seen: set[str] = set()
        self.rejected = 0

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = construct_event(body, request.headers.get(SIGNATURE_HEADER), self.secrets, tolerance=self.tolerance)
        except SignatureError as exc:
            self.rejected += 1
            return JSONResponse({"error": exc.reason, "field": exc.field}, status_code=400)
        if event.id not in self.seen:
            await self.handler(event)
            self.seen.add(event.id)
        return JSONResponse({"received": event.id})

    def app(self, path: str = "/") -> Starlette:
        return Starlette(routes=[Route(path, self.receive, methods=["POST"])])
