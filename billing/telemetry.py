"""OpenTelemetry tracing, configured from the standard ``OTEL_*`` variables.

``OTEL_TRACES_EXPORTER`` picks the exporter: ``none`` (the default: no tracing), ``console`` (spans printed
as JSON on stdout), or ``otlp`` (needs the ``opentelemetry-exporter-otlp`` package; endpoint and headers
from ``OTEL_EXPORTER_OTLP_*``). ``OTEL_SERVICE_NAME`` names the process. When tracing is on, every client
made by :func:`billing.temporal.connect` carries Temporal's tracing interceptor, so a trace runs from a
merchant's create call or a webhook's receipt through the signal, the workflow and its activities.

Span attributes never carry personal data: only ids, provider names and operation names.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from billing.errors import ConfigurationError

_configured = False


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
                "otlp needs the opentelemetry-exporter-otlp package", setting="OTEL_TRACES_EXPORTER"
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
