"""Where metrics go: the process's meter provider and Temporal runtime, from ``OTEL_METRICS_EXPORTER``.

``OTEL_METRICS_EXPORTER`` picks the exporter, like ``OTEL_TRACES_EXPORTER`` for spans: ``none`` (the
default), ``console`` (JSON on stdout every ``OTEL_METRIC_EXPORT_INTERVAL`` ms, 60 s by default) or ``otlp``
(OTLP over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``, needs the ``otlp`` extra). What is counted is
:mod:`billing.metrics`.

Workflow counters and the SDK's metrics (``temporal_*``: task latencies, slots, polls...) live in the Temporal
runtime (:func:`configure_metrics` returns it). With ``otlp`` the runtime exports them itself to the same
collector (``{endpoint}/v1/metrics``, OTLP over HTTP). With ``console`` it buffers them and every collection
of the process's meter provider drains the buffer into it (:class:`TemporalMetricsBridge`), so one console
output shows both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    MetricBuffer,
    MetricBufferDurationFormat,
    OpenTelemetryConfig,
    Runtime,
    TelemetryConfig,
)

from billing.errors import ConfigurationError

EXPORTER_SETTING = "OTEL_METRICS_EXPORTER"


def metrics_exporter() -> str:
    name = os.environ.get(EXPORTER_SETTING, "none").strip().lower() or "none"
    if name not in ("none", "console", "otlp"):
        raise ConfigurationError(f"unknown exporter {name!r}; expected none, console or otlp", setting=EXPORTER_SETTING)
    return name


class TemporalMetricsBridge:
    """Drains a Temporal runtime's :class:`MetricBuffer` into an OpenTelemetry meter at every collection.

    Counters arrive as deltas, histograms as single values, gauges as values; each becomes the matching
    OpenTelemetry instrument of the same name, unit and attributes.
    """

    def __init__(self, buffer: MetricBuffer, meter: Meter) -> None:
        self._buffer = buffer
        self._meter = meter
        self._instruments: dict[int, Any] = {}
        # An observable instrument that observes nothing: its callback runs at each collection, before the
        # meter's instruments are read, which is when the buffer is drained.
        meter.create_observable_gauge("billing.temporal_metrics_bridge", callbacks=[self._collect])

    def _collect(self, _: CallbackOptions) -> Iterable[Observation]:
        self.drain()
        return []

    def drain(self) -> None:
        for update in self._buffer.retrieve_updates():
            metric = update.metric
            instrument = self._instruments.get(id(metric))
            if instrument is None:
                instrument = self._instruments[id(metric)] = self._instrument(metric)
            attributes = dict(update.attributes)
            if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                instrument.add(update.value, attributes)
            elif metric.kind == BUFFERED_METRIC_KIND_GAUGE:
                instrument.set(update.value, attributes)
            else:
                instrument.record(update.value, attributes)

    def _instrument(self, metric: Any) -> Any:
        unit, description = metric.unit or "", metric.description or ""
        if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
            return self._meter.create_counter(metric.name, unit, description)
        if metric.kind == BUFFERED_METRIC_KIND_GAUGE:
            return self._meter.create_gauge(metric.name, unit, description)
        return self._meter.create_histogram(metric.name, unit, description)


def buffered_runtime() -> tuple[Runtime, MetricBuffer]:
    """A Temporal runtime whose metrics are buffered for a :class:`TemporalMetricsBridge` (durations in s)."""
    buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
    # The meter provider's resource names the service; Core's own "temporal-core-sdk" label would only repeat it.
    return Runtime(telemetry=TelemetryConfig(metrics=buffer, attach_service_name=False)), buffer


def otlp_metrics_url() -> str:
    """Where OTLP metrics go: ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` as is, else the base endpoint's
    ``/v1/metrics`` (the OpenTelemetry SDK's own rule)."""
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return base.rstrip("/") + "/v1/metrics"


def _otlp_headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


_runtime: Runtime | None = None
_configured = False


def configure_metrics(default_service: str = "billing") -> Runtime | None:
    """Install a meter provider from ``OTEL_*`` once per process; returns the Temporal runtime every client
    of this process should use (None: the SDK's default runtime, metrics off)."""
    global _runtime, _configured
    name = metrics_exporter()
    if name == "none" or _configured:
        return _runtime
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    service = os.environ.get("OTEL_SERVICE_NAME", default_service)
    exporter: MetricExporter
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        except ImportError as exc:
            raise ConfigurationError(
                "otlp needs the opentelemetry-exporter-otlp-proto-http package (pip install 'billing-engine[otlp]')",
                setting=EXPORTER_SETTING,
            ) from exc
        exporter = OTLPMetricExporter()
    else:
        exporter = ConsoleMetricExporter()
    provider = SdkMeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter)], resource=Resource.create({"service.name": service})
    )
    otel_metrics.set_meter_provider(provider)
    if name == "otlp":
        config = OpenTelemetryConfig(
            url=otlp_metrics_url(),
            headers=_otlp_headers(),
            http=True,
            durations_as_seconds=True,
            metric_periodicity=timedelta(seconds=10),
        )
        _runtime = Runtime(
            telemetry=TelemetryConfig(metrics=config, global_tags={"service.name": service}, attach_service_name=False)
        )
    else:
        _runtime, buffer = buffered_runtime()
        TemporalMetricsBridge(buffer, provider.get_meter("temporalio"))
    _configured = True
    return _runtime
