"""Tracing: one connected trace from the merchant's create call through the workflow to its activities and
their provider HTTP calls; a webhook's receipt as a server span whose signal is traced into the workflow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from billing.errors import ConfigurationError
from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus
from host import telemetry as host_telemetry
from tests.support.stack import order_stack


class _Switch(SpanProcessor):
    """The test session's global tracer provider exports to the exporter of the test that wants spans."""

    exporter: InMemorySpanExporter | None = None

    def on_end(self, span: ReadableSpan) -> None:
        if self.exporter is not None:
            self.exporter.export((span,))


_SWITCH = _Switch()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans from the global tracer provider (the one the engine's own spans use), for this test only."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_SWITCH)
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    _SWITCH.exporter = exporter
    yield exporter
    _SWITCH.exporter = None


def _by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, (name, [span.name for span in spans])
    return found[0]


def _parent(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    return by_id[span.parent.span_id]


def _order(order_id: str, provider: str, **customer: str) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        provider=provider,
        amount=Money.parse("10.00", "USD"),
        customer=Customer(customer_id="c", **customer),
    )


async def test_one_trace_from_create_to_provider_calls_and_the_webhook(
    time_skipping_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    traced = Client(**{**time_skipping_env.client.config(), "interceptors": [TracingInterceptor()]})
    async with order_stack(traced) as stack:
        await stack.billing.create_order(_order("traced-1", "waffo", email="c@example.com"))
        await stack.customer("traced-1", "pay")
        await stack.billing.wait_for_status("traced-1", {OrderStatus.PAID})
        await stack.billing.create_order(_order("traced-k", "kess"))
        paid = await stack.billing.create_order(_order("traced-w", "waafipay", phone="252611111111"))
        assert paid.status is OrderStatus.PAID
    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    # The merchant's create call is the root; the provider's HTTP call is a child of the activity.
    waffo_create = [s for s in _by_name(finished, "waffo create_payment")]
    assert len(waffo_create) == 1
    chain = ancestors(waffo_create[0])
    assert chain[0].startswith("RunActivity:payments.create"), chain
    assert chain[1].startswith("StartActivity:payments.create"), chain
    assert chain[-1] == "StartUpdateWithStartWorkflow:OrderWorkflow", chain
    call = waffo_create[0]
    assert call.kind is SpanKind.CLIENT
    assert dict(call.attributes or {}) == {
        "billing.provider": "waffo",
        "billing.operation": "create_payment",
        "billing.provider_api": "order/create",
        "billing.provider_code": "0",
        "http.request.method": "POST",
        "http.response.status_code": 200,
    }
    root = _by_name(finished, "StartUpdateWithStartWorkflow:OrderWorkflow")[0]
    run_workflow = _by_name(finished, "RunWorkflow:OrderWorkflow")[0]
    assert run_workflow.parent is not None
    assert run_workflow.parent.span_id == root.context.span_id
    assert {call.context.trace_id, run_workflow.context.trace_id} == {root.context.trace_id}

    # The webhook's receipt: a SERVER span named by its route, the parent of the signal it sends.
    server = _one(finished, "POST /webhooks/{provider}/orders/{order_id}")
    assert server.kind is SpanKind.SERVER
    assert server.parent is None, "a provider's request starts its own trace"
    assert dict(server.attributes or {}) == {
        "billing.provider": "waffo",
        "billing.route": "webhook.order",
        "billing.outcome": "signalled",
        "http.request.method": "POST",
        "http.route": "/webhooks/{provider}/orders/{order_id}",
        "http.response.status_code": 200,
    }
    signal = _one(finished, "SignalWorkflow:payment_event")
    assert _parent(signal, by_id) is server
    assert signal.context.trace_id == server.context.trace_id
    # Inside the workflow the signal's handling belongs to the order's trace and links back to the webhook's.
    handled = _one(finished, "HandleSignal:payment_event")
    assert handled.context.trace_id == root.context.trace_id
    assert [link.context.span_id for link in handled.links] == [signal.context.span_id]

    # KESS: the token call and the pay call, both children of the create activity.
    kess_token = _one(finished, "kess token")
    kess_pay = _one(finished, "kess create_payment")
    for span in (kess_token, kess_pay):
        assert _parent(span, by_id).name.startswith("RunActivity:payments.create"), span.name
        assert (span.attributes or {})["http.response.status_code"] == 200
    assert (kess_pay.attributes or {})["billing.provider_api"] == "native_pay"
    # WaafiPay: the wallet push, with WaafiPay's response code.
    push = _one(finished, "waafipay create_payment")
    assert _parent(push, by_id).name.startswith("RunActivity:payments.create")
    assert (push.attributes or {})["billing.provider_code"] == "2001"
    assert (push.attributes or {})["billing.provider_api"] == "API_PURCHASE"

    text = " ".join(str(dict(span.attributes or {})) for span in finished)
    for personal in ("c@example.com", "252611111111", "10.00", "1000"):
        assert personal not in text, f"{personal} in a span attribute"


async def test_a_failed_provider_call_records_its_error_type_and_code_only(
    time_skipping_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    async with order_stack(time_skipping_env.client) as stack:
        await stack.fault("*", "e0001", count=1)
        order = await stack.billing.create_order(_order("traced-unknown", "waffo", email="u@example.com"))
        assert order.status is OrderStatus.UNKNOWN
    call = _by_name(spans.get_finished_spans(), "waffo create_payment")[0]
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "ProviderServerError"
    attributes = dict(call.attributes or {})
    assert attributes["error.type"] == "ProviderServerError"
    assert attributes["billing.provider_code"] == "E0001"
    assert not call.events, "no exception event: its message may quote customer data"


async def test_a_forged_webhook_is_a_rejected_server_span(
    time_skipping_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    async with order_stack(time_skipping_env.client) as stack:
        response = await stack.control.post(
            f"{stack.webhook_url}/webhooks/waffo/orders/o-1", content=b'{"forged":true}'
        )
        assert response.status_code == 401
    server = _one(spans.get_finished_spans(), "POST /webhooks/{provider}/orders/{order_id}")
    assert (server.attributes or {})["billing.outcome"] == "rejected"
    assert (server.attributes or {})["http.response.status_code"] == 401
    assert server.status.status_code is StatusCode.UNSET


def test_exporter_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not host_telemetry.tracing_enabled()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "bogus")
    monkeypatch.setattr(host_telemetry, "_configured", False)
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER"):
        host_telemetry.configure_tracing()
