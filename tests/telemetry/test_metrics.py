"""Metrics: business counters move for real orders, and the Temporal SDK's metrics reach the same meter provider."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from billing import metrics
from billing.errors import ConfigurationError
from billing.gateway import Customer
from billing.money import Money
from billing.orders import CreateOrder, OrderStatus, RefundRequest
from billing.temporal import data_converter
from host import metrics as host_metrics
from tests.support.stack import TEST_ORDER_POLICY, order_stack, waffo_order

POLICY = TEST_ORDER_POLICY


def _order(order_id: str) -> CreateOrder:
    return waffo_order(order_id, policy=POLICY)


@pytest.fixture
def reader() -> Iterator[tuple[InMemoryMetricReader, MeterProvider]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.bind(provider)
    yield reader, provider
    metrics.bind()
    provider.shutdown()


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], float]]]:
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[dict[str, object], float]]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value or 0))
    return found


def _count(points: dict[str, list[tuple[dict[str, object], float]]], name: str, **attributes: str) -> float:
    return sum(
        value
        for labels, value in points.get(name, [])
        if all(labels.get(key) == wanted for key, wanted in attributes.items())
    )


async def _metered_client(env: WorkflowEnvironment, provider: MeterProvider) -> Client:
    """A client on ``env`` whose runtime's metrics (the SDK's and the workflows') reach ``provider``."""
    runtime, buffer = host_metrics.buffered_runtime()
    host_metrics.TemporalMetricsBridge(buffer, provider.get_meter("temporalio"))
    return await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=data_converter(),
        runtime=runtime,
    )


async def test_counters_move_for_real_orders_and_the_sdk_metrics_come_along(
    time_skipping_env: WorkflowEnvironment, reader: tuple[InMemoryMetricReader, MeterProvider]
) -> None:
    metric_reader, provider = reader
    client = await _metered_client(time_skipping_env, provider)
    async with order_stack(client) as stack:
        # Paid by webhook, then partly refunded.
        await stack.billing.create_order(_order("m-paid"))
        await stack.customer("m-paid", "pay")
        await stack.billing.wait_for_status("m-paid", {OrderStatus.PAID})
        await stack.billing.refund("m-paid", RefundRequest(refund_id="r1", amount=Money.parse("1.00", "USD")))
        # A forged notification.
        forged = await stack.control.post(f"{stack.webhook_url}/webhooks/waffo/orders/m-paid", content=b"{}")
        assert forged.status_code == 401
        stranger = await stack.control.post(f"{stack.webhook_url}/webhooks/made-up-{id(stack)}", content=b"{}")
        assert stranger.status_code == 404
        # Unknown on create, settled by the first inquiry (still pending), then paid.
        await stack.fault("order/create", "e0001")
        assert (await stack.billing.create_order(_order("m-unknown"))).status is OrderStatus.UNKNOWN
        await time_skipping_env.sleep(timedelta(seconds=35))
        await stack.billing.wait_for_status("m-unknown", {OrderStatus.PENDING})
        await stack.customer("m-unknown", "pay")
        await stack.billing.wait_for_status("m-unknown", {OrderStatus.PAID})
        # Nothing can be concluded: review.
        await stack.fault("*", "e0001", count=1000)
        await stack.fault("notify", "drop", count=1000)
        await stack.billing.create_order(_order("m-review"))
        await time_skipping_env.sleep(timedelta(minutes=20))
        await stack.billing.wait_for_status("m-review", {OrderStatus.NEEDS_REVIEW})
    points = _points(metric_reader)

    assert _count(points, metrics.PAYMENTS, provider="waffo", outcome="paid") == 2
    assert _count(points, metrics.PAYMENTS) == 2, points.get(metrics.PAYMENTS)
    assert _count(points, metrics.RECONCILIATIONS, provider="waffo", outcome="pending") == 1
    assert _count(points, metrics.RECONCILIATIONS) == 1
    assert _count(points, metrics.NEEDS_REVIEW, provider="waffo") == 1
    assert _count(points, metrics.REFUNDS, provider="waffo") == 1
    assert _count(points, metrics.REFUNDS, provider="waffo", outcome="failed") == 0
    assert _count(points, metrics.VERIFICATION_FAILURES, provider="waffo") == 1
    assert _count(points, metrics.WEBHOOKS, provider="waffo", outcome="signalled") >= 2
    assert _count(points, metrics.WEBHOOKS, provider="waffo", outcome="rejected") == 1
    assert _count(points, metrics.WEBHOOKS, provider="unknown", outcome="unknown_provider") == 1
    assert not any("made-up" in str(labels) for labels, _ in points[metrics.WEBHOOKS])
    sdk = [name for name in points if name.startswith("temporal_")]
    assert "temporal_workflow_task_execution_latency" in sdk, sorted(points)
    labels = " ".join(str(labels) for series in points.values() for labels, _ in series)
    assert "c@example.com" not in labels and "10.00" not in labels


def test_exporter_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    with pytest.raises(ConfigurationError, match="OTEL_METRICS_EXPORTER"):
        host_metrics.configure_metrics()
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.metric_exporter", None)
    with pytest.raises(ConfigurationError, match="OTEL_METRICS_EXPORTER") as raised:
        host_metrics.configure_metrics()
    assert "opentelemetry-exporter-otlp" in str(raised.value)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    assert host_metrics.configure_metrics() is None


def test_otlp_metrics_go_to_the_collectors_metrics_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4318/")
    assert host_metrics.otlp_metrics_url() == "http://otel-collector:4318/v1/metrics"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://elsewhere:4318/custom")
    assert host_metrics.otlp_metrics_url() == "http://elsewhere:4318/custom"


class _Meter:
    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str]]] = []

    def create_counter(self, name: str, description: str | None = None) -> _Meter._Counter:
        return _Meter._Counter(self, name)

    class _Counter:
        def __init__(self, meter: _Meter, name: str) -> None:
            self.meter, self.name = meter, name

        def add(self, value: int, attributes: dict[str, str]) -> None:
            self.meter.counted.append((self.name, attributes))


S = OrderStatus


@pytest.mark.parametrize(
    ("before", "after", "counted"),
    [
        (S.CREATED, S.PENDING, []),
        (S.PENDING, S.PAID, [(metrics.PAYMENTS, "paid")]),
        (S.AUTHORIZED, S.PAID, [(metrics.PAYMENTS, "paid")]),
        (S.EXPIRED, S.PAID, [(metrics.PAYMENTS, "paid")]),
        (S.PAID, S.PARTIALLY_REFUNDED, []),
        (S.PENDING, S.EXPIRED, [(metrics.PAYMENTS, "expired")]),
        (S.CREATED, S.FAILED, [(metrics.PAYMENTS, "failed")]),
        (S.UNKNOWN, S.PENDING, [(metrics.RECONCILIATIONS, "pending")]),
        (S.UNKNOWN, S.PAID, [(metrics.PAYMENTS, "paid"), (metrics.RECONCILIATIONS, "paid")]),
        (S.UNKNOWN, S.NEEDS_REVIEW, [(metrics.NEEDS_REVIEW, None)]),
        (S.NEEDS_REVIEW, S.CANCELLED, [(metrics.PAYMENTS, "cancelled")]),
        (S.PAID, S.PAID, []),
    ],
)
def test_what_an_order_status_change_counts(
    monkeypatch: pytest.MonkeyPatch, before: OrderStatus, after: OrderStatus, counted: list[tuple[str, str | None]]
) -> None:
    meter = _Meter()
    monkeypatch.setattr(metrics.workflow, "metric_meter", lambda: meter)
    metrics.order_status_changed("waffo", before, after)
    assert [(name, attributes.get("outcome")) for name, attributes in meter.counted] == counted
    assert all(attributes["provider"] == "waffo" for _, attributes in meter.counted)


async def test_subscription_changes_are_counted_once_each(
    own_time_skipping_env: WorkflowEnvironment, reader: tuple[InMemoryMetricReader, MeterProvider]
) -> None:
    from billing.gateway import BillingInterval, SubscriptionPlan
    from billing.subscriptions import StartSubscription, SubscriptionPolicy, SubscriptionStatus
    from tests.subscriptions.test_engine_invoiced import Engine, set_wallet

    metric_reader, provider = reader
    client = await _metered_client(own_time_skipping_env, provider)
    wallet = "252611111160"
    async with order_stack(client) as stack:
        engine = Engine(own_time_skipping_env, stack)
        try:
            await set_wallet(engine, wallet, ["approve", "insufficient", "approve"])
            created = await engine.create(
                StartSubscription(
                    subscription_id="sub-metrics",
                    provider="waafipay",
                    plan=SubscriptionPlan(
                        plan_id="w",
                        description="Wallet",
                        amount=Money.parse("2.00", "USD"),
                        interval=BillingInterval.MONTH,
                    ),
                    customer=Customer(customer_id="cust-m", phone=wallet),
                    policy=SubscriptionPolicy(
                        dunning_schedule=(timedelta(days=1),), provider_call_timeout=timedelta(seconds=10)
                    ),
                )
            )
            assert created.calendar is not None
            engine.orders += ["sub-metrics-p1", "sub-metrics-p2", "sub-metrics-p2-r1"]
            await engine.until("sub-metrics", lambda s: s.current_period == 1)
            await engine.skip_to(created.calendar.period_start(2))
            await engine.until("sub-metrics", lambda s: s.status is SubscriptionStatus.PAST_DUE)
            await own_time_skipping_env.sleep(timedelta(days=1, seconds=5))
            await engine.until("sub-metrics", lambda s: s.current_period == 2)
        finally:
            await engine.close()
    points = _points(metric_reader)
    labels = {"provider": "waafipay", "mode": "engine_charged"}
    name = metrics.SUBSCRIPTION_CHANGES
    assert _count(points, name, change="created", **labels) == 1
    assert _count(points, name, change="period_paid", **labels) == 2
    assert _count(points, name, change="period_payment_failed", **labels) == 1
    assert _count(points, name, change="past_due", **labels) == 1
    assert _count(points, name, change="active", **labels) == 2
