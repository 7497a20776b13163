"""Decimal amounts with ISO 4217 minor-unit exponents. Never floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Currencies whose exponent is not 2. Everything else (USD, EUR, HKD, IDR, PHP, ...) uses 2.
_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}

_AMOUNT_RE = re.compile(r"^\d{1,20}(\.\d{1,6})?$")


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of `currency` (ISO 4217), 2 when not listed."""
    return _EXPONENTS.get(currency.upper(), 2)


def parse_amount(text: object, currency: str) -> Decimal:
    """Parse a major-unit decimal string such as "10.00" or "50000".

    Raises ValueError for anything that is not a plain non-negative decimal string (numbers, signs,
    exponents, spaces) or that has more fraction digits than the currency allows.
    """
    if not isinstance(text, str) or not _AMOUNT_RE.match(text):
        raise ValueError('must be a non-negative decimal string such as "10.00"')
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees a decimal
        raise ValueError("must be a decimal string") from exc
    exponent = currency_exponent(currency)
    fraction = text.partition(".")[2]
    if len(fraction) > exponent:
        raise ValueError(f"has more than {exponent} decimal places for {currency.upper()}")
    return value


def format_amount(value: Decimal, currency: str) -> str:
    """Format with exactly the currency's number of decimals: Decimal("9.1"), "USD" -> "9.10"."""
    exponent = currency_exponent(currency)
    quantum = Decimal(1).scaleb(-exponent)
    return str(value.quantize(quantum))
