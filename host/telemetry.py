"""Tracing and metrics set-up for a process, from the standard ``OTEL_*`` variables.

``OTEL_TRACES_EXPORTER`` picks the span exporter: ``none`` (the default: no tracing), ``console`` (spans
printed as JSON on stdout; ``billing trace`` joins several processes' output into trees), or ``otlp`` (OTLP
over HTTP, the ``otlp`` extra; endpoint and headers from ``OTEL_EXPORTER_OTLP_*``). ``OTEL_SERVICE_NAME``
names the process (default: ``billing-worker``, ``billing-http``, ``billing-cli``). Metrics:
:mod:`host.metrics`. The spans themselves are opened by :mod:`billing.telemetry`.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from billing.errors import ConfigurationError
from billing.telemetry import shutdown

__all__ = ["OTEL_VARIABLES", "configure", "configure_tracing", "shutdown", "tracing_enabled"]

_configured = False

#: The ``OTEL_*`` variables the engine's processes read (through this module, :mod:`host.metrics` or the
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
    """Tracing and metrics from ``OTEL_*`` (see :mod:`host.metrics`), for a process named ``default_service``
    unless ``OTEL_SERVICE_NAME`` says otherwise. Call it before the first Temporal client is made."""
    from host.metrics import configure_metrics

    configure_tracing(default_service)
    configure_metrics(default_service)
