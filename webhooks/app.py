"""The HTTP service: provider notifications in, Temporal signals out.

``POST /webhooks/{provider}/orders/{order_id}`` (the notify URL every order gives its provider) and
``POST /webhooks/{provider}`` (a portal-configured fallback):

1. read the raw body, refusing one larger than ``BILLING_HTTP_MAX_BODY_BYTES`` (413) before reading it
   (by Content-Length) or as soon as it passes the limit (chunked);
2. verify its signature before anything else (401 if it fails: nothing is signalled);
3. parse it into a normalized event (400 if it is not the documented shape, however it is broken);
4. signal the order's workflow and wait until Temporal accepted the signal;
5. only then reply exactly as the provider requires.

A statement that reaches no open workflow (none with that id, or it has closed) is **not** acknowledged:
it may be money the engine would otherwise lose. The reply is 404 with the provider's failure body, so
the provider retries, and it is logged at error level and counted (outcome ``unroutable``) for an
operator. A verified event type the engine does not handle is acknowledged without a workflow, unless the
provider's own SDK refuses such events (the verifier's ``acknowledges_unknown_events`` is False):
then it gets 422 with the failure body (outcome ``unhandled``), so the provider retries it.

Only a Temporal outage (unreachable, or an RPC answered UNAVAILABLE, DEADLINE_EXCEEDED...) answers 503
so that the provider retries later; any other failure is a bug: 500, logged with its traceback. Every
reply is a handled response, so the connection stays open for the next request.

``/callbacks/{provider}/orders/{order_id}/{result}`` is the customer's browser back from a provider's
page: unsigned, a mere hint to inquire. Hints are coalesced (see :mod:`billing.hints`): per order, this
process makes at most one lookup at a time and none again within ``BILLING_HTTP_HINT_WINDOW_SECONDS``,
asks the workflow with a query (no history) whether a hint would make it inquire, and signals only then.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from billing.errors import MalformedNotificationError, NotificationTooLargeError, SignatureVerificationError
from billing.gateway import (
    NotificationReply,
    PaymentEvent,
    ProviderEvent,
    RefundEvent,
    SubscriptionChangeEvent,
    SubscriptionEvent,
    UnknownEvent,
)
from billing.hints import HintState, HintVerdict
from billing.metrics import count_webhook
from billing.orders import RedirectHint, order_workflow_id
from billing.subscriptions import subscription_workflow_id
from billing.telemetry import server_span
from billing.temporal import await_quiet
from providers.base import NotificationVerifier
from providers.registry import PROVIDERS
from workflows.order import OrderWorkflow
from workflows.subscription import SubscriptionWorkflow

if TYPE_CHECKING:
    from webhooks.codec import CodecServer

#: How long a redirect waits for a pending workflow task before it signals without asking first.
HINT_QUIET_SECONDS = 2.0

log = logging.getLogger("billing.webhooks")

#: What an order or subscription id in a path can be (billing.orders.MerchantId): anything else names no
#: workflow, and is refused without asking Temporal.
_MERCHANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
#: A provider name as the engine spells them; any other path segment is labelled "unknown" on spans.
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: RPC answers that mean Temporal is (for now) unable to serve: the provider should retry later.
_OUTAGE_STATUSES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
    }
)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_HINT_WINDOW_SECONDS = 5.0
#: Orders whose last redirect this process remembers (for its coalescing window).
_REMEMBERED_ORDERS = 10_000
#: The longest result token a hint carries (billing.orders.RedirectHint).
_MAX_TOKEN = 256


@dataclass
class WebhookCounters:
    """What this service instance has seen (the metric ``billing.webhooks`` counts the same by outcome)."""

    received: int = 0
    signalled: int = 0
    rejected_signature: int = 0
    malformed: int = 0
    too_large: int = 0
    unroutable: int = 0
    unhandled: int = 0
    temporal_unavailable: int = 0
    errors: int = 0
    hints_signalled: int = 0
    hints_coalesced: int = 0


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


def _result_token(request: Request, provider: str) -> str | None:
    """The result token the provider's page put on the redirect URL (``ProviderSpec.redirect_token``), if any."""
    spec = next((spec for spec in PROVIDERS if spec.name == provider), None)
    if spec is None or spec.redirect_token is None:
        return None
    token = spec.redirect_token(str(request.url))
    return token if token is not None and len(token) <= _MAX_TOKEN else None


def _valid_id(value: str | None) -> bool:
    return value is None or _MERCHANT_ID.fullmatch(value) is not None


def temporal_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means Temporal cannot serve right now (retry later), rather than a bug."""
    if isinstance(exc, RPCError):
        return exc.status in _OUTAGE_STATUSES
    return isinstance(exc, ConnectionError | TimeoutError)


def _missing(exc: BaseException) -> bool:
    """No workflow with that id, or it has closed (a signal to a closed workflow is NOT_FOUND too)."""
    return isinstance(exc, RPCError) and exc.status is RPCStatusCode.NOT_FOUND


def _reply(reply: NotificationReply, status_code: int | None = None) -> Response:
    return Response(reply.body, status_code=status_code or reply.status_code, headers=reply.headers)


@dataclass
class _Redirected:
    """What this process last learned for one order's redirect: when, with which token, where to send the
    browser, and the outcome for the span."""

    at: float
    token: str | None
    merchant_urls: tuple[str | None, str | None] | None
    outcome: str


class WebhookService:
    def __init__(
        self,
        client: Client | Callable[[], Awaitable[Client]],
        verifiers: Mapping[str, NotificationVerifier],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        hint_window_seconds: float = DEFAULT_HINT_WINDOW_SECONDS,
    ) -> None:
        self._client = client
        self.verifiers = dict(verifiers)
        self.max_body_bytes = max_body_bytes
        self.hint_window_seconds = hint_window_seconds
        self.counters = WebhookCounters()
        self._redirected: OrderedDict[str, _Redirected] = OrderedDict()
        self._redirecting: dict[str, tuple[asyncio.Future[_Redirected], str | None]] = {}

    async def client(self) -> Client:
        """The Temporal client, connected on first use. A failure to connect is a ConnectionError."""
        if isinstance(self._client, Client):
            return self._client
        try:
            self._client = await self._client()
        except (RuntimeError, OSError) as exc:  # temporalio reports a failed connect as RuntimeError
            raise ConnectionError(f"cannot connect to Temporal: {exc}") from exc
        return self._client

    # -- notifications ----------------------------------------------------------------------------------

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
        """The reply and its outcome for the span and the metrics: ``signalled``, ``acknowledged`` (an
        event type the engine does not handle), ``unhandled`` (the same, refused for a provider whose SDK
        refuses it), ``unroutable`` (no open workflow), ``rejected``
        (signature), ``malformed``, ``too_large``, ``unknown_provider``, ``temporal_unavailable``,
        ``error``."""
        verifier = self.verifiers.get(provider)
        if verifier is None:
            return JSONResponse({"error": f"unknown provider {provider!r}"}, status_code=404), "unknown_provider"
        self.counters.received += 1
        try:
            body = await self._read_body(request)
        except NotificationTooLargeError:
            self.counters.too_large += 1
            log.warning("refused a %s notification larger than %d bytes", provider, self.max_body_bytes)
            # Connection: close, so the server stops taking the rest of the body instead of discarding it.
            response = _reply(verifier.failure_reply(), 413)
            response.headers["Connection"] = "close"
            return response, "too_large"
        except ClientDisconnect:
            return _reply(verifier.failure_reply(), 400), "malformed"
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
        except Exception:
            self.counters.errors += 1
            log.exception("could not parse a %s notification", provider)
            return _reply(verifier.failure_reply(), 500), "error"

        if isinstance(event, UnknownEvent):
            if not getattr(verifier, "acknowledges_unknown_events", True):
                self.counters.unhandled += 1
                log.warning(
                    "refused unhandled %s event type %r; the provider will retry it",
                    provider,
                    event.provider_event_type[:64],
                )
                return _reply(verifier.failure_reply(), 422), "unhandled"
            log.info("acknowledged unhandled %s event type %r", provider, event.provider_event_type[:64])
            return _reply(verifier.success_reply()), "acknowledged"
        order_id = request.path_params.get("order_id")
        subscription_id = request.path_params.get("subscription_id")
        target = f"order {order_id}" if order_id else f"subscription {subscription_id}"
        try:
            delivered = (
                _valid_id(order_id)
                and _valid_id(subscription_id)
                and await self._route(event, order_id, subscription_id)
            )
        except Exception as exc:
            if _missing(exc):
                delivered = False
            elif temporal_outage(exc):
                self.counters.temporal_unavailable += 1
                log.error("could not signal for %s notification (%s); provider will retry", provider, exc)
                return _reply(verifier.failure_reply(), 503), "temporal_unavailable"
            else:
                self.counters.errors += 1
                log.exception("could not deliver a %s %s notification", provider, event.kind)
                return _reply(verifier.failure_reply(), 500), "error"
        if not delivered:
            # Possibly money the engine would lose: not acknowledged, so the provider retries; an operator
            # is told (error log, outcome "unroutable" of the billing.webhooks metric).
            self.counters.unroutable += 1
            shown = target if _valid_id(order_id) and _valid_id(subscription_id) else "an invalid id"
            stated = event.outcome.status.value if isinstance(event, PaymentEvent | RefundEvent) else event.kind
            log.error(
                "verified %s %s notification (%s, %s) for %s reaches no open workflow; not acknowledged",
                provider,
                event.kind,
                stated,
                event.event_key[:128],
                shown if order_id or subscription_id else "no order in its path or body",
            )
            return _reply(verifier.failure_reply(), 404), "unroutable"
        self.counters.signalled += 1
        return _reply(verifier.success_reply()), "signalled"

    async def _read_body(self, request: Request) -> bytes:
        """The raw body, refused (``NotificationTooLargeError``) past the limit: by its declared length before a byte of
        it is read, and by counting as it streams (a chunked body declares none)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise NotificationTooLargeError(f"body over {self.max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise NotificationTooLargeError(f"body over {self.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _route(self, event: ProviderEvent, order_id: str | None, subscription_id: str | None) -> bool:
        if subscription_id is not None:
            return await self._route_subscription(event, subscription_id)
        if order_id is None and isinstance(event, SubscriptionEvent | SubscriptionChangeEvent):
            # The portal-wide route: a subscription statement names the merchant's subscription id.
            reference = event.outcome.merchant_reference
            if reference is None or not _valid_id(reference):
                return False
            return await self._route_subscription(event, reference)
        if order_id is None and isinstance(event, PaymentEvent):
            order_id = event.outcome.merchant_reference
            if not _valid_id(order_id):
                return False
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

    # -- browser redirects --------------------------------------------------------------------------------

    async def redirect_back(self, request: Request) -> Response:
        """The customer's browser, back from a provider's page. Unsigned, so only a hint: the order
        inquires soon (coalesced, see the module docstring). The browser goes on to the merchant's page
        (or a neutral one)."""
        provider = request.path_params["provider"]
        label = provider if _PROVIDER_NAME.fullmatch(provider) else "unknown"
        with server_span(request.method, REDIRECT_ROUTE, provider=label, kind="callback.redirect") as span:
            response, outcome = await self._redirect_back(request)
            span.outcome(outcome, response.status_code)
            return response

    async def _redirect_back(self, request: Request) -> tuple[Response, str]:
        order_id = request.path_params["order_id"]
        if not _valid_id(order_id):
            return _neutral_page(404), "unroutable"
        token = _result_token(request, request.path_params["provider"])
        try:
            seen = await self._hint(order_id, token)
        except Exception as exc:
            if temporal_outage(exc):
                log.warning("redirect for order %s could not reach Temporal: %s", order_id, exc)
                return _neutral_page(), "temporal_unavailable"
            log.exception("redirect for order %s failed", order_id)
            return _neutral_page(500), "error"
        if seen.merchant_urls is None:
            # No such order: 404. An order whose workflow could not be read just now (a worker taking it
            # over): the neutral page; the hint was still signalled.
            return _neutral_page(404 if seen.outcome == "unroutable" else 200), seen.outcome
        success_url, failure_url = seen.merchant_urls
        merchant_url = success_url if request.path_params["result"] == "success" else failure_url
        if merchant_url:
            return RedirectResponse(merchant_url, status_code=303), seen.outcome
        return _neutral_page(), seen.outcome

    async def _hint(self, order_id: str, token: str | None) -> _Redirected:
        """Per order: one lookup at a time, whose answer the requests waiting for it share; none again
        within the window unless the request brings a token not seen yet."""
        loop = asyncio.get_running_loop()
        while True:
            running = self._redirecting.get(order_id)
            if running is not None:
                lookup, running_token = running
                if token is None or token == running_token:
                    self.counters.hints_coalesced += 1
                    shared = await asyncio.shield(lookup)
                    return _Redirected(shared.at, shared.token, shared.merchant_urls, "coalesced")
                await asyncio.wait([lookup])
                continue
            seen = self._redirected.get(order_id)
            fresh = seen is not None and loop.time() - seen.at < self.hint_window_seconds
            if seen is not None and fresh and (token is None or token == seen.token):
                self.counters.hints_coalesced += 1
                return _Redirected(seen.at, seen.token, seen.merchant_urls, "coalesced")
            break
        lookup = loop.create_future()
        self._redirecting[order_id] = (lookup, token)
        try:
            seen = await self._look_up_and_hint(order_id, token, seen)
        except BaseException as exc:
            lookup.set_exception(exc)
            lookup.exception()  # retrieved: every waiter re-raises it, and there may be none
            raise
        else:
            lookup.set_result(seen)
            self._remember(order_id, seen)
            return seen
        finally:
            del self._redirecting[order_id]

    async def _look_up_and_hint(self, order_id: str, token: str | None, before: _Redirected | None) -> _Redirected:
        at = asyncio.get_running_loop().time()
        client = await self.client()
        handle = client.get_workflow_handle(order_workflow_id(order_id))
        hint = RedirectHint(result_token=token)
        try:
            quiet = await await_quiet(client, handle.id, within=HINT_QUIET_SECONDS)
            if quiet:
                state = await handle.query(OrderWorkflow.hint_state, hint)
            else:
                # A workflow task is still pending (a worker restarting): a query now could fold events
                # into a replay the worker will not repeat (billing.temporal.await_quiet). The signal is
                # safe, and this service's window and the workflow's own rules still coalesce it.
                state = HintState(verdict=HintVerdict.INQUIRE)
        except WorkflowQueryFailedError:
            state = HintState(verdict=HintVerdict.INQUIRE)  # a worker that predates the query: signal as before
        except RPCError as exc:
            if not _missing(exc):
                raise
            log.warning("redirect for order %s: no such order", order_id)
            return _Redirected(at, token, None, "unroutable")
        if state.acts:
            await handle.signal(OrderWorkflow.redirect_hint, hint)
            self.counters.hints_signalled += 1
            outcome = "signalled"
        else:
            self.counters.hints_coalesced += 1
            outcome = f"coalesced.{state.verdict.value}"
        urls = before.merchant_urls if before is not None else None
        if urls is None and quiet:  # asked just above: no second describe
            try:
                order = await handle.query(OrderWorkflow.status)
                urls = (order.success_url, order.failure_url)
            except WorkflowQueryFailedError:  # refused for a stale clock (workflows.common.clock_now)
                log.info("redirect for order %s: status not readable now; neutral page", order_id)
        return _Redirected(at, token or (before.token if before else None), urls, outcome)

    def _remember(self, order_id: str, seen: _Redirected) -> None:
        self._redirected[order_id] = seen
        self._redirected.move_to_end(order_id)
        while len(self._redirected) > _REMEMBERED_ORDERS:
            self._redirected.popitem(last=False)

    async def healthz(self, _: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "providers": sorted(self.verifiers)})


def _neutral_page(status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><title>Payment</title><p>Thank you. The payment is being confirmed; "
        "you can close this page.</p>",
        status_code=status_code,
    )


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
