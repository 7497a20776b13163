"""Request field validation. Every failure is A0003 with the offending field named in `msg`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from emulators.common.money import parse_amount
from emulators.waffo.errors import invalid
from emulators.waffo.wire import parse_timestamp

REQUEST_ID_MAX = 32
PERIOD_TYPES = ("DAILY", "WEEKLY", "MONTHLY")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_COUNT_RE = re.compile(r"^[1-9]\d{0,5}$")

# Fields that SDKs fill with "now" on every call. They are not part of a request's business
# identity, so idempotent replays compare payloads without them.
REQUEST_TIME_FIELDS = frozenset({"orderRequestedAt", "requestedAt", "captureRequestedAt"})


def lookup(payload: Mapping[str, Any], path: str) -> Any:
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def optional_str(payload: Mapping[str, Any], path: str, max_len: int | None = None) -> str | None:
    value = lookup(payload, path)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(path, "must be a string")
    if max_len is not None and len(value) > max_len:
        raise invalid(path, f"must be at most {max_len} characters")
    return value


def require_str(payload: Mapping[str, Any], path: str, max_len: int | None = None) -> str:
    value = optional_str(payload, path, max_len)
    if value is None:
        raise invalid(path, "is required")
    return value


def require_object(payload: Mapping[str, Any], path: str) -> dict[str, Any]:
    value = lookup(payload, path)
    if value is None:
        raise invalid(path, "is required")
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def optional_timestamp(payload: Mapping[str, Any], path: str) -> datetime | None:
    value = optional_str(payload, path)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise invalid(path, str(exc)) from exc


def require_timestamp(payload: Mapping[str, Any], path: str) -> datetime:
    value = optional_timestamp(payload, path)
    if value is None:
        raise invalid(path, "is required")
    return value


def require_currency(payload: Mapping[str, Any], path: str) -> str:
    value = require_str(payload, path, 12)
    if not _CURRENCY_RE.match(value):
        raise invalid(path, "must be an ISO 4217 alphabetic code such as USD")
    return value


def require_amount(payload: Mapping[str, Any], path: str, currency: str, *, allow_zero: bool = False) -> Decimal:
    value = lookup(payload, path)
    if value is None or value == "":
        raise invalid(path, "is required")
    try:
        amount = parse_amount(value, currency)
    except ValueError as exc:
        raise invalid(path, str(exc)) from exc
    if amount == 0 and not allow_zero:
        raise invalid(path, "must be greater than zero")
    return amount


def optional_amount(payload: Mapping[str, Any], path: str, currency: str) -> Decimal | None:
    if lookup(payload, path) in (None, ""):
        return None
    return require_amount(payload, path, currency, allow_zero=True)


def require_count(payload: Mapping[str, Any], path: str) -> int:
    """A positive integer sent as a string, e.g. periodInterval "1"."""
    value = lookup(payload, path)
    if value is None or value == "":
        raise invalid(path, "is required")
    return _count(path, value)


def optional_count(payload: Mapping[str, Any], path: str) -> int | None:
    value = lookup(payload, path)
    if value is None or value == "":
        return None
    return _count(path, value)


def _count(path: str, value: Any) -> int:
    if not isinstance(value, str) or not _COUNT_RE.match(value):
        raise invalid(path, 'must be a positive integer string such as "1"')
    return int(value)


def require_period_type(payload: Mapping[str, Any], path: str) -> str:
    value = require_str(payload, path)
    if value not in PERIOD_TYPES:
        raise invalid(path, f"must be one of {', '.join(PERIOD_TYPES)}")
    return value


def business_fingerprint(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload minus the per-call request timestamps (see REQUEST_TIME_FIELDS)."""
    return {key: value for key, value in payload.items() if key not in REQUEST_TIME_FIELDS}
