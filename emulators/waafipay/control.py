"""The unauthenticated control API under /control (loopback use only: tests and `make dev`).

Paths:
  POST   /control/merchants          {"merchantUid","apiUserId","apiKey","storeId"?,"hppKey"?,"hppPaymentMethods"?}
  GET    /control/merchants
  POST   /control/wallets            {"number","balance"?,"pin"?,"behaviour"?}  (creates or updates)
  GET    /control/wallets            GET /control/wallets/{number}
  GET    /control/transactions       GET /control/transactions/{transactionId or referenceId}
  GET    /control/hpp/{ref}          ref = page token, result token, orderId, hppRequestId or referenceId
  POST   /control/hpp/{ref}/approve|decline|cancel|timeout   {"accountNo"?}
  POST   /control/faults  GET /control/faults  DELETE /control/faults
  GET    /control/ledger
  POST   /control/settle             {"timeoutS": 10} -> {"settled": bool}  (waits for payer pushes)
  POST   /control/reset
  GET    /control/clock  POST /control/clock/advance {"seconds"}  POST /control/clock/set {"now"}

A behaviour is an action name ("approve", "reject", "insufficient", "wrong_pin", "timeout",
"not_found", "no_route"), an object {"action", "afterS", "pin"}, or a list of them consumed one per
push (the last one stays in force).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulators.common.control import ControlError, json_body
from emulators.common.faults import WILDCARD, scope_from
from emulators.waafipay.api import API_FAULT_KINDS, SERVICES
from emulators.waafipay.hpp import StateConflict
from emulators.waafipay.models import HppOrder, Transaction, Wallet
from emulators.waafipay.payer import parse_behaviour
from emulators.waafipay.wire import format_timestamp, mask_account, wire_amount

if TYPE_CHECKING:
    from emulators.waafipay.emulator import WaafiPayEmulator

Endpoint = Callable[[Request], Awaitable[Any]]


def _emu(request: Request) -> WaafiPayEmulator:
    emu: WaafiPayEmulator = request.app.state.emulator
    emu.expire_due()
    return emu


def _opt_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _number(payload: dict[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ControlError(400, f"{key} must be a number")
    return float(value)


def handles_errors(endpoint: Endpoint) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def wrapper(request: Request) -> JSONResponse:
        try:
            result = await endpoint(request)
        except ControlError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except StateConflict as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(result)

    return wrapper


# -- views --------------------------------------------------------------------------------------


def wallet_view(wallet: Wallet) -> dict[str, Any]:
    return {
        "number": wallet.number,
        "balance": str(wallet.balance),
        "held": str(wallet.held),
        "pin": wallet.pin,
        "behaviour": [step.to_json() for step in wallet.steps],
    }


def transaction_view(emu: WaafiPayEmulator, txn: Transaction) -> dict[str, Any]:
    return {
        "transactionId": txn.transaction_id,
        "kind": txn.kind,
        "status": txn.status,
        "merchantUid": txn.merchant_uid,
        "storeId": txn.store_id,
        "referenceId": txn.reference_id,
        "invoiceId": txn.invoice_id,
        "accountNo": mask_account(txn.account_no),
        "amount": wire_amount(txn.amount),
        "refunded": wire_amount(txn.refunded),
        "currency": txn.currency,
        "refunds": [
            {"transactionId": r.transaction_id, "amount": wire_amount(r.amount), "referenceId": r.reference_id}
            for r in (emu.state.refunds[i] for i in txn.refund_ids)
        ],
        "reversalTransactionId": txn.reversal_id,
        "commitTransactionId": txn.commit_id,
        "holdReleaseTransactionId": txn.hold_release_id,
        "createdAt": format_timestamp(txn.created_at),
    }


# -- merchants and wallets ----------------------------------------------------------------------


async def register_merchant(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request, exact_numbers=True)
    uid, user, key = _opt_str(body, "merchantUid"), _opt_str(body, "apiUserId"), _opt_str(body, "apiKey")
    if not (uid and user and key):
        raise ControlError(400, "merchantUid, apiUserId and apiKey are required")
    methods = body.get("hppPaymentMethods")
    if methods is not None and not (isinstance(methods, list) and all(isinstance(m, str) for m in methods)):
        raise ControlError(400, "hppPaymentMethods must be a list of strings")
    try:
        merchant = emu.register_merchant(
            uid, user, key, _opt_str(body, "storeId"), _opt_str(body, "hppKey"), hpp_payment_methods=methods
        )
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    return {"merchantUid": merchant.merchant_uid, "storeId": merchant.store_id}


async def list_merchants(request: Request) -> Any:
    return {
        "merchants": [
            {
                "merchantUid": m.merchant_uid,
                "apiUserId": m.api_user_id,
                "storeId": m.store_id,
                "hppPaymentMethods": sorted(m.hpp_payment_methods),
            }
            for m in _emu(request).state.merchants.values()
        ]
    }


async def set_wallet(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request, exact_numbers=True)
    number = _opt_str(body, "number")
    if number is None or not number.isdigit():
        raise ControlError(400, "number is required (digits, international format without +)")
    balance: Decimal | None = None
    if body.get("balance") is not None:
        try:
            balance = Decimal(str(body["balance"]))
        except InvalidOperation as exc:
            raise ControlError(400, "balance must be a decimal string") from exc
        if not balance.is_finite() or balance < 0:
            raise ControlError(400, "balance must be a non-negative decimal")
    pin = body.get("pin")
    if pin is not None and not isinstance(pin, str):
        raise ControlError(400, "pin must be a string")
    steps = None
    if body.get("behaviour") is not None:
        try:
            steps = parse_behaviour(body["behaviour"])
        except ValueError as exc:
            raise ControlError(400, f"behaviour: {exc}") from exc
    return wallet_view(emu.set_wallet(number, balance=balance, pin=pin, steps=steps))


async def list_wallets(request: Request) -> Any:
    return {"wallets": [wallet_view(w) for w in _emu(request).state.wallets.values()]}


async def get_wallet(request: Request) -> Any:
    wallet = _emu(request).state.wallets.get(request.path_params["number"])
    if wallet is None:
        raise ControlError(404, "no such wallet")
    return wallet_view(wallet)


# -- transactions and hosted pages --------------------------------------------------------------


async def list_transactions(request: Request) -> Any:
    emu = _emu(request)
    return {"transactions": [transaction_view(emu, t) for t in emu.state.transactions.values()]}


async def get_transaction(request: Request) -> Any:
    emu = _emu(request)
    ref = request.path_params["ref"]
    state = emu.state
    txn = state.transactions.get(state.aliases.get(ref, ref))
    if txn is None:
        matches = [t for t in state.transactions.values() if t.reference_id == ref]
        txn = matches[-1] if matches else None
    if txn is None:
        raise ControlError(404, f"no transaction {ref}")
    return transaction_view(emu, txn)


def _order(emu: WaafiPayEmulator, ref: str) -> HppOrder:
    order = emu.hpp.find_any(ref)
    if order is None:
        raise ControlError(404, f"no HPP order {ref}")
    return order


async def get_order(request: Request) -> Any:
    emu = _emu(request)
    return emu.hpp.view(_order(emu, request.path_params["ref"]))


async def order_action(request: Request) -> Any:
    """Act as the payer on the page; answers the order and where the browser is sent."""
    emu = _emu(request)
    order = _order(emu, request.path_params["ref"])
    body = await json_body(request, exact_numbers=True)
    action = request.path_params["action"]
    if action == "approve":
        emu.hpp.approve(order, _opt_str(body, "accountNo"))
    elif action == "decline":
        emu.hpp.decline(order)
    elif action == "cancel":
        emu.hpp.cancel(order)
    elif action == "timeout":
        emu.hpp.time_out(order)
    else:
        raise ControlError(404, f"unknown HPP action {action}")
    return {"order": emu.hpp.view(order), "redirect": emu.hpp.redirect(order).to_json()}


# -- faults, ledger, settle, reset, clock -------------------------------------------------------


def _scope(body: dict[str, Any]) -> tuple[str, ...]:
    """The fault's ``scope``: only calls whose body mentions one of these strings are hit."""
    try:
        return scope_from(body.get("scope"))
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None


async def add_fault(request: Request) -> Any:
    emu = _emu(request)
    body = await json_body(request, exact_numbers=True)
    operation, kind = _opt_str(body, "operation"), _opt_str(body, "kind")
    count = body.get("count", 1)
    params = body.get("params", {})
    if operation is None or kind is None:
        raise ControlError(400, "operation and kind are required")
    if operation != WILDCARD and operation not in SERVICES:
        raise ControlError(400, f"operation must be a serviceName or '*', not {operation}")
    if kind not in API_FAULT_KINDS:
        raise ControlError(400, f"kind must be one of {sorted(API_FAULT_KINDS)}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ControlError(400, "count must be a positive integer")
    if not isinstance(params, dict):
        raise ControlError(400, "params must be an object")
    # Fault parameters are durations and statuses, never money.
    clean = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in params.items()}
    return emu.faults.add(operation, kind, count, clean, _scope(body)).to_json()


async def list_faults(request: Request) -> Any:
    return {"faults": _emu(request).faults.list()}


async def clear_faults(request: Request) -> Any:
    _emu(request).faults.clear()
    return {"faults": []}


async def ledger(request: Request) -> Any:
    return _emu(request).ledger.to_json()


async def settle(request: Request) -> Any:
    emu = _emu(request)
    timeout = _number(await json_body(request, exact_numbers=True), "timeoutS")
    return {"settled": await emu.settle(10.0 if timeout is None else timeout)}


async def reset(request: Request) -> Any:
    _emu(request).reset()
    return {"reset": True}


async def get_clock(request: Request) -> Any:
    return {"now": _emu(request).timestamp()}


async def advance_clock(request: Request) -> Any:
    emu = _emu(request)
    seconds = _number(await json_body(request, exact_numbers=True), "seconds")
    if seconds is None or seconds < 0:
        raise ControlError(400, "seconds must be a non-negative number")
    emu.clock.advance(seconds)
    emu.expire_due()
    return {"now": emu.timestamp()}


async def set_clock(request: Request) -> Any:
    emu = _emu(request)
    text = _opt_str(await json_body(request, exact_numbers=True), "now")
    try:
        when = datetime.fromisoformat(text or "")
    except ValueError as exc:
        raise ControlError(400, "now must be an ISO 8601 date-time") from exc
    emu.clock.set(when if when.tzinfo else when.replace(tzinfo=UTC))
    emu.expire_due()
    return {"now": emu.timestamp()}


def control_routes() -> list[Route]:
    def route(path: str, endpoint: Endpoint, method: str) -> Route:
        return Route(path, handles_errors(endpoint), methods=[method])

    return [
        route("/control/merchants", register_merchant, "POST"),
        route("/control/merchants", list_merchants, "GET"),
        route("/control/wallets", set_wallet, "POST"),
        route("/control/wallets", list_wallets, "GET"),
        route("/control/wallets/{number}", get_wallet, "GET"),
        route("/control/transactions", list_transactions, "GET"),
        route("/control/transactions/{ref}", get_transaction, "GET"),
        route("/control/hpp/{ref}", get_order, "GET"),
        route("/control/hpp/{ref}/{action}", order_action, "POST"),
        route("/control/faults", add_fault, "POST"),
        route("/control/faults", list_faults, "GET"),
        route("/control/faults", clear_faults, "DELETE"),
        route("/control/ledger", ledger, "GET"),
        route("/control/settle", settle, "POST"),
        route("/control/reset", reset, "POST"),
        route("/control/clock", get_clock, "GET"),
        route("/control/clock/advance", advance_clock, "POST"),
        route("/control/clock/set", set_clock, "POST"),
    ]
