"""Hosted checkout and subscription management pages for a human in a browser (no JavaScript)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from emulators.waffo.models import Order
from emulators.waffo.orders import StateConflict

if TYPE_CHECKING:
    from emulators.waffo.emulator import WaffoEmulator

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:1rem 0}td{padding:.25rem .75rem;border-bottom:1px solid #ddd}"
    "form{display:inline-block;margin-right:.5rem}button{font-size:1rem;padding:.5rem 1rem}"
    ".msg{padding:.75rem;background:#eef;border-radius:.25rem}"
)


def customer_return_url(order: Order) -> str | None:
    """Where the customer's browser goes back to after the checkout: the merchant's success (paid or
    authorized) or failed redirect URL; None while the order awaits payment or when none was given."""
    field = {
        "PAY_SUCCESS": "successRedirectUrl",
        "AUTHED_WAITING_CAPTURE": "successRedirectUrl",
        "ORDER_CLOSE": "failedRedirectUrl",
    }.get(order.status)
    url = order.request.get(field) if field else None
    return url if isinstance(url, str) and url else None


def _page(
    title: str,
    rows: list[tuple[str, Any]],
    actions: list[tuple[str, str]],
    message: str = "",
    links: list[tuple[str, str]] | None = None,
    status: int = 200,
    return_to: str | None = None,
) -> HTMLResponse:
    table = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in rows if v is not None)
    buttons = "".join(
        f'<form method="post" action="{escape(url)}"><button type="submit">{escape(label)}</button></form>'
        for label, url in actions
    )
    link_html = "".join(f'<p><a href="{escape(url)}">{escape(label)}</a></p>' for label, url in links or [])
    note = f'<p class="msg">{escape(message)}</p>' if message else ""
    # The browser goes back to the merchant by itself, as after a real checkout.
    refresh = f'<meta http-equiv="refresh" content="1;url={escape(return_to)}">' if return_to else ""
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>{refresh}"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{note}<table>{table}</table>"
        f"{buttons}{link_html}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _not_found(what: str) -> HTMLResponse:
    return _page("Not found", [("", f"No {what}")], [], status=404)


def _prefix(request: Request) -> str:
    """Where this app is mounted (e.g. "/waffo" inside a hub), so form actions resolve."""
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _emu(request: Request) -> WaffoEmulator:
    emu: WaffoEmulator = request.app.state.emulator
    emu.ensure_background()
    emu.expire_due()
    return emu


def _order_page(
    emu: WaffoEmulator, prefix: str, order_id: str, message: str = "", *, send_back: bool = False
) -> HTMLResponse:
    order = emu.store.orders.get(order_id)
    if order is None:
        return _not_found(f"order {order_id}")
    base = f"{prefix}/checkout/{order.acquiring_order_id}"
    actions = (
        [("Pay", f"{base}/pay"), ("Fail", f"{base}/fail"), ("Abandon", f"{base}/abandon")]
        if order.status in ("AUTHORIZATION_REQUIRED", "PAY_IN_PROGRESS")
        else []
    )
    links = []
    return_url = customer_return_url(order)
    if return_url:
        links.append(("Return to merchant", return_url))
    rows = [
        ("Order", order.acquiring_order_id),
        ("Merchant order", order.merchant_order_id),
        ("Description", order.description),
        ("Amount", f"{order.amount_text} {order.currency}"),
        ("Status", order.status),
    ]
    return _page(
        "Waffo checkout (emulator)", rows, actions, message, links, return_to=return_url if send_back else None
    )


async def order_checkout(request: Request) -> HTMLResponse:
    return _order_page(_emu(request), _prefix(request), request.path_params["order_id"])


async def order_checkout_action(request: Request) -> HTMLResponse:
    emu = _emu(request)
    order_id, action = request.path_params["order_id"], request.path_params["action"]
    order = emu.store.orders.get(order_id)
    if order is None:
        return _not_found(f"order {order_id}")
    operations: dict[str, Callable[[Order], None]] = {
        "pay": emu.orders.customer_pay,
        "fail": emu.orders.customer_fail,
        "abandon": emu.orders.customer_abandon,
    }
    if action not in operations:
        return _not_found(f"action {action}")
    try:
        operations[action](order)
    except StateConflict as exc:
        return _order_page(emu, _prefix(request), order_id, f"Not possible: {exc}")
    return _order_page(emu, _prefix(request), order_id, f"Done: the order is now {order.status}.", send_back=True)


def _subscription_page(
    emu: WaffoEmulator, prefix: str, subscription_id: str, message: str = "", manage: bool = False
) -> HTMLResponse:
    subscription = emu.store.subscriptions.get(subscription_id)
    if subscription is None:
        return _not_found(f"subscription {subscription_id}")
    view = emu.subscriptions.view(subscription)
    product = view["productInfo"]
    if manage:
        base = f"{prefix}/manage/subscription/{subscription_id}"
        actions = (
            [
                ("Next period payment success", f"{base}/renew-success"),
                ("Next period payment failed", f"{base}/renew-fail"),
                ("Cancel subscription", f"{base}/cancel"),
            ]
            if subscription.status == "ACTIVE"
            else []
        )
    else:
        base = f"{prefix}/checkout/subscription/{subscription_id}"
        actions = (
            [("Pay", f"{base}/pay"), ("Fail", f"{base}/fail"), ("Abandon", f"{base}/abandon")]
            if subscription.status in ("AUTHORIZATION_REQUIRED", "IN_PROGRESS")
            else []
        )
    rows = [
        ("Subscription", subscription.subscription_id),
        ("Description", product.get("description")),
        (
            "Amount",
            f"{view['amount']} {subscription.currency} every {subscription.period_interval} "
            f"{subscription.period_type.lower()}",
        ),
        ("Status", subscription.status),
        ("Current period", product.get("currentPeriod")),
        ("Next payment", product.get("nextPaymentDateTime")),
    ]
    title = "Manage subscription (emulator)" if manage else "Waffo subscription checkout (emulator)"
    return _page(title, rows, actions, message)


async def subscription_checkout(request: Request) -> HTMLResponse:
    return _subscription_page(_emu(request), _prefix(request), request.path_params["subscription_id"])


async def subscription_checkout_action(request: Request) -> HTMLResponse:
    emu = _emu(request)
    subscription_id, action = request.path_params["subscription_id"], request.path_params["action"]
    subscription = emu.store.subscriptions.get(subscription_id)
    if subscription is None:
        return _not_found(f"subscription {subscription_id}")
    service = emu.subscriptions
    try:
        if action == "pay":
            service.authorize(subscription)
        elif action == "fail":
            service.fail_first_payment(subscription)
        elif action == "abandon":
            service.abandon(subscription)
        else:
            return _not_found(f"action {action}")
    except StateConflict as exc:
        return _subscription_page(emu, _prefix(request), subscription_id, f"Not possible: {exc}")
    return _subscription_page(
        emu, _prefix(request), subscription_id, f"Done: the subscription is now {subscription.status}."
    )


async def manage_page(request: Request) -> HTMLResponse:
    return _subscription_page(_emu(request), _prefix(request), request.path_params["subscription_id"], manage=True)


async def manage_action(request: Request) -> HTMLResponse:
    emu = _emu(request)
    subscription_id, action = request.path_params["subscription_id"], request.path_params["action"]
    subscription = emu.store.subscriptions.get(subscription_id)
    if subscription is None:
        return _not_found(f"subscription {subscription_id}")
    service = emu.subscriptions
    try:
        if action == "renew-success":
            service.renew(subscription, succeed=True)
        elif action == "renew-fail":
            service.renew(subscription, succeed=False)
        elif action == "cancel":
            service.user_cancel(subscription)
        else:
            return _not_found(f"action {action}")
    except StateConflict as exc:
        return _subscription_page(emu, _prefix(request), subscription_id, f"Not possible: {exc}", manage=True)
    return _subscription_page(
        emu, subscription_id, f"Done: the subscription is now {subscription.status}.", manage=True
    )


def checkout_routes() -> list[Route]:
    # Subscription routes first: /checkout/subscription/{id} would otherwise match
    # /checkout/{order_id}/{action}.
    return [
        Route("/checkout/subscription/{subscription_id}", subscription_checkout, methods=["GET"]),
        Route(
            "/checkout/subscription/{subscription_id}/{action}",
            subscription_checkout_action,
            methods=["POST"],
        ),
        Route("/checkout/{order_id}", order_checkout, methods=["GET"]),
        Route("/checkout/{order_id}/{action}", order_checkout_action, methods=["POST"]),
        Route("/manage/subscription/{subscription_id}", manage_page, methods=["GET"]),
        Route("/manage/subscription/{subscription_id}/{action}", manage_action, methods=["POST"]),
    ]
