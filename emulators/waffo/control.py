"""The unauthenticated control API under /control (loopback use only: tests and `make dev`).

Paths:
  POST   /control/merchants                      {"apiKey","merchantId","publicKey"}
  GET    /control/merchants
  GET    /control/waffo-public-key               -> {"publicKey": "<Base64 SPKI DER>"}
  GET    /control/orders/{ref}                   ref = paymentRequestId or acquiringOrderId
  POST   /control/orders/{ref}/pay|fail|abandon|expire
  GET    /control/refunds/{ref}                  ref = refundRequestId or acquiringRefundOrderId
  POST   /control/refunds/{ref}/succeed|fail     (for refunds left in progress, refund_delay_s=None)
  POST   /control/captures/{ref}/complete        (for captures left in progress, capture_delay_s=None)
  GET    /control/subscriptions/{ref}            ref = subscriptionRequest or subscriptionId
  POST   /control/subscriptions/{ref}/pay|fail|renew|user-cancel
  POST   /control/faults  GET /control/faults  DELETE /control/faults
  GET    /control/ledger
  GET    /control/notifications
  POST   /control/notifications/drain            {"timeoutS": 10} -> {"drained": bool}
  POST   /control/reset
  GET    /control/clock  POST /control/clock/advance {"seconds"}  POST /control/clock/set {"now"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.common.control import ControlError, json_body, opt_str
from emulators.common.faults import WILDCARD, scope_from
from emulators.common.notifier import NOTIFY_FAULT_KINDS, NOTIFY_OPERATION
from emulators.waffo.api import API_FAULT_KINDS, OPERATIONS
from emulators.waffo.checkout import customer_return_url
from emulators.waffo.orders import StateConflict
from emulators.waffo.views import refund_view
from emulators.waffo.wire import parse_timestamp

if TYPE_CHECKING:
    from emulators.waffo.emulator import WaffoEmulator


def _emu(request: Request) -> WaffoEmulator:
    emu: WaffoEmulator = request.app.state.emulator
    emu.ensure_background()
    emu.expire_due()
    return emu


def handles_errors(
    endpoint: Callable[[Request], Any],
) -> Callable[[Request], Any]:
    async def wrapper(request: Request) -> JSONResponse:
        try:
            result = await endpoint(request)
        except ControlError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except StateConflict as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse(result)

    return wrapper


# -- merchants and keys -------------------------------------------------------------------------


async def register_merchant(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    api_key, merchant_id, public_key = (
        opt_str(body, "apiKey"),
        opt_str(body, "merchantId"),
        opt_str(body, "publicKey"),
    )
    if not (api_key and merchant_id and public_key):
        raise ControlError(400, "apiKey, merchantId and publicKey are required")
    try:
        merchant = emu.register_merchant(api_key, merchant_id, public_key)
    except ValueError as exc:
        raise ControlError(400, f"publicKey: {exc}") from exc
    return {
        "apiKey": merchant.api_key,
        "merchantId": merchant.merchant_id,
        "publicKey": merchant.public_key_b64,
    }


async def list_merchants(request: Request) -> Any:
    emu = _emu(request)
    return {
        "merchants": [
            {"apiKey": m.api_key, "merchantId": m.merchant_id, "publicKey": m.public_key_b64}
            for m in emu.store.merchants_by_key.values()
        ]
    }


async def waffo_public_key(request: Request) -> Any:
    return {"publicKey": _emu(request).waffo_public_key_b64()}


# -- orders, refunds, captures ------------------------------------------------------------------


def _order(emu: WaffoEmulator, ref: str) -> Any:
    order = emu.orders.find_any(ref)
    if order is None:
        raise ControlError(404, f"no order {ref}")
    return order


async def get_order(request: Request) -> Any:
    emu = _emu(request)
    return emu.orders.view(_order(emu, request.path_params["ref"]))


async def order_action(request: Request) -> Any:
    emu = _emu(request)
    order = _order(emu, request.path_params["ref"])
    body = await json_body(request)
    action = request.path_params["action"]
    if action == "pay":
        emu.orders.customer_pay(order, opt_str(body, "payMethodName"))
    elif action == "fail":
        emu.orders.customer_fail(order, opt_str(body, "orderFailedCode"), opt_str(body, "orderFailedDescription"))
    elif action == "abandon":
        emu.orders.customer_abandon(order)
    elif action == "expire":
        emu.orders.expire(order)
    else:
        raise ControlError(404, f"unknown order action {action}")
    answer = emu.orders.view(order)
    return_url = customer_return_url(order)
    if return_url and action in ("pay", "fail", "abandon"):
        # Where the customer's browser goes next (the merchant's redirect URL); not part of Waffo's view.
        answer["returnUrl"] = return_url
    return answer


def _refund(emu: WaffoEmulator, ref: str) -> Any:
    refund = emu.orders.find_refund_any(ref)
    if refund is None:
        raise ControlError(404, f"no refund {ref}")
    return refund


async def get_refund(request: Request) -> Any:
    emu = _emu(request)
    refund = _refund(emu, request.path_params["ref"])
    return refund_view(refund, emu.store.orders[refund.acquiring_order_id])


async def refund_action(request: Request) -> Any:
    emu = _emu(request)
    refund = _refund(emu, request.path_params["ref"])
    body = await json_body(request)
    action = request.path_params["action"]
    if action not in ("succeed", "fail"):
        raise ControlError(404, f"unknown refund action {action}")
    emu.orders.complete_refund(
        refund,
        succeed=action == "succeed",
        code=opt_str(body, "refundFailedCode"),
        description=opt_str(body, "refundFailedDescription"),
    )
    return refund_view(refund, emu.store.orders[refund.acquiring_order_id])


async def complete_capture(request: Request) -> Any:
    emu = _emu(request)
    order = _order(emu, request.path_params["ref"])
    emu.orders.complete_capture(order)
    return emu.orders.view(order)


# -- subscriptions ------------------------------------------------------------------------------


def _subscription(emu: WaffoEmulator, ref: str) -> Any:
    subscription = emu.subscriptions.find_any(ref)
    if subscription is None:
        raise ControlError(404, f"no subscription {ref}")
    return subscription


async def get_subscription(request: Request) -> Any:
    emu = _emu(request)
    return emu.subscriptions.view(_subscription(emu, request.path_params["ref"]))


async def subscription_action(request: Request) -> Any:
    emu = _emu(request)
    subscription = _subscription(emu, request.path_params["ref"])
    body = await json_body(request)
    action = request.path_params["action"]
    service = emu.subscriptions
    code, description = opt_str(body, "orderFailedCode"), opt_str(body, "orderFailedDescription")
    if action == "pay":
        service.authorize(subscription, opt_str(body, "payMethodName"))
    elif action == "fail":
        service.fail_first_payment(subscription, code, description)
    elif action == "renew":
        succeed = body.get("succeed", True)
        if not isinstance(succeed, bool):
            raise ControlError(400, "succeed must be true or false")
        service.renew(subscription, succeed=succeed, code=code, description=description)
    elif action == "user-cancel":
        service.user_cancel(subscription)
    else:
        raise ControlError(404, f"unknown subscription action {action}")
    return service.view(subscription)


# -- faults, ledger, notifications, reset, clock ------------------------------------------------


def _scope(body: dict[str, Any]) -> tuple[str, ...]:
    """The fault's ``scope``: only calls whose body mentions one of these strings are hit."""
    try:
        return scope_from(body.get("scope"))
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None


async def add_fault(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    operation, kind = opt_str(body, "operation"), opt_str(body, "kind")
    count = body.get("count", 1)
    params = body.get("params") or {}
    if operation is None or kind is None:
        raise ControlError(400, "operation and kind are required")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ControlError(400, "count must be a positive integer")
    if not isinstance(params, dict):
        raise ControlError(400, "params must be an object")
    if operation == NOTIFY_OPERATION:
        if kind not in NOTIFY_FAULT_KINDS:
            raise ControlError(400, f"notify fault kind must be one of {sorted(NOTIFY_FAULT_KINDS)}")
    else:
        if operation != WILDCARD and operation not in OPERATIONS:
            raise ControlError(400, f"unknown operation {operation}")
        if kind not in API_FAULT_KINDS:
            raise ControlError(400, f"API fault kind must be one of {sorted(API_FAULT_KINDS)}")
    fault = emu.faults.add(operation, kind, count, params, _scope(body))
    return fault.to_json()


async def list_faults(request: Request) -> Any:
    return {"faults": _emu(request).faults.list()}


async def clear_faults(request: Request) -> Any:
    emu = _emu(request)
    emu.faults.clear()
    return {"faults": []}


async def ledger(request: Request) -> Any:
    return _emu(request).ledger.to_json()


async def notifications(request: Request) -> Any:
    notifier = _emu(request).notifier
    return {
        "entries": [attempt.to_json() for attempt in notifier.log],
        "notifications": [notification.to_json() for notification in notifier.notifications],
    }


async def drain_notifications(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    timeout = body.get("timeoutS", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise ControlError(400, "timeoutS must be a number")
    return {"drained": await emu.drain_notifications(float(timeout))}


async def reset(request: Request) -> Any:
    emu = _emu(request)
    emu.reset()
    return {"reset": True}


async def get_clock(request: Request) -> Any:
    emu = _emu(request)
    return {"now": emu.timestamp()}


async def advance_clock(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise ControlError(400, "seconds must be a non-negative number")
    emu.clock.advance(float(seconds))
    emu.expire_due()
    return {"now": emu.timestamp()}


async def set_clock(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    try:
        when = parse_timestamp(str(body.get("now", "")))
    except ValueError as exc:
        raise ControlError(400, f"now {exc}") from exc
    emu.clock.set(when)
    emu.expire_due()
    return {"now": emu.timestamp()}


def control_routes() -> list[Route]:
    def route(path: str, endpoint: Callable[[Request], Any], method: str) -> Route:
        return Route(path, handles_errors(endpoint), methods=[method])

    return [
        route("/control/merchants", register_merchant, "POST"),
        route("/control/merchants", list_merchants, "GET"),
        route("/control/waffo-public-key", waffo_public_key, "GET"),
        route("/control/orders/{ref}", get_order, "GET"),
        route("/control/orders/{ref}/{action}", order_action, "POST"),
        route("/control/refunds/{ref}", get_refund, "GET"),
        route("/control/refunds/{ref}/{action}", refund_action, "POST"),
        route("/control/captures/{ref}/complete", complete_capture, "POST"),
        route("/control/subscriptions/{ref}", get_subscription, "GET"),
        route("/control/subscriptions/{ref}/{action}", subscription_action, "POST"),
        route("/control/faults", add_fault, "POST"),
        route("/control/faults", list_faults, "GET"),
        route("/control/faults", clear_faults, "DELETE"),
        route("/control/ledger", ledger, "GET"),
        route("/control/notifications", notifications, "GET"),
        route("/control/notifications/drain", drain_notifications, "POST"),
        route("/control/reset", reset, "POST"),
        route("/control/clock", get_clock, "GET"),
        route("/control/clock/advance", advance_clock, "POST"),
        route("/control/clock/set", set_clock, "POST"),
    ]
