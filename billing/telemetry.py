"""OpenTelemetry tracing: the engine's spans, through the OpenTelemetry API.

The process installs the SDK and its exporter from ``OTEL_*`` (:mod:`host.telemetry`); until it does,
the spans are the API's non-recording no-ops. When tracing is on, every client
made by :func:`host.temporal.connect` carries Temporal's tracing interceptor, so a trace runs from a
merchant's create call through the workflow and its activities; a webhook's signal starts in the webhook's
own trace, and the workflow's handling of it links there.

Besides Temporal's own spans, the engine opens a CLIENT span around every provider HTTP call
(:func:`provider_call_span`, used by all provider clients) and a SERVER span for every request the HTTP
service receives from a provider or a customer's browser (:func:`server_span`).

Span attributes never carry personal data: only ids, provider names, operation names, provider result codes
and HTTP status codes. A failed call records its exception's type, never its message (which may quote a
customer's data). When tracing is off, the spans are the API's non-recording no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

#: Span attribute names (``http.*`` and ``error.type`` are OpenTelemetry's semantic conventions).
PROVIDER = "billing.provider"
OPERATION = "billing.operation"
PROVIDER_API = "billing.provider_api"
PROVIDER_CODE = "billing.provider_code"
ROUTE = "billing.route"
OUTCOME = "billing.outcome"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_ROUTE = "http.route"
ERROR_TYPE = "error.type"

_TRACER = "billing"


def shutdown() -> None:
    """Export the spans and metrics still buffered (the CLI leaves with ``os._exit``, so no exit hook runs):
    the providers the process installed (:mod:`host.telemetry`) are reached through the API."""
    for provider in (trace.get_tracer_provider(), otel_metrics.get_meter_provider()):
        stop = getattr(provider, "shutdown", None)
        if callable(stop):
            stop()


class ProviderCall:
    """What a provider call learned, recorded on its span: HTTP status and the provider's result code."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def http_status(self, status_code: int) -> None:
        self.span.set_attribute(HTTP_STATUS, status_code)

    def provider_code(self, code: str | None) -> None:
        if code:
            self.span.set_attribute(PROVIDER_CODE, code)

    def failed(self, exc: BaseException) -> None:
        """The call raised: ERROR status and the exception's type; its message is never recorded."""
        name = type(exc).__name__
        self.span.set_attribute(ERROR_TYPE, name)
        self.span.set_status(Status(StatusCode.ERROR, name))
        status_code = getattr(exc, "status_code", None)
        if isinstance(status_code, int):
            self.http_status(status_code)
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            self.provider_code(code)


@contextlib.contextmanager
def provider_call_span(provider: str, operation: str, *, api: str | None = None) -> Iterator[ProviderCall]:
    """A CLIENT span around one HTTP call to a provider, e.g. ``<provider> create_payment``.

    ``operation`` is the engine's name for what the call does (``create_payment``, ``inquire_payment``,
    ``refund``, ``token``...), ``api`` the provider's own (``order/create``, ``API_PURCHASE``). Inside an
    activity the span is a child of the activity's ``RunActivity`` span.
    """
    attributes = {PROVIDER: provider, OPERATION: operation, HTTP_METHOD: "POST"}
    if api:
        attributes[PROVIDER_API] = api
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"{provider} {operation}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        call = ProviderCall(span)
        try:
            yield call
        except BaseException as exc:
            call.failed(exc)
            raise


class ServerRequest:
    """The outcome of one request the HTTP service handled, recorded on its span."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def outcome(self, outcome: str, status_code: int) -> None:
        self.span.set_attribute(OUTCOME, outcome)
        self.span.set_attribute(HTTP_STATUS, status_code)
        if status_code >= 500:
            self.span.set_status(Status(StatusCode.ERROR, outcome))


@contextlib.contextmanager
def server_span(method: str, route: str, *, provider: str, kind: str) -> Iterator[ServerRequest]:
    """A SERVER span for one provider notification or browser redirect, e.g.
    ``POST /webhooks/{provider}/orders/{order_id}``. Named by the route template, never by the concrete
    path (which holds ids). It starts a new trace: a provider's request carries no trace of ours, and one
    it might carry is not trusted. The signal it sends to a workflow is its child."""
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"{method} {route}",
        context=Context(),
        kind=SpanKind.SERVER,
        attributes={PROVIDER: provider, ROUTE: kind, HTTP_METHOD: method, HTTP_ROUTE: route},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        request = ServerRequest(span)
        try:
            yield request
        except BaseException as exc:
            span.set_attribute(ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
