"""Metrics: the engine's business counters and the Temporal SDK's own metrics, from ``OTEL_METRICS_EXPORTER``.

``OTEL_METRICS_EXPORTER`` picks the exporter, like ``OTEL_TRACES_EXPORTER`` for spans: ``none`` (the
default), ``console`` (JSON on stdout every ``OTEL_METRIC_EXPORT_INTERVAL`` ms, 60 s by default) or ``otlp``
(OTLP over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``, needs the ``otlp`` extra). Two kinds of code count:

* code that runs once per event (activities, the HTTP service) counts with the OpenTelemetry API:
  ``billing.refunds`` (provider, outcome: the provider's answer to the refund call), ``billing.webhooks``
  (provider, outcome) and ``billing.webhook.verification_failures`` (provider);
* what a workflow decides is counted from workflow code with Temporal's replay-safe
  ``workflow.metric_meter()`` (nothing is recorded while a workflow replays): ``billing.payments``
  (provider, outcome: paid, failed, expired or cancelled, once per order reaching it; a payment that
  arrives after the order expired counts ``paid`` as well),
  ``billing.reconciliations`` (provider, outcome: the status an order in UNKNOWN reached),
  ``billing.needs_review`` (provider) and ``billing.subscription.changes`` (provider, mode, change: what
  each merchant event of a subscription says, e.g. ``period_paid``, ``period_payment_failed``,
  ``past_due``, ``unpaid``, ``cancelled``, ``invoice_issued``, ``plan_changed``).

Workflow counters and the SDK's metrics (``temporal_*``: task latencies, slots, polls...) live in the Temporal
runtime (:func:`temporal_runtime`). With ``otlp`` the runtime exports them itself to the same collector
(``{endpoint}/v1/metrics``, OTLP over HTTP). With ``console`` it buffers them and every collection of the
process's meter provider drains the buffer into it (:class:`TemporalMetricsBridge`), so one console output
shows both. Attributes never carry personal data or amounts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Counter, Meter, MeterProvider, Observation
from temporalio import workflow
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
from billing.orders import CLOSED_STATUSES, FINAL_STATUSES, PAID_STATUSES, OrderStatus

EXPORTER_SETTING = "OTEL_METRICS_EXPORTER"
METER = "billing"
PAYMENTS = "billing.payments"
RECONCILIATIONS = "billing.reconciliations"
NEEDS_REVIEW = "billing.needs_review"
REFUNDS = "billing.refunds"
WEBHOOKS = "billing.webhooks"
VERIFICATION_FAILURES = "billing.webhook.verification_failures"
SUBSCRIPTION_CHANGES = "billing.subscription.changes"


def metrics_exporter() -> str:
    name = os.environ.get(EXPORTER_SETTING, "none").strip().lower() or "none"
    if name not in ("none", "console", "otlp"):
        raise ConfigurationError(f"unknown exporter {name!r}; expected none, console or otlp", setting=EXPORTER_SETTING)
    return name


# -- counted where events happen once: activities, the HTTP service ---------------------------------------


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        self.refunds = meter.create_counter(REFUNDS, "{refund}", "Refund calls by the provider's answer")
        self.webhooks = meter.create_counter(WEBHOOKS, "{request}", "Provider notifications by outcome")
        self.verification_failures: Counter = meter.create_counter(
            VERIFICATION_FAILURES, "{request}", "Provider notifications whose signature did not verify"
        )


_instruments: _Instruments | None = None


def bind(provider: MeterProvider | None = None) -> None:
    """Count into ``provider`` (a test's), or again into the global meter provider when None."""
    global _instruments
    meter = (provider or otel_metrics.get_meter_provider()).get_meter(METER)
    _instruments = _Instruments(meter)


def _counters() -> _Instruments:
    if _instruments is None:
        bind()  # the API's proxy: a no-op until a meter provider is configured, then real
    assert _instruments is not None
    return _instruments


def count_refund(provider: str, outcome: str) -> None:
    _counters().refunds.add(1, {"provider": provider, "outcome": outcome})


def count_webhook(provider: str, outcome: str) -> None:
    counters = _counters()
    counters.webhooks.add(1, {"provider": provider, "outcome": outcome})
    if outcome == "rejected":
        counters.verification_failures.add(1, {"provider": provider})


# -- counted by workflows: replay-safe ---------------------------------------------------------------------


def order_status_changed(provider: str, before: OrderStatus | None, after: OrderStatus) -> None:
    """Count what an order's move from ``before`` to ``after`` means. Workflow code only: it records through
    ``workflow.metric_meter()``, which records nothing during replay, so each move counts once."""
    if before is after:
        return
    meter = workflow.metric_meter()
    # Paid from anything but paid (a late payment counts after its expiry); closed from anything open.
    paid = after is OrderStatus.PAID and before not in PAID_STATUSES
    if paid or (after in CLOSED_STATUSES and before not in FINAL_STATUSES):
        outcome = after.value.lower()
        meter.create_counter(PAYMENTS, "Orders settled, by outcome").add(1, {"provider": provider, "outcome": outcome})
    if after is OrderStatus.NEEDS_REVIEW:
        meter.create_counter(NEEDS_REVIEW, "Orders left to an operator").add(1, {"provider": provider})
    elif before is OrderStatus.UNKNOWN:
        meter.create_counter(RECONCILIATIONS, "Unknown outcomes settled").add(
            1, {"provider": provider, "outcome": after.value.lower()}
        )


def subscription_changed(provider: str, mode: str, change: str) -> None:
    """Count one change of a subscription, as announced to the merchant (so once per change). Workflow
    code only, like :func:`order_status_changed`."""
    workflow.metric_meter().create_counter(SUBSCRIPTION_CHANGES, "Subscription changes, by kind").add(
        1, {"provider": provider, "mode": mode, "change": change}
    )


# -- process set-up ------------------------------------------------------------------------------------


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


def shutdown() -> None:
    """Export what is still buffered (the CLI leaves with ``os._exit``)."""
    provider = otel_metrics.get_meter_provider()
    shutdown_provider = getattr(provider, "shutdown", None)
    if _configured and callable(shutdown_provider):
        shutdown_provider()
