"""The merchant API: the token endpoint, bearer authentication, the envelope, dispatch and faults."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from emulators.common.asgi import DropConnectionResponse
from emulators.common.faults import Fault, references_in
from emulators.kess import wire
from emulators.kess.config import DEFAULT_PATHS, SEED_ID_TYPES
from emulators.kess.errors import KessApiError
from emulators.kess.models import Merchant, PayKind, TradeState

if TYPE_CHECKING:
    from emulators.kess.emulator import KessEmulator

OPERATIONS = frozenset(DEFAULT_PATHS)
API_FAULT_KINDS = frozenset(
    {"latency", "timeout_after_commit", "http_500", "drop_connection", "system_error", "refuse_token", "other_object"}
)
#: The identifiers an "other_object" answer rewrites when the fault names no other object.
OBJECT_IDS = ("out_trade_no", "out_refund_no", "transaction_id")
#: Fault kinds that only make sense on one operation.
FAULT_OPERATIONS = {"refuse_token": "token"}
TOKEN_REFUSAL = {"success": False, "data": {"message": "Invalid user or password"}}
DEFAULT_TIMEOUT_AFTER_COMMIT_MS = 30_000

_PAY_KINDS = {"native_pay": PayKind.NATIVE, "quick_pay": PayKind.QUICK, "jsapi_pay": PayKind.JSAPI}


def json_response(document: dict[str, Any], status: int = 200) -> Response:
    return Response(wire.encode_json(document), status_code=status, media_type="application/json")


def _unauthorized(message: str) -> Response:
    return json_response({"success": False, "message": message}, 401)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _payload(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return dict(request.query_params)
    try:
        payload = wire.parse_body(raw)
    except ValueError as exc:
        raise KessApiError("PARAM_ERROR", "request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise KessApiError("PARAM_ERROR", "request body must be a JSON object")
    return payload


def _check_id_types(mode: str, operation: str, payload: dict[str, Any]) -> None:
    """``id_types``: refuse an id whose JSON type is not the one this mode wants (PARAM_ERROR naming it)."""
    if mode == "any":
        return
    for name, seed_type in SEED_ID_TYPES.get(operation, {}).items():
        value = payload.get(name)
        if value is None or value == "":
            continue
        wanted = "text" if mode == "text" else seed_type
        is_number = isinstance(value, int) and not isinstance(value, bool)
        if wanted == "number" and not is_number:
            raise KessApiError("PARAM_ERROR", f"{name} must be a JSON number")
        if wanted == "text" and not isinstance(value, str):
            raise KessApiError("PARAM_ERROR", f"{name} must be a JSON string")


async def _dispatch(emu: KessEmulator, operation: str, merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
    payments = emu.payments
    _check_id_types(emu.config.id_types, operation, payload)
    kind = _PAY_KINDS.get(operation)
    if kind is not None:
        order = payments.create(kind, merchant, payload)
        if order.trade_state is TradeState.USERPAYING:
            await payments.hold_quick_pay(order)
        return payments.pay_answer(order)
    if operation == "payment_status":
        return payments.status_view(payments.find(merchant, payload))
    if operation == "refund":
        return payments.refund(merchant, payload)
    if operation == "refund_status":
        return payments.refund_status_view(payments.find_refund(merchant, payload))
    if operation == "close":
        return payments.close(merchant, payload)
    if operation == "revoke":
        return payments.revoke(merchant, payload)
    raise KessApiError("PARAM_ERROR", f"unknown operation {operation}")  # pragma: no cover


#: Operations seed 004 does not document; served only with ``close_endpoint=True``.
UNDOCUMENTED = frozenset({"close", "revoke"})
NOT_FOUND = {"success": False, "message": "Not Found"}


async def _handle(
    emu: KessEmulator, operation: str, request: Request, overrides: dict[str, Any] | None = None
) -> Response:
    if operation in UNDOCUMENTED and not emu.config.close_endpoint:
        return json_response(NOT_FOUND, 404)
    try:
        payload = await _payload(request)
    except KessApiError as exc:
        return json_response(wire.failure(exc.err_code, exc.description), exc.http_status)
    payload.update(overrides or {})
    if operation == "token":
        user, password = payload.get("user"), payload.get("password")
        token = emu.issue_token(str(user), str(password)) if user is not None and password is not None else None
        if token is None:
            return json_response(TOKEN_REFUSAL, 401)
        return json_response({"success": True, "data": {"message": "SUCCESS", "token": token}})
    token = _bearer(request)
    if token is None:
        return _unauthorized("Unauthenticated.")
    merchant = emu.authenticate(token)
    if merchant is None:
        return _unauthorized("Token expired or invalid.")
    emu.payments.progress()
    try:
        document = wire.success(await _dispatch(emu, operation, merchant, payload))
        status = 200
    except KessApiError as exc:
        envelope = emu.config.failure_envelope
        document = wire.refusal(exc.err_code, exc.description, exc.data, envelope)
        status = exc.http_status if envelope == "success_false" else 200
    return json_response(document, status)


def _ms(fault: Fault, default: float) -> float:
    return float(fault.params.get("ms", default)) / 1000.0


def api_endpoint(emu: KessEmulator, operation: str) -> Any:
    async def endpoint(request: Request) -> Response | DropConnectionResponse:
        emu.ensure_background()
        fault = emu.faults.take(operation, references=references_in(await request.body()))
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "latency":
            await asyncio.sleep(_ms(fault, 1000))
        if fault is not None and kind == "http_500":
            # A gateway failure in front of KESS: nothing handled.
            status = int(fault.params.get("status", 500))
            return PlainTextResponse(str(fault.params.get("body", "Internal Server Error")), status_code=status)
        if fault is not None and kind == "refuse_token":
            # KESS refuses the API user (as for a wrong password) although the credentials are right:
            # nothing issued. An account locked or rotated while requests were in flight looks like this.
            return json_response(TOKEN_REFUSAL, int(fault.params.get("status", 401)))
        if fault is not None and kind == "other_object":
            # The answer is about another object than the one asked for: the one `params` names (the
            # request is handled as if it named it), else the same answer with its identifiers changed.
            if fault.params:
                response = await _handle(emu, operation, request, dict(fault.params))
            else:
                response = _about_another_object(await _handle(emu, operation, request))
        else:
            response = await _handle(emu, operation, request)
        if kind == "system_error":
            # Handled and committed, but answered as WeChat's SYSTEMERROR: the outcome is unknown.
            response = json_response(
                wire.refusal("SYSTEMERROR", "system error, please query the order", None, emu.config.failure_envelope)
            )
        if fault is not None and kind == "timeout_after_commit":
            await asyncio.sleep(_ms(fault, DEFAULT_TIMEOUT_AFTER_COMMIT_MS))
        if kind == "drop_connection":
            return DropConnectionResponse()
        return response

    return endpoint


def _about_another_object(response: Response) -> Response:
    document = wire.parse_body(bytes(response.body))
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict):
        for name in OBJECT_IDS:
            if data.get(name) is not None:
                data[name] = f"OTHER{data[name]}"[:32]
    return json_response(document, response.status_code)
