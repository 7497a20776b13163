"""Tracing: one connected trace from the merchant's create call through the workflow to its activities,
and from a webhook's signal into the same workflow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from billing import telemetry
from billing.errors import ConfigurationError
from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus
from tests.support.stack import order_stack


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield spans, provider
    provider.shutdown()


def _by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


async def test_one_trace_from_create_to_activities_and_the_webhook_signal(
    time_skipping_env: WorkflowEnvironment, exporter: tuple[InMemorySpanExporter, TracerProvider]
) -> None:
    spans, provider = exporter
    config = time_skipping_env.client.config()
    traced = Client(**{**config, "interceptors": [TracingInterceptor(provider.get_tracer("billing-test"))]})
    async with order_stack(traced) as stack:
        await stack.billing.create_order(
            CreateOrder(
                order_id="traced-1",
                provider="waffo",
                amount=Money.parse("10.00", "USD"),
                customer=Customer(customer_id="c", email="c@example.com"),
            )
        )
        await stack.customer("traced-1", "pay")
        await stack.billing.wait_for_status("traced-1", {OrderStatus.PAID})
    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    run_activity = _by_name(finished, "RunActivity:payments.create")
    assert run_activity, [span.name for span in finished]
    chain = ancestors(run_activity[0])
    assert chain[0].startswith("StartActivity:payments.create"), chain
    assert chain[-1] == "StartUpdateWithStartWorkflow:OrderWorkflow", "the merchant's create call is the root"
    root = _by_name(finished, "StartUpdateWithStartWorkflow:OrderWorkflow")[0]
    run_workflow = _by_name(finished, "RunWorkflow:OrderWorkflow")[0]
    assert run_workflow.parent is not None
    assert run_workflow.parent.span_id == root.context.span_id
    assert {run_activity[0].context.trace_id, run_workflow.context.trace_id} == {root.context.trace_id}

    # The webhook's signal is traced on the HTTP service's side; inside the workflow its handling belongs to the
    # order's own trace, next to everything else the order did.
    assert _by_name(finished, "SignalWorkflow:payment_event"), "the webhook's signal is traced"
    handled = _by_name(finished, "HandleSignal:payment_event")
    assert handled
    assert handled[0].context.trace_id == root.context.trace_id
    assert all("c@example.com" not in str(dict(span.attributes or {})) for span in finished), "no personal data"


def test_exporter_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not telemetry.tracing_enabled()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "bogus")
    monkeypatch.setattr(telemetry, "_configured", False)
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER"):
        telemetry.configure_tracing()
