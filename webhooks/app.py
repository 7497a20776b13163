"""The HTTP service: provider notifications in, Temporal signals out.

``POST /webhooks/{provider}/orders/{order_id}`` (the notify URL every order gives its provider) and
``POST /webhooks/{provider}`` (a portal-configured fallback):

1. read the raw body and verify its signature before anything else (401 if it fails: nothing is
   signalled);
2. parse it into a normalized event (400 if it is not the documented shape);
3. signal the order's workflow and wait until Temporal accepted the signal;
4. only then reply exactly as the provider requires. If Temporal cannot be reached, reply so that the
   provider retries later (503 with the provider's failure body): a webhook is never lost.

Events for an order that does not exist (or whose workflow has closed) are acknowledged and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing.errors import MalformedNotificationError, SignatureVerificationError
from billing.gateway import (
    NotificationReply,
    PaymentEvent,
    ProviderEvent,
    RefundEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    UnknownEvent,
)
from billing.metrics import count_webhook
from billing.orders import RedirectHint, order_workflow_id
from billing.subscriptions import subscription_workflow_id
from billing.telemetry import server_span
from providers.base import NotificationVerifier
from workflows.order import OrderWorkflow
from workflows.subscription import SubscriptionWorkflow

if TYPE_CHECKING:
    from webhooks.codec import CodecServer

log = logging.getLogger("billing.webhooks")


@dataclass
class WebhookCounters:
    """What this service instance has seen (the metric ``billing.webhooks`` counts the same by outcome)."""

    received: int = 0
    signalled: int = 0
    rejected_signature: int = 0
    malformed: int = 0
    unroutable: int = 0
    temporal_unavailable: int = 0


WEBHOOK_ROUTE = "/webhooks/{provider}"
ORDER_WEBHOOK_ROUTE = "/webhooks/{provider}/orders/{order_id}"
SUBSCRIPTION_WEBHOOK_ROUTE = "/webhooks/{provider}/subscriptions/{subscription_id}"
REDIRECT_ROUTE = "/callbacks/{provider}/orders/{order_id}/{result}"


def _webhook_route(request: Request) -> tuple[str, str]:
    """The route template (spans are named by it, never by the path, which holds ids) and its kind."""
    if "order_id" in request.path_params:
        return ORDER_WEBHOOK_ROUTE, "webhook.order"
    if "subscription_id" in request.path_params:
        return SUBSCRIPTION_WEBHOOK_ROUTE, "webhook.subscription"
    return WEBHOOK_ROUTE, "webhook"


def _result_token(request: Request) -> str | None:
    """WaafiPay appends ``?hppResultToken=...`` literally, even to a URL that already has a query."""
    from providers.waafipay import parse_hpp_callback

    hint = parse_hpp_callback(str(request.url))
    return hint.result_token


def _reply(reply: NotificationReply, status_code: int | None = None) -> Response:
    return Response(reply.body, status_code=status_code or reply.status_code, headers=reply.headers)


class WebhookService:
    def __init__(
        self,
        client: Client | Callable[[], Awaitable[Client]],
        verifiers: Mapping[str, NotificationVerifier],
    ) -> None:
        self._client = client
        self.verifiers = dict(verifiers)
        self.counters = WebhookCounters()

    async def client(self) -> Client:
        if isinstance(self._client, Client):
            return self._client
        self._client = await self._client()
        return self._client

    async def receive(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        # The path is the caller's: a provider we do not know is labelled "unknown", so no caller can mint
        # new label values.
        label = provider if provider in self.verifiers else "unknown"
        route, kind = _webhook_route(request)
        with server_span(request.method, route, provider=label, kind=kind) as span:
            response, outcome = await self._receive(request, provider)
            span.outcome(outcome, response.status_code)
            count_webhook(label, outcome)
            return response

    async def _receive(self, request: Request, provider: str) -> tuple[Response, str]:
        """The reply and its outcome for the span and the metrics: ``signalled``, ``acknowledged`` (no
        open workflow, or an event type the engine does not handle), ``rejected`` (signature), ``malformed``,
        ``unknown_provider``, ``temporal_unavailable``."""
        verifier = self.verifiers.get(provider)
        if verifier is None:
            return JSONResponse({"error": f"unknown provider {provider!r}"}, status_code=404), "unknown_provider"
        self.counters.received += 1
        body = await request.body()
        try:
            event = verifier.parse_notification(body, dict(request.headers))
        except SignatureVerificationError as exc:
            self.counters.rejected_signature += 1
            log.warning("rejected %s notification: %s", provider, exc)
            return _reply(verifier.failure_reply(), 401), "rejected"
        except MalformedNotificationError as exc:
            self.counters.malformed += 1
            log.warning("malformed %s notification: %s", provider, exc)
            return _reply(verifier.failure_reply(), 400), "malformed"

        order_id = request.path_params.get("order_id")
        subscription_id = request.path_params.get("subscription_id")
        try:
            delivered = await self._route(event, order_id, subscription_id)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                delivered = False
            else:
                self.counters.temporal_unavailable += 1
                log.error("could not signal for %s notification (%s); provider will retry", provider, exc)
                return _reply(verifier.failure_reply(), 503), "temporal_unavailable"
        except (OSError, RuntimeError) as exc:
            self.counters.temporal_unavailable += 1
            log.error("Temporal unreachable for %s notification (%s); provider will retry", provider, exc)
            return _reply(verifier.failure_reply(), 503), "temporal_unavailable"
        if not delivered:
            self.counters.unroutable += 1
            log.warning("%s %s notification has no open workflow; acknowledged", provider, event.kind)
            return _reply(verifier.success_reply()), "acknowledged"
        self.counters.signalled += 1
        return _reply(verifier.success_reply()), "acknowledged" if isinstance(event, UnknownEvent) else "signalled"

    async def _route(self, event: ProviderEvent, order_id: str | None, subscription_id: str | None) -> bool:
        if isinstance(event, UnknownEvent):
            log.info("acknowledged unhandled event type %s", event.provider_event_type)
            return True
        if subscription_id is not None:
            return await self._route_subscription(event, subscription_id)
        if order_id is None and isinstance(event, PaymentEvent):
            order_id = event.outcome.merchant_reference
        if order_id is None:
            return False
        client = await self.client()
        handle = client.get_workflow_handle(order_workflow_id(order_id))
        if isinstance(event, PaymentEvent):
            await handle.signal(OrderWorkflow.payment_event, event)
            return True
        if isinstance(event, RefundEvent):
            await handle.signal(OrderWorkflow.refund_event, event)
            return True
        return False

    async def _route_subscription(self, event: ProviderEvent, subscription_id: str) -> bool:
        client = await self.client()
        handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
        if isinstance(event, PaymentEvent):
            await handle.signal(SubscriptionWorkflow.payment_event, event)
            return True
        if isinstance(event, SubscriptionEvent):
            await handle.signal(SubscriptionWorkflow.subscription_event, event)
            return True
        if isinstance(event, SubscriptionChangeEvent):
            await handle.signal(SubscriptionWorkflow.change_event, event)
            return True
        return False

    async def redirect_back(self, request: Request) -> Response:
        """The customer's browser, back from a provider's page. Unsigned, so only a hint: the order
        inquires at once. The browser goes on to the merchant's page (or a neutral one)."""
        with server_span(
            request.method, REDIRECT_ROUTE, provider=request.path_params["provider"], kind="callback.redirect"
        ) as span:
            response, outcome = await self._redirect_back(request)
            span.outcome(outcome, response.status_code)
            return response

    async def _redirect_back(self, request: Request) -> tuple[Response, str]:
        order_id = request.path_params["order_id"]
        result = request.path_params["result"]
        merchant_url: str | None = None
        outcome = "signalled"
        try:
            client = await self.client()
            handle = client.get_workflow_handle(order_workflow_id(order_id))
            await handle.signal(OrderWorkflow.redirect_hint, RedirectHint(result_token=_result_token(request)))
            order = await handle.query(OrderWorkflow.status)
            merchant_url = order.success_url if result == "success" else order.failure_url
        except (RPCError, OSError, RuntimeError) as exc:
            outcome = "temporal_unavailable"
            log.warning("redirect for order %s could not reach Temporal: %s", order_id, exc)
        if merchant_url:
            return RedirectResponse(merchant_url, status_code=303), outcome
        page = HTMLResponse(
            "<!doctype html><title>Payment</title><p>Thank you. The payment is being confirmed; "
            "you can close this page.</p>"
        )
        return page, outcome

    async def healthz(self, _: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "providers": sorted(self.verifiers)})


def create_app(service: WebhookService, codec: CodecServer | None = None) -> Starlette:
    """The HTTP service; with ``codec``, also the codec server for the Temporal UI (``/codec/...``)."""
    return Starlette(
        routes=[
            Route("/healthz", service.healthz),
            Route(WEBHOOK_ROUTE, service.receive, methods=["POST"]),
            Route(ORDER_WEBHOOK_ROUTE, service.receive, methods=["POST"]),
            Route(SUBSCRIPTION_WEBHOOK_ROUTE, service.receive, methods=["POST"]),
            Route(REDIRECT_ROUTE, service.redirect_back, methods=["GET", "POST"]),
            *(codec.routes() if codec is not None else []),
        ]
    )
