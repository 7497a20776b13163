"""The single `POST /asm` endpoint: envelope, credentials, dispatch on serviceName, API faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from emulators.common.asgi import DropConnectionResponse
from emulators.common.faults import Fault, references_in
from emulators.waafipay import params as p
from emulators.waafipay.codes import DOCUMENTED_FAILURE_SHAPES, Reply, WaafiPayError
from emulators.waafipay.models import Merchant
from emulators.waafipay.wire import decode_json

if TYPE_CHECKING:
    from emulators.waafipay.emulator import WaafiPayEmulator

log = logging.getLogger(__name__)

API_SERVICES = frozenset(
    {
        "API_PURCHASE",
        "API_CANCELPURCHASE",
        "API_PREAUTHORIZE",
        "API_PREAUTHORIZE_COMMIT",
        "API_PREAUTHORIZE_CANCEL",
        "API_REFUND",
    }
)
HPP_SERVICES = frozenset({"HPP_PURCHASE", "HPP_GETRESULTINFO", "HPP_GETTRANINFO", "HPP_REFUNDPURCHASE"})
SERVICES = API_SERVICES | HPP_SERVICES
# Services that push a PIN prompt; the "approved_no_response" fault forces the payer to approve.
PUSH_SERVICES = frozenset({"API_PURCHASE", "API_PREAUTHORIZE"})

API_FAULT_KINDS = frozenset({"latency", "timeout_after_commit", "http_500", "drop_connection", "approved_no_response"})
DEFAULT_LATENCY_MS = 1000
DEFAULT_TIMEOUT_AFTER_COMMIT_MS = 30_000
DEFAULT_NO_RESPONSE_MS = 600_000


def authenticate(emu: WaafiPayEmulator, service: str, params: Mapping[str, Any]) -> Merchant:
    """API services: merchantUid + apiUserId + apiKey; HPP services: merchantUid + storeId + hppKey."""
    merchant_uid = p.optional_str(params, "merchantUid")
    merchant = emu.state.merchants.get(merchant_uid or "")
    if service in HPP_SERVICES:
        store_id, hpp_key = p.optional_str(params, "storeId"), p.optional_str(params, "hppKey")
        if (
            merchant is None
            or merchant.store_id is None
            or (store_id, hpp_key) != (merchant.store_id, merchant.hpp_key)
        ):
            raise WaafiPayError("invalid_hpp_key")
        return merchant
    api_user_id, api_key = p.optional_str(params, "apiUserId"), p.optional_str(params, "apiKey")
    if merchant is None or (api_user_id, api_key) != (merchant.api_user_id, merchant.api_key):
        raise WaafiPayError("unauthorized")
    return merchant


async def dispatch(emu: WaafiPayEmulator, envelope: Mapping[str, Any], *, force_approve: bool) -> Reply:
    service = envelope.get("serviceName")
    if not isinstance(service, str) or not service:
        raise WaafiPayError("invalid_request", "serviceName is required")
    if service not in SERVICES:
        raise WaafiPayError("not_allowed", f"unknown serviceName {service}")
    if envelope.get("requestId") in (None, ""):
        raise WaafiPayError("invalid_request", "requestId is required")
    params = envelope.get("serviceParams")
    if not isinstance(params, Mapping):
        raise WaafiPayError("invalid_request", "serviceParams must be an object")
    merchant = authenticate(emu, service, params)
    emu.expire_due()
    payments, hpp = emu.payments, emu.hpp
    match service:
        case "API_PURCHASE":
            return await payments.purchase(merchant, params, preauth=False, force_approve=force_approve)
        case "API_PREAUTHORIZE":
            return await payments.purchase(merchant, params, preauth=True, force_approve=force_approve)
        case "API_CANCELPURCHASE":
            return payments.cancel_purchase(merchant, params)
        case "API_PREAUTHORIZE_COMMIT":
            return payments.commit(merchant, params)
        case "API_PREAUTHORIZE_CANCEL":
            return payments.cancel_hold(merchant, params)
        case "API_REFUND":
            return payments.refund_api(merchant, params)
        case "HPP_PURCHASE":
            return hpp.create(merchant, params)
        case "HPP_GETRESULTINFO":
            return hpp.result_info(merchant, params)
        case "HPP_GETTRANINFO":
            return hpp.tran_info(merchant, params)
        case _:  # HPP_REFUNDPURCHASE
            return hpp.refund(merchant, params)


def render(emu: WaafiPayEmulator, reply: Reply, envelope: Mapping[str, Any] | None) -> bytes:
    """The response envelope. Every value is a string; failures carry `params` as configured."""
    code = emu.codes[reply.code_name]
    body: dict[str, Any] = {
        "schemaVersion": "1.0",
        "timestamp": emu.timestamp(),
        "responseId": str(next(emu.state.ids.response)),
    }
    if emu.config.echo_request_id:
        request_id = envelope.get("requestId") if envelope is not None else None
        body["requestId"] = None if request_id is None else str(request_id)
        body["sessionId"] = None
    body["responseCode"] = code.response_code
    body["errorCode"] = code.error_code
    body["responseMsg"] = emu.codes.message(reply)
    if reply.succeeded:
        body["params"] = dict(reply.params or {})
    else:
        setting = emu.config.failure_params
        shape = DOCUMENTED_FAILURE_SHAPES.get(reply.code_name, "object") if setting == "documented" else setting
        if shape == "object":
            body["params"] = {}
        elif shape == "list":
            body["params"] = []
    return json.dumps(body, default=str).encode("utf-8")


def _seconds(fault: Fault, default_ms: float) -> float:
    return float(fault.params.get("ms", default_ms)) / 1000.0


async def _hold(request: Request, seconds: float) -> None:
    """Keep the response back for `seconds`, or until the client hangs up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(0.05, remaining))
        if await request.is_disconnected():
            return


async def asm_endpoint(request: Request) -> Response | DropConnectionResponse:
    emu: WaafiPayEmulator = request.app.state.emulator
    raw = await request.body()
    envelope: Mapping[str, Any] | None = None
    try:
        decoded = decode_json(raw)
        if isinstance(decoded, Mapping):
            envelope = decoded
    except ValueError:
        envelope = None
    service = envelope.get("serviceName") if envelope is not None else None
    fault = emu.faults.take(
        service if isinstance(service, str) and service in SERVICES else "",
        references=references_in(envelope) if envelope is not None else frozenset(),
    )
    kind = fault.kind if fault is not None else None
    if fault is not None and kind == "latency":
        await asyncio.sleep(_seconds(fault, DEFAULT_LATENCY_MS))
    if fault is not None and kind == "http_500":
        # A gateway failure in front of WaafiPay: nothing handled, no envelope.
        status = int(fault.params.get("status", 500))
        return PlainTextResponse(str(fault.params.get("body", "Internal Server Error")), status_code=status)

    if envelope is None:
        reply = WaafiPayError("invalid_request", "the body is not a JSON object").reply
    else:
        try:
            reply = await dispatch(emu, envelope, force_approve=kind == "approved_no_response")
        except WaafiPayError as exc:
            if exc.detail:
                log.debug("%s answered %s: %s", service, exc.code_name, exc.detail)
            reply = exc.reply
    response = Response(render(emu, reply, envelope), media_type="application/json")

    if fault is not None and kind == "timeout_after_commit":
        await _hold(request, _seconds(fault, DEFAULT_TIMEOUT_AFTER_COMMIT_MS))
    if fault is not None and kind == "approved_no_response":
        # The payment went through; the answer never arrives. The client times out (or, if it
        # waits longer than params.ms, sees the connection close without a complete response).
        await _hold(request, _seconds(fault, DEFAULT_NO_RESPONSE_MS))
        return DropConnectionResponse()
    if kind == "drop_connection":
        return DropConnectionResponse()
    return response
