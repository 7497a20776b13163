"""The HTTP service under hostile input: oversized bodies, signed garbage, bugs, and orders that are gone.

Every bad input gets a 4xx on a connection that stays usable; only a real Temporal outage answers 503;
a verified statement that reaches no open workflow is never acknowledged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec
from temporalio.testing import WorkflowEnvironment

from billing import metrics
from billing.orders import order_workflow_id
from billing.settings import HttpServiceSettings, load
from host.serving import AppServer
from providers.waffo import SUCCESS_REPLY_BODY, WaffoNotifications
from tests.support.keys import merchant_keys, waffo_keys
from tests.support.stack import OrderStack, order_stack
from tests.webhooks.test_webhook_service import create, notification, signed
from webhooks.app import WebhookService, create_app

MiB = 1024 * 1024


@pytest.fixture
async def stack(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[OrderStack]:
    async with order_stack(time_skipping_env.client) as running:
        yield running


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response off a raw connection: status, headers, body (by Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), timeout=10)
    return status, headers, body


def raw_request(path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- body size (item 6) --------------------------------------------------------------------------------


def test_the_body_limit_is_a_documented_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(HttpServiceSettings).max_body_bytes == MiB
    monkeypatch.setenv("BILLING_HTTP_MAX_BODY_BYTES", "2048")
    assert load(HttpServiceSettings).max_body_bytes == 2048


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(stack: OrderStack) -> None:
    """Content-Length says 1 GB and no byte of it follows: the answer comes at once, 413."""
    reader, writer = await asyncio.open_connection(*host_port(stack.webhook_url))
    try:
        writer.write(
            b"POST /webhooks/waffo/orders/wh-big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
        )
        await writer.drain()
        status, _, _ = await read_response(reader)
    finally:
        writer.close()
    assert status == 413
    assert stack.webhooks.counters.too_large == 1


async def test_a_chunked_body_is_counted_as_it_streams_and_cut_at_the_limit(stack: OrderStack) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"[" * 64 * 1024
        while sent < 64 * MiB:
            sent += len(chunk)
            yield chunk

    async with httpx.AsyncClient(base_url=stack.webhook_url, timeout=30) as http:
        try:
            reply = await http.post("/webhooks/waffo/orders/wh-big", content=endless(), headers=signed(b"x"))
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            reply = None  # the server may close the connection while the client is still writing
    if reply is not None:
        assert reply.status_code == 413
    assert stack.webhooks.counters.too_large == 1
    assert stack.webhooks.counters.rejected_signature == 0, "nothing past the limit reaches the verifier"
    assert sent < 64 * MiB


async def test_a_body_at_the_limit_is_read(time_skipping_env: WorkflowEnvironment) -> None:
    service = WebhookService(
        time_skipping_env.client,
        {"waffo": WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)},
        max_body_bytes=4096,
    )
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = b"{" + b" " * 4094 + b"}"
        at_limit = await http.post("/webhooks/waffo/orders/x", content=body, headers=signed(body))
        over = await http.post("/webhooks/waffo/orders/x", content=body + b" ", headers=signed(body + b" "))
    assert at_limit.status_code == 400  # read, verified, then refused as not a notification
    assert over.status_code == 413


# -- signed garbage (item 7) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-arrays"),
        pytest.param(b'{"eventType":"PAYMENT_NOTIFICATION","result":' * 5000 + b"{}" + b"}" * 5000, id="nested"),
        pytest.param(
            json.dumps({"eventType": "X", "result": {"a": json.loads("[" * 200 + "]" * 200)}}).encode(), id="deep"
        ),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b'{"eventType": "\\ud800", "result": {}}', id="lone-surrogate-type"),
    ],
)
async def test_signed_garbage_is_a_400_on_a_connection_that_stays_open(stack: OrderStack, body: bytes) -> None:
    reader, writer = await asyncio.open_connection(*host_port(stack.webhook_url))
    try:
        writer.write(raw_request("/webhooks/waffo/orders/wh-garbage", body, signed(body)))
        await writer.drain()
        status, _, _ = await read_response(reader)
        # The same connection serves the next request (a 500 made the server drop it).
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        health, _, _ = await read_response(reader)
    finally:
        writer.close()
    assert status == 400
    assert health == 200
    assert stack.webhooks.counters.signalled == 0


async def test_a_lone_surrogate_in_a_verified_payment_is_a_400_and_signals_nothing(stack: OrderStack) -> None:
    await create(stack, "wh-surrogate")
    body = notification("wh-surrogate").replace(b'"A2026000000000001"', b'"A2026\\udc00"')
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        reply = await http.post("/webhooks/waffo/orders/wh-surrogate", content=body, headers=signed(body))
    assert reply.status_code == 400
    assert stack.webhooks.counters.signalled == 0
    order = await stack.billing.get_order("wh-surrogate")
    assert order.status.value == "PENDING"


class _BuggyCodec(PayloadCodec):
    """A payload codec with a plain bug in it (a RuntimeError): nothing to do with Temporal being reachable."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        raise RuntimeError("a bug in the payload codec")

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_a_plain_bug_is_a_500_with_a_traceback_not_a_temporal_outage(
    stack: OrderStack, caplog: pytest.LogCaptureFixture
) -> None:
    await create(stack, "wh-bug")
    buggy = Client(
        stack.client.service_client,
        namespace=stack.client.namespace,
        data_converter=dataclasses.replace(stack.client.data_converter, payload_codec=_BuggyCodec()),
    )
    service = WebhookService(buggy, {"waffo": WaffoNotifications(waffo_keys().public_b64, merchant_keys().private_b64)})
    server = AppServer(create_app(service))
    await server.start()
    body = notification("wh-bug")
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            with caplog.at_level(logging.ERROR, logger="billing.webhooks"):
                reply = await http.post("/webhooks/waffo/orders/wh-bug", content=body, headers=signed(body))
    finally:
        await server.stop()
    assert reply.status_code == 500
    assert reply.content != SUCCESS_REPLY_BODY
    assert service.counters.temporal_unavailable == 0
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in caplog.records)


# -- no open workflow (item 1) --------------------------------------------------------------------------


@pytest.fixture
def meter() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    metrics.bind(MeterProvider(metric_readers=[reader]))
    yield reader
    metrics.bind()


def unroutable_count(reader: InMemoryMetricReader) -> float:
    data = reader.get_metrics_data()
    return sum(
        point.value
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == metrics.WEBHOOKS
        for point in metric.data.data_points
        if (point.attributes or {}).get("outcome") == "unroutable"
    )


async def test_a_verified_payment_for_a_missing_order_is_not_acknowledged(
    stack: OrderStack, caplog: pytest.LogCaptureFixture, meter: InMemoryMetricReader
) -> None:
    body = notification("wh-missing")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        with caplog.at_level(logging.ERROR, logger="billing.webhooks"):
            reply = await http.post("/webhooks/waffo/orders/wh-missing", content=body, headers=signed(body))
    assert reply.status_code == 404
    assert reply.content != SUCCESS_REPLY_BODY, "Waffo retries anything but the exact success body"
    assert stack.webhooks.counters.unroutable == 1
    assert [r for r in caplog.records if r.levelno == logging.ERROR and "wh-missing" in r.getMessage()]
    assert unroutable_count(meter) == 1, "operators are told by the billing.webhooks metric too"


async def test_a_verified_payment_for_a_closed_order_is_not_acknowledged(
    stack: OrderStack, caplog: pytest.LogCaptureFixture
) -> None:
    await create(stack, "wh-closed")
    await stack.client.get_workflow_handle(order_workflow_id("wh-closed")).terminate("closed for the test")
    body = notification("wh-closed")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        with caplog.at_level(logging.ERROR, logger="billing.webhooks"):
            reply = await http.post("/webhooks/waffo/orders/wh-closed", content=body, headers=signed(body))
    assert reply.status_code == 404
    assert reply.content != SUCCESS_REPLY_BODY
    assert [r for r in caplog.records if r.levelno == logging.ERROR and "wh-closed" in r.getMessage()]


async def test_a_verified_statement_for_a_missing_subscription_or_without_an_order_is_not_acknowledged(
    stack: OrderStack,
) -> None:
    payment = notification("wh-sub-missing")
    refund = json.dumps(
        {"eventType": "REFUND_NOTIFICATION", "result": {"refundRequestId": "r1", "refundStatus": "REFUND_SUCCESS"}}
    ).encode()
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        subscription = await http.post(
            "/webhooks/waffo/subscriptions/sub-missing", content=payment, headers=signed(payment)
        )
        # The fallback route has no order in its path, and a refund statement names none in its body.
        unrouted = await http.post("/webhooks/waffo", content=refund, headers=signed(refund))
    assert (subscription.status_code, unrouted.status_code) == (404, 404)
    assert SUCCESS_REPLY_BODY not in (subscription.content, unrouted.content)
    assert stack.webhooks.counters.unroutable == 2


async def test_an_order_path_that_cannot_be_an_order_id_is_refused_without_temporal(stack: OrderStack) -> None:
    body = notification("wh-x")
    async with httpx.AsyncClient(base_url=stack.webhook_url) as http:
        long = await http.post(f"/webhooks/waffo/orders/{'x' * 5000}", content=body, headers=signed(body))
        odd = await http.post("/webhooks/waffo/orders/%ED%A0%80", content=body, headers=signed(body))
        page = await http.get(f"/callbacks/waffo/orders/{'y' * 5000}/success")
    assert long.status_code == odd.status_code == 404
    assert long.content != SUCCESS_REPLY_BODY
    assert page.status_code == 404
