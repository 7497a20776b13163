"""KESS's wire format: pydantic models in KESS's own spelling (snake_case JSON).

Amounts travel as JSON numbers (``0.01``). They are never floats here: requests hold ``Decimal`` and
:func:`encode_body` writes them as plain number text; responses are parsed with
``json.loads(..., parse_float=Decimal)``. Response models are lenient: unknown fields are ignored and
every field is optional, so a missing status reads as "unknown", which maps to pending.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from providers.http import json_numbers


class KessModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- requests -----------------------------------------------------------------------------------


class TokenRequest(KessModel):
    user: str
    password: str

    def __repr__(self) -> str:
        return f"TokenRequest(user={self.user!r})"

    __str__ = __repr__


def seed_number(value: str) -> int | str:
    """An id seed 004 prints as a JSON number (``"store_id": 109038`` in the status checks, ``"sub_store_id":
    123**`` in the pay bodies): digits become that number; anything else (letters, a leading zero that a
    number would drop) stays text."""
    text = value.strip()
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")):
        return int(text)
    return value


class PayRequest(KessModel):
    """NATIVE PAY, QUICK PAY and JSAPI PAY share one body (KESS's samples): ``store_id`` a string,
    ``sub_store_id`` a number (:func:`seed_number`), as the samples print them."""

    service_id: int
    store_id: str
    sub_store_id: int | str | None = None
    sub_store_name: str | None = None
    amount: Decimal
    fee_rate: Decimal
    auth_code: int | str | None = None
    out_trade_no: str


class RefundRequest(KessModel):
    service_id: int
    store_id: str
    refund_amount: Decimal
    out_trade_no: str
    out_refund_no: str
    reason: str | None = None


class PaymentStatusRequest(KessModel):
    """CHECK PAYMENT STATUS: seed 004 prints ``store_id`` as a number here (:func:`seed_number`)."""

    store_id: int | str
    out_trade_no: str


class RefundStatusRequest(KessModel):
    """CHECK REFUND STATUS: seed 004 documents ``store_id`` and ``out_trade_no`` (the payment's order number).
    ``out_refund_no`` is sent as well, to name the refund; a KESS that ignores it answers about the order's
    latest refund, which the client then checks is ours. ``store_id`` is a number, as in the seed's sample."""

    store_id: int | str
    out_trade_no: str | None = None
    out_refund_no: str


class CloseRequest(KessModel):
    store_id: str
    out_trade_no: str


def encode_body(request: KessModel) -> bytes:
    """Compact UTF-8 JSON without null fields; Decimal values become JSON numbers."""
    return json_numbers(request.model_dump(exclude_none=True)).encode("utf-8")


def decode_body(raw: bytes) -> Any:
    return json.loads(raw, parse_float=Decimal)


# -- responses ----------------------------------------------------------------------------------


def _text(value: object) -> object:
    """Ids and codes arrive as strings or numbers; keep them as text."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


class Envelope(KessModel):
    """``{"success": bool, "data": {...}}``; refusals carry ``result_code FAIL`` and ``err_code`` in data."""

    success: bool | None = None
    data: dict[str, Any] | None = None
    message: str | None = None


class TokenData(KessModel):
    message: str | None = None
    token: str | None = None


class ErrorData(KessModel):
    result_code: str | None = None
    err_code: str | None = None
    err_code_des: str | None = None
    message: str | None = None

    _text = field_validator("err_code", mode="before")(_text)


class PayData(KessModel):
    """A pay answer or a payment status (CHECK PAYMENT STATUS adds ``is_success`` and ``message``)."""

    is_success: bool | None = None
    service_id: str | None = None
    out_trade_no: str | None = None
    transaction_id: str | None = None
    qr_code: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    fee_rate: Decimal | None = None
    fee_amount: Decimal | None = None
    total_amount: Decimal | None = None
    trade_state: str | None = None
    result_code: str | None = None
    time_expire: str | None = None
    time_end: str | None = None
    err_code: str | None = None
    message: str | None = None

    _texts = field_validator("service_id", "out_trade_no", "transaction_id", "err_code", mode="before")(_text)


class RefundData(KessModel):
    """A refund answer or a refund status (CHECK REFUND STATUS adds ``is_success`` and ``message``)."""

    is_success: bool | None = None
    out_trade_no: str | None = None
    out_refund_no: str | None = None
    refund_id: str | None = None
    transaction_id: str | None = None
    refund_amount: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None
    refund_status: str | None = None
    remaining_amount: Decimal | None = None
    message: str | None = None

    _texts = field_validator("out_trade_no", "out_refund_no", "refund_id", "transaction_id", mode="before")(_text)
