"""The signed JSON API under /api/v1: authentication, envelope, dispatch and API faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from emulators.common.asgi import DropConnectionResponse
from emulators.common.faults import Fault, references_in
from emulators.waffo import signing
from emulators.waffo.errors import MESSAGES, SUCCESS_CODE, SUCCESS_MSG, WaffoApiError, http_status_for
from emulators.waffo.models import Merchant
from emulators.waffo.wire import encode_json

if TYPE_CHECKING:
    from emulators.waffo.emulator import WaffoEmulator

Handler = Callable[[Merchant, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Callable[[WaffoEmulator], Handler]] = {
    "order/create": lambda emu: emu.orders.create,
    "order/inquiry": lambda emu: emu.orders.inquiry,
    "order/cancel": lambda emu: emu.orders.cancel,
    "order/refund": lambda emu: emu.orders.refund,
    "order/capture": lambda emu: emu.orders.capture,
    "refund/inquiry": lambda emu: emu.orders.refund_inquiry,
    "subscription/create": lambda emu: emu.subscriptions.create,
    "subscription/inquiry": lambda emu: emu.subscriptions.inquiry,
    "subscription/cancel": lambda emu: emu.subscriptions.cancel,
    "subscription/manage": lambda emu: emu.subscriptions.manage,
    "subscription/change": lambda emu: emu.subscriptions.change,
    "subscription/change/inquiry": lambda emu: emu.subscriptions.change_inquiry,
    "subscription/update": lambda emu: emu.subscriptions.update,
    "merchantconfig/inquiry": lambda emu: merchant_config,
    "paymethodconfig/inquiry": lambda emu: pay_method_config,
}

API_FAULT_KINDS = frozenset(
    {"latency", "timeout_after_commit", "http_500", "e0001", "bad_signature", "drop_connection", "other_object"}
)
#: The identifiers an "other_object" answer changes: the answer is about another object than the one asked for.
OBJECT_IDS = (
    "paymentRequestId",
    "merchantOrderId",
    "acquiringOrderId",
    "refundRequestId",
    "acquiringRefundOrderId",
    "origPaymentRequestId",
    "subscriptionRequest",
    "merchantSubscriptionId",
    "subscriptionId",
)
DEFAULT_TIMEOUT_AFTER_COMMIT_MS = 30_000


def merchant_config(merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "merchantId": merchant.merchant_id,
        "totalDailyLimit": None,
        "remainingDailyLimit": None,
        "transactionLimit": None,
    }


def pay_method_config(merchant: Merchant, payload: dict[str, Any]) -> dict[str, Any]:
    """The emulator's contract: every method the checkout offers, with its type, currency and amount range."""

    def method(
        product: str, name: str, method_type: str, country: str, currency: str, low: str, high: str, refund: int
    ) -> dict[str, Any]:
        return {
            "productName": product,
            "payMethodName": name,
            "payMethodType": method_type,
            "country": country,
            "currency": currency,
            "orderAmountMin": low,
            "orderAmountMax": high,
            "refundAllowed": refund,
            "currentStatus": "1",
            "fixedMaintenanceRules": None,
            "fixedMaintenanceTimezone": "UTC+08:00",
        }

    return {
        "merchantId": merchant.merchant_id,
        "payMethodDetails": [
            method("ONE_TIME_PAYMENT", "CC_VISA", "CREDITCARD", "HKG", "USD", "0.01", "50000.00", 1),
            method("ONE_TIME_PAYMENT", "CC_MASTERCARD", "CREDITCARD", "HKG", "USD", "0.01", "50000.00", 1),
            method("ONE_TIME_PAYMENT", "DANA", "EWALLET", "IDN", "IDR", "1000", "20000000", 1),
            method("ONE_TIME_PAYMENT", "GCASH", "EWALLET", "PHL", "PHP", "1.00", "100000.00", 1),
            method("SUBSCRIPTION", "CC_VISA", "CREDITCARD", "HKG", "USD", "0.01", "50000.00", 1),
        ],
    }


def envelope_response(
    emu: WaffoEmulator, code: str, msg: str, data: Any, *, corrupt_signature: bool = False
) -> Response:
    """The `{"code","msg","data"}` envelope, signed with the Waffo key in X-SIGNATURE."""
    body = encode_json({"code": code, "msg": msg, "data": data})
    signature = emu.sign(body + b"#" if corrupt_signature else body)
    return Response(
        content=body,
        status_code=http_status_for(code),
        media_type="application/json",
        headers={signing.SIGNATURE_HEADER: signature},
    )


def authenticate(emu: WaffoEmulator, request: Request, body: bytes) -> Merchant:
    merchant = emu.store.merchants_by_key.get(request.headers.get(signing.API_KEY_HEADER, ""))
    if merchant is None:
        raise WaffoApiError("A0001")
    if not signing.verify(body, request.headers.get(signing.SIGNATURE_HEADER), merchant.public_key):
        raise WaffoApiError("A0002")
    return merchant


def dispatch(emu: WaffoEmulator, operation: str, request: Request, body: bytes) -> tuple[str, str, Any]:
    try:
        merchant = authenticate(emu, request, body)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise WaffoApiError("A0003", "request body is not valid JSON") from exc
        if not isinstance(payload, dict):
            raise WaffoApiError("A0003", "request body must be a JSON object")
        data = OPERATIONS[operation](emu)(merchant, payload)
    except WaffoApiError as exc:
        return exc.code, exc.msg, None
    return SUCCESS_CODE, SUCCESS_MSG, data


def _ms(fault: Fault, default: float) -> float:
    return float(fault.params.get("ms", default)) / 1000.0


async def api_endpoint(request: Request) -> Any:
    emu: WaffoEmulator = request.app.state.emulator
    operation = request.path_params["operation"].strip("/")
    emu.ensure_background()
    if operation not in OPERATIONS:
        return envelope_response(emu, "A0003", f"unknown API path /api/v1/{operation}", None)
    body = await request.body()
    fault = emu.faults.take(operation, references=references_in(body))
    if fault is not None and fault.kind == "latency":
        await asyncio.sleep(_ms(fault, 1000))
    if fault is not None and fault.kind == "http_500":
        # A gateway-style failure before the request reached Waffo: nothing handled, no envelope.
        status = int(fault.params.get("status", 500))
        return PlainTextResponse(str(fault.params.get("body", "Internal Server Error")), status_code=status)

    emu.expire_due()
    code, msg, data = dispatch(emu, operation, request, body)

    kind = fault.kind if fault is not None else None
    if kind == "e0001":
        code, msg, data = "E0001", MESSAGES["E0001"], None
    if kind == "other_object" and isinstance(data, dict):
        # Handled as asked, but the (signed) answer names another object.
        data = {k: f"OTHER{v}"[:64] if k in OBJECT_IDS and v is not None else v for k, v in data.items()}
    response = envelope_response(emu, code, msg, data, corrupt_signature=kind == "bad_signature")
    if kind == "timeout_after_commit" and fault is not None:
        await asyncio.sleep(_ms(fault, DEFAULT_TIMEOUT_AFTER_COMMIT_MS))
    if kind == "drop_connection":
        return DropConnectionResponse()
    return response
