"""The unauthenticated control API under /control (loopback use only: tests and `make dev`).

Paths:
  POST   /control/merchants                          {"user","password","storeId","storeName","currency"}
  GET    /control/merchants
  GET    /control/orders/{out_trade_no}
  POST   /control/orders/{out_trade_no}/pay          {"late": true} pays a closed order anyway
  POST   /control/orders/{out_trade_no}/fail         {"errCode": "NOTENOUGH"}
  POST   /control/orders/{out_trade_no}/expire
  GET    /control/refunds/{out_refund_no}
  POST   /control/refunds/{out_refund_no}/succeed|fail   (refunds left PROCESSING)
  GET    /control/tokens                             -> {"tokensIssued": n}
  POST   /control/tokens/expire                      every token issued so far answers 401
  POST   /control/faults  GET /control/faults  DELETE /control/faults
  GET    /control/ledger
  POST   /control/reset
  GET    /control/clock  POST /control/clock/advance {"seconds"}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.common.control import ControlError, json_body, opt_str
from emulators.common.faults import WILDCARD, scope_from
from emulators.kess.api import API_FAULT_KINDS, FAULT_OPERATIONS, OPERATIONS, json_response
from emulators.kess.models import Order, Refund
from emulators.kess.payments import StateConflict

if TYPE_CHECKING:
    from emulators.kess.emulator import KessEmulator


def _emu(request: Request) -> KessEmulator:
    emu: KessEmulator = request.app.state.emulator
    emu.ensure_background()
    emu.payments.progress()
    return emu


Endpoint = Callable[[Request], Awaitable[Any]]


def handles_errors(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def wrapper(request: Request) -> Response:
        try:
            result = await endpoint(request)
        except ControlError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except StateConflict as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return json_response(result)

    return wrapper


def _order_view(emu: KessEmulator, order: Order) -> dict[str, Any]:
    return {
        **emu.payments.status_view(order),
        "kind": order.kind.value,
        "wallet": order.wallet,
        "storeId": order.store_id,
        "latePayment": order.late_payment,
        "refunds": [emu.payments.refund_status_view(refund) for refund in order.refunds],
    }


async def register_merchant(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    user, password = opt_str(body, "user"), opt_str(body, "password")
    if not (user and password):
        raise ControlError(400, "user and password are required")
    merchant = emu.register_merchant(
        user,
        password,
        store_id=str(body.get("storeId") or "109038"),
        store_name=opt_str(body, "storeName") or "Test Store",
        currency=opt_str(body, "currency") or "USD",
    )
    return {"user": merchant.user, "storeId": merchant.store_id, "currency": merchant.currency}


async def list_merchants(request: Request) -> Any:
    emu = _emu(request)
    return {
        "merchants": [
            {"user": m.user, "storeId": m.store_id, "storeName": m.store_name, "currency": m.currency}
            for m in emu.store.merchants.values()
        ]
    }


def _order(emu: KessEmulator, out_trade_no: str) -> Order:
    order = emu.store.find_order(out_trade_no)
    if order is None:
        raise ControlError(404, f"no order {out_trade_no}")
    return order


async def get_order(request: Request) -> Any:
    emu = _emu(request)
    return _order_view(emu, _order(emu, request.path_params["ref"]))


async def order_action(request: Request) -> Any:
    emu = _emu(request)
    order = _order(emu, request.path_params["ref"])
    body = await json_body(request)
    action = request.path_params["action"]
    if action == "pay":
        emu.payments.buyer_pay(order, late=body.get("late") is True)
    elif action == "fail":
        emu.payments.buyer_fail(order, opt_str(body, "errCode"))
    elif action == "expire":
        emu.payments.expire(order)
    else:
        raise ControlError(404, f"unknown order action {action}")
    return _order_view(emu, order)


def _refund(emu: KessEmulator, out_refund_no: str) -> Refund:
    refund = emu.store.find_refund(out_refund_no)
    if refund is None:
        raise ControlError(404, f"no refund {out_refund_no}")
    return refund


async def get_refund(request: Request) -> Any:
    emu = _emu(request)
    return emu.payments.refund_status_view(_refund(emu, request.path_params["ref"]))


async def refund_action(request: Request) -> Any:
    emu = _emu(request)
    refund = _refund(emu, request.path_params["ref"])
    action = request.path_params["action"]
    if action not in ("succeed", "fail"):
        raise ControlError(404, f"unknown refund action {action}")
    emu.payments.complete_refund(refund, succeed=action == "succeed")
    return emu.payments.refund_status_view(refund)


async def get_tokens(request: Request) -> Any:
    return _emu(request).stats()


async def expire_tokens(request: Request) -> Any:
    emu = _emu(request)
    emu.expire_tokens()
    return emu.stats()


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
    if operation != WILDCARD and operation not in OPERATIONS:
        raise ControlError(400, f"operation must be one of {sorted(OPERATIONS)} or *")
    if kind not in API_FAULT_KINDS:
        raise ControlError(400, f"kind must be one of {sorted(API_FAULT_KINDS)}")
    if kind in FAULT_OPERATIONS and operation != FAULT_OPERATIONS[kind]:
        raise ControlError(400, f"{kind} applies to operation {FAULT_OPERATIONS[kind]} only")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ControlError(400, "count must be a positive integer")
    if not isinstance(params, dict):
        raise ControlError(400, "params must be an object")
    return emu.faults.add(operation, kind, count, params, _scope(body)).to_json()


async def list_faults(request: Request) -> Any:
    return {"faults": _emu(request).faults.list()}


async def clear_faults(request: Request) -> Any:
    emu = _emu(request)
    emu.faults.clear()
    return {"faults": []}


async def ledger(request: Request) -> Any:
    return _emu(request).ledger.to_json()


async def reset(request: Request) -> Any:
    _emu(request).reset()
    return {"reset": True}


async def get_clock(request: Request) -> Any:
    return {"now": _emu(request).timestamp()}


async def advance_clock(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise ControlError(400, "seconds must be a non-negative number")
    emu.clock.advance(float(seconds))
    emu.payments.progress()
    return {"now": emu.timestamp()}


def control_routes() -> list[Route]:
    def route(path: str, endpoint: Endpoint, method: str) -> Route:
        return Route(path, handles_errors(endpoint), methods=[method])

    return [
        route("/control/merchants", register_merchant, "POST"),
        route("/control/merchants", list_merchants, "GET"),
        route("/control/orders/{ref}", get_order, "GET"),
        route("/control/orders/{ref}/{action}", order_action, "POST"),
        route("/control/refunds/{ref}", get_refund, "GET"),
        route("/control/refunds/{ref}/{action}", refund_action, "POST"),
        route("/control/tokens", get_tokens, "GET"),
        route("/control/tokens/expire", expire_tokens, "POST"),
        route("/control/faults", add_fault, "POST"),
        route("/control/faults", list_faults, "GET"),
        route("/control/faults", clear_faults, "DELETE"),
        route("/control/ledger", ledger, "GET"),
        route("/control/reset", reset, "POST"),
        route("/control/clock", get_clock, "GET"),
        route("/control/clock/advance", advance_clock, "POST"),
    ]
