"""OpenTelemetry tracing, configured from the standard ``OTEL_*`` variables.

``OTEL_TRACES_EXPORTER`` picks the exporter: ``none`` (the default: no tracing), ``console`` (spans printed
as JSON on stdout; ``billing trace`` joins several processes' output into trees), or ``otlp`` (OTLP over
HTTP, the ``otlp`` extra; endpoint and headers from ``OTEL_EXPORTER_OTLP_*``). ``OTEL_SERVICE_NAME`` names
the process (default: ``billing-worker``, ``billing-http``, ``billing-cli``). When tracing is on, every client
made by :func:`billing.temporal.connect` carries Temporal's tracing interceptor, so a trace runs from a
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
import os
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from billing.errors import ConfigurationError

_configured = False

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

#: The ``OTEL_*`` variables the engine's processes read (through this module, :mod:`billing.metrics` or the
#: OpenTelemetry SDK's exporters); docs/configuration.md describes them.
OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_BSP_SCHEDULE_DELAY",
)


def tracing_enabled() -> bool:
    return os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() not in ("", "none")


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ConfigurationError(
                "otlp needs the opentelemetry-exporter-otlp-proto-http package (pip install 'billing-engine[otlp]')",
                setting="OTEL_TRACES_EXPORTER",
            ) from exc
        exporter: SpanExporter = OTLPSpanExporter()
        return exporter
    raise ConfigurationError(
        f"unknown exporter {name!r}; expected none, console or otlp", setting="OTEL_TRACES_EXPORTER"
    )


def configure_tracing(default_service: str = "billing") -> bool:
    """Install a tracer provider from ``OTEL_*`` once per process. Returns whether tracing is on."""
    global _configured
    if not tracing_enabled():
        return False
    if not _configured:
        name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        service = os.environ.get("OTEL_SERVICE_NAME", default_service)
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        trace.set_tracer_provider(provider)
        _configured = True
    return True


def configure(default_service: str) -> None:
    """Tracing and metrics from ``OTEL_*`` (see :mod:`billing.metrics`), for a process named ``default_service``
    unless ``OTEL_SERVICE_NAME`` says otherwise. Call it before the first Temporal client is made."""
    from billing.metrics import configure_metrics

    configure_tracing(default_service)
    configure_metrics(default_service)


def shutdown() -> None:
    """Export the spans and metrics still buffered (the CLI leaves with ``os._exit``, so no exit hook runs)."""
    from billing.metrics import shutdown as shutdown_metrics

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
    shutdown_metrics()


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
