"""End to end with the real processes: `billing dev` (Temporal dev server, emulators, HTTP service,
worker) and the `billing` CLI as a merchant and a customer would use them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.idempotency import subscription_key
from tests.support.devstack import run_billing, running_dev_stack
from tests.support.traces import find_span


class Cli:
    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env = env
        self.data_dir = data_dir  # the stack's: its HTTP service and worker write http.log and worker.log there

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_billing(*argv, env=self.env, check=check)

    def json(self, *argv: str) -> Any:
        return json.loads(self.run(*argv, "--json").stdout)

    def wait_for(self, order_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order = self.json("order", "show", order_id)
            if order["status"] == status or time.monotonic() > deadline:
                assert order["status"] == status, order["timeline"]
                return dict(order)
            time.sleep(0.3)


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    data_dir = tmp_path_factory.mktemp("dev")
    # The HTTP service and the worker print spans (and metrics, at exit) into their logs.
    telemetry = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    try:
        with running_dev_stack(data_dir, env=dict(os.environ, **telemetry)) as running:
            yield Cli(dict(os.environ, **running.cli_env()), data_dir)
    finally:
        print((data_dir / "worker.log").read_text()[-3000:] if (data_dir / "worker.log").exists() else "")


def test_order_paid_by_signed_webhook_then_partly_refunded(dev_stack: Cli) -> None:
    created = dev_stack.run(
        "order",
        "create",
        "--provider",
        "waffo",
        "--order-id",
        "E2E-1",
        "--amount",
        "10.00",
        "--currency",
        "USD",
        "--customer-id",
        "cust-e2e",
        "--customer-email",
        "e2e@example.com",
    ).stdout
    assert "PENDING" in created
    assert "/checkout/" in created

    dev_stack.run("emulators", "pay", "waffo", "E2E-1")
    paid = dev_stack.wait_for("E2E-1", "PAID")
    assert any(entry["event"] == "notification" for entry in paid["timeline"]), "paid by the signed webhook"

    refund = dev_stack.json("order", "refund", "E2E-1", "--amount", "2.50", "--refund-id", "R-1", "--reason", "late")
    assert refund["amount"] == {"amount_minor": 250, "currency": "USD"}
    partly = dev_stack.wait_for("E2E-1", "PARTIALLY_REFUNDED")
    assert partly["refunds"][0]["status"] == "SUCCEEDED"

    shown = dev_stack.run("order", "show", "E2E-1").stdout
    assert "PARTIALLY_REFUNDED" in shown
    assert "Timeline" in shown

    # The worker told the dev stack's stand-in merchant endpoint, signed; the endpoint verified each event.
    wanted = {"order.pending", "order.paid", "refund.succeeded", "order.partially_refunded"}
    deadline = time.monotonic() + 20
    seen: set[str] = set()
    while not wanted <= seen and time.monotonic() < deadline:
        log = dev_stack.data_dir / "merchant-events.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        seen = {event["type"] for event in map(json.loads, lines) if event["object_id"] == "E2E-1"}
        time.sleep(0.2)
    assert wanted <= seen, seen


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            [
                "order",
                "create",
                "--order-id",
                "BAD-0",
                "--amount",
                "1",
                "--currency",
                "USD",
                "--customer-id",
                "c",
            ],
            "customer.email: required by waffo",
        ),
        (
            [
                "order",
                "create",
                "--order-id",
                "BAD-1",
                "--amount",
                "0",
                "--currency",
                "USD",
                "--customer-id",
                "c",
            ],
            "amount: must be greater than zero",
        ),
        (
            [
                "order",
                "create",
                "--order-id",
                "BAD-2",
                "--amount",
                "1.001",
                "--currency",
                "USD",
                "--customer-id",
                "c",
            ],
            "amount: 1.001 has more decimals than USD allows (2)",
        ),
        (
            [
                "order",
                "create",
                "--order-id",
                "BAD-3",
                "--amount",
                "1",
                "--currency",
                "XYZ",
                "--customer-id",
                "c",
            ],
            "currency: unknown currency 'XYZ'",
        ),
        (
            [
                "order",
                "create",
                "--order-id",
                "BAD-4",
                "--amount",
                "1",
                "--currency",
                "USD",
                "--customer-id",
                "c",
                "--provider",
                "stripe",
            ],
            "provider",
        ),
        (["order", "refund", "E2E-1", "--amount", "100.00", "--refund-id", "R-big"], "refundable"),
        (["order", "capture", "E2E-1"], "only an AUTHORIZED order can be captured"),
        (["order", "show", "NOPE"], "no order NOPE"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(dev_stack: Cli, argv: list[str], needle: str) -> None:
    before = dev_stack.json("order", "show", "E2E-1") if "E2E-1" in argv else None
    result = dev_stack.run(*argv, check=False)
    assert result.returncode != 0
    assert needle in result.stderr
    if before is not None:
        assert dev_stack.json("order", "show", "E2E-1") == before
    if argv[1] == "create":
        missing = dev_stack.run("order", "show", argv[3], check=False)
        assert missing.returncode != 0, "a refused create starts nothing"


def wait_for_subscription(cli: Cli, subscription_id: str, check: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sub = cli.json("subscription", "show", subscription_id)
        if check(sub) or time.monotonic() > deadline:
            assert check(sub), sub["timeline"]
            return dict(sub)
        time.sleep(0.3)


def test_subscription_lifecycle_through_the_cli(dev_stack: Cli) -> None:
    created = dev_stack.json(
        "subscription",
        "create",
        "--provider",
        "waffo",
        "--subscription-id",
        "SUB-E2E",
        "--plan-id",
        "basic",
        "--amount",
        "9.99",
        "--currency",
        "USD",
        "--interval",
        "month",
        "--customer-id",
        "cust-e2e",
        "--customer-email",
        "e2e@example.com",
    )
    assert created["status"] == "INCOMPLETE"
    assert "/checkout/subscription/" in created["customer_action"]["url"]

    dev_stack.run("emulators", "pay", "waffo", "SUB-E2E", "--subscription")
    wait_for_subscription(dev_stack, "SUB-E2E", lambda s: s["status"] == "ACTIVE" and s["current_period"] == 1)
    dev_stack.run("emulators", "renew", "waffo", "SUB-E2E")
    wait_for_subscription(dev_stack, "SUB-E2E", lambda s: s["current_period"] == 2)
    dev_stack.run("emulators", "renew", "waffo", "SUB-E2E", "--fail")
    wait_for_subscription(dev_stack, "SUB-E2E", lambda s: s["status"] == "PAST_DUE")
    dev_stack.run("emulators", "renew", "waffo", "SUB-E2E")
    wait_for_subscription(dev_stack, "SUB-E2E", lambda s: s["status"] == "ACTIVE" and s["current_period"] == 3)

    preview = dev_stack.json("subscription", "preview-change", "SUB-E2E", "--plan-id", "pro", "--amount", "19.99")
    changing = dev_stack.json("subscription", "change-plan", "SUB-E2E", "--plan-id", "pro", "--amount", "19.99")
    assert changing["pending_change"]["proration"]["credit"]["currency"] == preview["credit"]["currency"]
    # The new plan's subscription at Waffo is authorized by the customer (generation 2).
    url = dev_stack.env["BILLING_EMULATORS_URL"]
    httpx.post(f"{url}/waffo/control/subscriptions/{subscription_key('SUB-E2E', 2)}/pay", json={}).raise_for_status()
    changed = wait_for_subscription(dev_stack, "SUB-E2E", lambda s: s["plan"]["plan_id"] == "pro")
    assert changed["pending_change"] is None

    cancelled = dev_stack.json("subscription", "cancel", "SUB-E2E", "--reason", "moving away")
    assert cancelled["status"] == "CANCELLED"
    shown = dev_stack.run("subscription", "show", "SUB-E2E").stdout
    assert "Periods" in shown and "CANCELLED" in shown
    paid_periods = [p for p in cancelled["periods"] if p["status"] == "PAID"]
    assert len(paid_periods) == 4, "three periods of basic, one of pro"


def test_kess_qr_order_paid_by_polling_through_the_cli(dev_stack: Cli) -> None:
    created = dev_stack.run(
        "order",
        "create",
        "--provider",
        "kess",
        "--order-id",
        "KESS-E2E",
        "--amount",
        "5.00",
        "--currency",
        "USD",
        "--customer-id",
        "cust-k",
    ).stdout
    assert "Scan to pay" in created
    dev_stack.run("emulators", "pay", "kess", "KESS-E2E")
    dev_stack.wait_for("KESS-E2E", "PAID")


def test_waafipay_push_and_hosted_page_through_the_cli(dev_stack: Cli) -> None:
    pushed = dev_stack.json(
        "order",
        "create",
        "--provider",
        "waafipay",
        "--order-id",
        "WAAFI-PUSH",
        "--amount",
        "3.00",
        "--currency",
        "USD",
        "--customer-id",
        "cust-w",
        "--customer-phone",
        "252611111111",
    )
    assert pushed["status"] == "PAID"
    hosted = dev_stack.json(
        "order",
        "create",
        "--provider",
        "waafipay",
        "--order-id",
        "WAAFI-HPP",
        "--amount",
        "3.00",
        "--currency",
        "USD",
        "--customer-id",
        "cust-w",
        "--customer-phone",
        "252611111111",
        "--payment-method",
        "HPP",
    )
    assert hosted["status"] == "PENDING"
    dev_stack.run("emulators", "pay", "waafipay", "WAAFI-HPP")
    dev_stack.wait_for("WAAFI-HPP", "PAID")


def test_one_order_is_one_trace_across_the_cli_the_http_service_and_the_worker(dev_stack: Cli, tmp_path: Path) -> None:
    traced = Cli({**dev_stack.env, "OTEL_TRACES_EXPORTER": "console"}, dev_stack.data_dir)
    created = traced.run(
        "order", "create", "--order-id", "E2E-TRACE", "--amount", "10.00", "--currency", "USD",
        "--customer-id", "cust-e2e", "--customer-email", "trace@example.com",
    ).stdout  # fmt: skip
    assert '"StartUpdateWithStartWorkflow:OrderWorkflow"' in created, "the CLI printed its span before leaving"
    (tmp_path / "create.out").write_text(created)
    dev_stack.run("emulators", "pay", "waffo", "E2E-TRACE")
    dev_stack.wait_for("E2E-TRACE", "PAID")
    files = [str(dev_stack.data_dir / "worker.log"), str(dev_stack.data_dir / "http.log"), str(tmp_path / "create.out")]
    deadline = time.monotonic() + 15
    while True:  # the worker and the HTTP service export their spans in batches
        result = dev_stack.run("trace", *files, "--workflow-id", "order-E2E-TRACE", "--json", check=False)
        roots = json.loads(result.stdout) if result.returncode == 0 else []
        handled = find_span(roots[0], "HandleSignal:payment_event") if roots else None
        if (handled is not None and handled["linked"]) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert handled is not None, result.stdout + result.stderr
    (root,) = roots
    assert (root["name"], root["service"]) == ("StartUpdateWithStartWorkflow:OrderWorkflow", "billing-cli")
    call = find_span(root, "waffo create_payment")
    assert call is not None and call["service"] == "billing-worker"
    (webhook,) = handled["linked"]
    assert webhook["service"] == "billing-http"
    assert webhook["attributes"]["billing.outcome"] == "signalled"
    assert "trace@example.com" not in result.stdout
