"""Reading `serviceParams`. Identifiers may arrive as strings or JSON numbers (storeId, apiUserId,
transactionId are numbers in the docs' examples); both are accepted and compared as strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from emulators.waafipay.codes import invalid

_REFERENCE_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3,4}$")


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
    if isinstance(value, bool):
        raise invalid(path, "must be a string")
    if isinstance(value, int | Decimal):
        value = str(value)
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


def require_object(payload: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    value = lookup(payload, path)
    if value is None:
        raise invalid(path, "is required")
    if not isinstance(value, Mapping):
        raise invalid(path, "must be an object")
    return value


def reference_id(payload: Mapping[str, Any], path: str, *, strict: bool, required: bool = True) -> str | None:
    value = require_str(payload, path, 50) if required else optional_str(payload, path, 50)
    if value is not None and strict and not _REFERENCE_RE.match(value):
        raise invalid(path, "may only contain letters, digits, '-', '_' and '.'")
    return value


def currency(payload: Mapping[str, Any], path: str) -> str:
    value = require_str(payload, path, 4).upper()
    if not _CURRENCY_RE.match(value):
        raise invalid(path, "must be a currency code such as USD")
    return value


def account_number(payload: Mapping[str, Any], path: str) -> str:
    value = require_str(payload, path, 20).lstrip("+")
    if not value.isdigit():
        raise invalid(path, "must be a phone number in international format, digits only")
    return value
