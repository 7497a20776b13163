"""WaafiPay wire conventions: timestamps, amounts, masked account numbers and opaque hex tokens."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from emulators.waafipay.codes import invalid

_AMOUNT_RE = re.compile(r"^\d{1,15}(\.\d{1,10})?$")


def format_timestamp(when: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss.SSS` in UTC with trailing zeros of the fraction dropped.

    Java's `Timestamp.toString` style, as captured: "2024-11-05 12:19:05.05", "2024-11-05 10:58:50.0".
    """
    utc = when.astimezone(UTC)
    fraction = f"{utc.microsecond // 1000:03d}".rstrip("0") or "0"
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + fraction


def decode_json(raw: bytes) -> Any:
    """Parse a request body; JSON numbers with a fraction become Decimal, never float."""
    return json.loads(raw, parse_float=Decimal)


def parse_amount(value: object, field: str, decimals: int) -> Decimal:
    """A positive amount sent as a JSON number or a decimal string, truncated (not rounded) to
    `decimals` places: 10.237 -> 10.23."""
    if isinstance(value, bool):
        raise invalid(field, "must be a number")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str) and _AMOUNT_RE.match(value.strip()):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation as exc:  # pragma: no cover - the regex guarantees a decimal
            raise invalid(field, "must be a number") from exc
    else:
        raise invalid(field, "must be a number")
    if not amount.is_finite():
        raise invalid(field, "must be a number")
    truncated = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)
    if truncated <= 0:
        raise invalid(field, "must be greater than zero")
    return truncated


def wire_amount(value: Decimal) -> str:
    """Amounts as WaafiPay prints them (a Java double): 10 -> "10.0", 10.50 -> "10.5", 10.23 -> "10.23"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
    else:
        text += "."
    return text + "0" if text.endswith(".") else text


def mask_account(account_no: str) -> str:
    """ "252611111111" -> "252611****1111"."""
    if len(account_no) <= 10:
        return account_no
    return f"{account_no[:6]}****{account_no[-4:]}"


def opaque_token(random_bytes: int) -> str:
    """Upper-case hex of a Base64 string, the shape of real HPP tokens and result tokens."""
    return base64.b64encode(secrets.token_bytes(random_bytes)).hex().upper()
