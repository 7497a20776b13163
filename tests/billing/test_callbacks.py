"""The engine's own URLs: built from the routes the HTTP service serves, and handed to a provider's create call."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from starlette.routing import compile_path

from billing.callbacks import (
    ORDER_WEBHOOK_ROUTE,
    REDIRECT_ROUTE,
    SUBSCRIPTION_WEBHOOK_ROUTE,
    CallbackUrls,
)
from billing.gateway import CaptureMode, CreatePayment, CreateRefund, Customer, PaymentRef
from billing.money import Money
from webhooks import app

URLS = CallbackUrls("https://billing.example/base/")
MERCHANT_PAGES = {
    "success_url": "https://shop.example/ok",
    "failure_url": "https://shop.example/failed",
    "cancel_url": "https://shop.example/cancelled",
}


def _params(route: str, url: str) -> dict[str, str]:
    path = urlsplit(url).path.removeprefix("/base")
    regex, _, _ = compile_path(route)
    match = regex.match(path)
    assert match, f"{url} is not served by {route}"
    return match.groupdict()


def test_the_http_service_serves_the_routes_the_urls_are_built_from() -> None:
    assert (app.ORDER_WEBHOOK_ROUTE, app.SUBSCRIPTION_WEBHOOK_ROUTE, app.REDIRECT_ROUTE) == (
        ORDER_WEBHOOK_ROUTE,
        SUBSCRIPTION_WEBHOOK_ROUTE,
        REDIRECT_ROUTE,
    )
    assert _params(ORDER_WEBHOOK_ROUTE, URLS.order("waffo", "o-1")) == {"provider": "waffo", "order_id": "o-1"}
    assert _params(SUBSCRIPTION_WEBHOOK_ROUTE, URLS.subscription("waffo", "s-1")) == {
        "provider": "waffo",
        "subscription_id": "s-1",
    }
    assert _params(REDIRECT_ROUTE, URLS.redirect("kess", "o-1", "success")) == {
        "provider": "kess",
        "order_id": "o-1",
        "result": "success",
    }


def _create(**changes: object) -> CreatePayment:
    fields: dict[str, object] = {
        "idempotency_key": "pay_1",
        "merchant_order_id": "o-1",
        "amount": Money(amount_minor=500, currency="USD"),
        "description": "Tea",
        "customer": Customer(customer_id="c-1"),
        "requested_at": datetime(2026, 1, 1, tzinfo=UTC),
        **MERCHANT_PAGES,
    }
    return CreatePayment.model_validate(fields | changes)


def test_a_provider_that_notifies_gets_our_notification_url_and_the_merchants_pages() -> None:
    sent = URLS.create_request(_create(), "waffo", "o-1", provider_notifies=True)
    assert sent.notify_url == "https://billing.example/base/webhooks/waffo/orders/o-1"
    assert {name: getattr(sent, name) for name in MERCHANT_PAGES} == MERCHANT_PAGES


@pytest.mark.parametrize(
    ("notifies", "capture"), [(False, CaptureMode.AUTOMATIC), (True, CaptureMode.MANUAL), (False, CaptureMode.MANUAL)]
)
def test_the_browser_comes_back_through_us_when_no_notification_would_tell(
    notifies: bool, capture: CaptureMode
) -> None:
    sent = URLS.create_request(_create(capture_mode=capture), "kess", "o-1", provider_notifies=notifies)
    back = "https://billing.example/base/callbacks/kess/orders/o-1/"
    assert (sent.success_url, sent.failure_url, sent.cancel_url) == (
        back + "success",
        back + "failure",
        back + "failure",
    )
    assert sent.notify_url == "https://billing.example/base/webhooks/kess/orders/o-1"


def test_a_notification_url_the_request_names_is_kept() -> None:
    sent = URLS.create_request(
        _create(notify_url="https://elsewhere.example/n"), "waffo", "o-1", provider_notifies=True
    )
    assert sent.notify_url == "https://elsewhere.example/n"
    refund = CreateRefund(
        idempotency_key="ref_1",
        payment=PaymentRef(idempotency_key="pay_1"),
        amount=Money(amount_minor=100, currency="USD"),
        requested_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert URLS.notified(refund, "waffo", "o-1").notify_url == "https://billing.example/base/webhooks/waffo/orders/o-1"
