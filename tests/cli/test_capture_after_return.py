"""Manual capture right after the customer pays: the customer's return from the checkout makes the order
inquire at once, so `billing order capture` works seconds after `billing emulators pay`, not at the next
scheduled inquiry (30 s later). Real `billing dev`, CLI as a subprocess."""

from __future__ import annotations

import time

import httpx

from billing.idempotency import payment_key
from tests.cli.conftest import Cli
from tests.cli.test_output import unique


def _manual_order(stack: Cli, order_id: str) -> None:
    stack.run(
        "order", "create", "--order-id", order_id, "--amount", "8.00", "--currency", "USD", "--capture", "manual",
        "--customer-id", "cust-cap", "--customer-email", "cap@example.com",
    )  # fmt: skip


def _authorized_within(stack: Cli, order_id: str, seconds: float) -> float:
    started = time.monotonic()
    stack.until(["order", "show", order_id], lambda o: o["status"] == "AUTHORIZED", timeout=seconds)
    return time.monotonic() - started


def test_capture_works_right_after_the_customer_pays_from_the_cli(stack: Cli) -> None:
    order_id = unique("ORD-CAP")
    _manual_order(stack, order_id)
    paid = stack.run("emulators", "pay", "waffo", order_id)
    assert "returned" in paid.stdout, paid.stdout
    took = _authorized_within(stack, order_id, 8)
    print(f"AUTHORIZED {took:.1f} s after the CLI payment")
    captured = stack.json("order", "capture", order_id)
    assert captured["status"] in ("AUTHORIZED", "PAID"), captured["status"]
    stack.until(["order", "show", order_id], lambda o: o["status"] == "PAID")


def test_the_checkout_page_returns_the_customer_to_the_merchant(stack: Cli) -> None:
    order_id = unique("ORD-CAP-PAGE")
    _manual_order(stack, order_id)
    order = httpx.get(f"{stack.emulators_url}/waffo/control/orders/{payment_key(order_id)}").json()
    page = httpx.post(f"{stack.emulators_url}/waffo/checkout/{order['acquiringOrderId']}/pay")
    assert page.status_code == 200
    assert 'http-equiv="refresh"' in page.text, "the browser goes back to the merchant by itself"
    return_url = page.text.split('http-equiv="refresh" content="1;url=', 1)[1].split('"', 1)[0]
    assert f"/callbacks/waffo/orders/{order_id}/success" in return_url
    httpx.get(return_url.replace("&amp;", "&"))  # what the browser does next
    took = _authorized_within(stack, order_id, 8)
    print(f"AUTHORIZED {took:.1f} s after the checkout page")
