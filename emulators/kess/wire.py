"""KESS's JSON: amounts as JSON numbers (written from Decimal, never through float), the envelope."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from emulators.common.money import currency_exponent


def encode_json(value: Any) -> bytes:
    """Compact JSON where Decimal values are written as plain JSON numbers (``0.01``)."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def parse_body(raw: bytes) -> Any:
    """JSON with every non-integer number read as an exact Decimal."""
    return json.loads(raw, parse_float=Decimal)


def parse_amount(value: object, currency: str) -> Decimal:
    """A positive amount sent as a JSON number (or a decimal string) with at most the currency's decimals."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError("must be a number") from exc
    else:
        raise ValueError("must be a number")
    if not amount.is_finite() or amount <= 0:
        raise ValueError("must be a positive number")
    exponent = currency_exponent(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        raise ValueError(f"has more than {exponent} decimals for {currency}")
    return amount


def parse_rate(value: object) -> Decimal:
    """fee_rate: a percentage between 0 and 100 (``2`` overcharges the buyer 2 %)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError("must be a number")
    try:
        rate = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
    except InvalidOperation as exc:
        raise ValueError("must be a number") from exc
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise ValueError("must be between 0 and 100")
    return rate


def success(data: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "data": {**data, "result_code": "SUCCESS"}}


def failure(err_code: str, err_code_des: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body = dict(data or {})
    body.update({"result_code": "FAIL", "err_code": err_code, "err_code_des": err_code_des})
    return {"success": False, "data": body}


#: The fields seed 004 shows in its answers (any operation); "result_code_fail" keeps only these.
SEED_FIELDS = frozenset(
    {
        "service_id",
        "store_id",
        "qr_code",
        "amount",
        "refund_amount",
        "currency",
        "out_trade_no",
        "out_refund_no",
        "transaction_id",
        "is_success",
        "message",
    }
)


def refusal(err_code: str, err_code_des: str, data: dict[str, Any] | None, envelope: str) -> dict[str, Any]:
    """A refusal in the configured envelope (``KessEmulatorConfig.failure_envelope``)."""
    if envelope == "result_code_fail_bare":
        return {"success": True, "data": {"result_code": "FAIL"}}
    document = failure(err_code, err_code_des, data)
    if envelope == "result_code_fail":
        body = {k: v for k, v in document["data"].items() if k in SEED_FIELDS}
        body.update({"result_code": "FAIL", "err_code": err_code, "err_code_des": err_code_des})
        return {"success": True, "data": body}
    return document
