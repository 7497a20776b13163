"""Money as integer minor units of an ISO 4217 currency. No floats anywhere.

``Money(amount_minor=1050, currency="USD")`` is 10.50 USD. Parsing from text accepts only plain decimal
strings ("10.5", "10.50", "-3"), refuses floats, NaN, exponents and more decimals than the currency has,
and every error names the problem. Arithmetic and comparison across currencies raise
:class:`~billing.errors.CurrencyMismatchError`.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, field_validator

from billing.errors import CurrencyMismatchError, InvalidAmountError, UnknownCurrencyError

#: ISO 4217 minor-unit exponents. Currencies not listed are refused rather than guessed.
CURRENCY_EXPONENTS: dict[str, int] = {
    # 2 decimals
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "SGD": 2,
    "IDR": 2,
    "PHP": 2,
    "THB": 2,
    "MYR": 2,
    "CNY": 2,
    "KHR": 2,
    "SOS": 2,
    "KES": 2,
    "ETB": 2,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "CHF": 2,
    "INR": 2,
    "TWD": 2,
    "AED": 2,
    "SAR": 2,
    "ZAR": 2,
    "BRL": 2,
    "MXN": 2,
    "EGP": 2,
    "NGN": 2,
    "TZS": 2,
    "MOP": 2,
    "LKR": 2,
    "BDT": 2,
    "PKR": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    # 0 decimals
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "DJF": 0,
    "CLP": 0,
    "ISK": 0,
    "UGX": 0,
    "XAF": 0,
    "XOF": 0,
    "RWF": 0,
    "PYG": 0,
    "GNF": 0,
    "KMF": 0,
    "VUV": 0,
    # 3 decimals
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "IQD": 3,
    "LYD": 3,
}

_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$")


def currency_exponent(currency: str) -> int:
    """The number of decimals of ``currency`` (ISO 4217), or UnknownCurrencyError."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrencyError(
            f"unknown currency {currency!r}; expected an ISO 4217 code such as USD", field="currency"
        ) from None


def normalize_currency(currency: object) -> str:
    """Validate a currency code and return it in canonical (upper-case) spelling."""
    if not isinstance(currency, str) or not currency.strip():
        raise UnknownCurrencyError("currency must be a non-empty ISO 4217 code", field="currency")
    code = currency.strip().upper()
    currency_exponent(code)
    return code


class Money(BaseModel):
    """An exact amount: integer minor units plus an ISO 4217 currency. Immutable."""

    model_config = ConfigDict(frozen=True, strict=True)

    amount_minor: int
    currency: str

    @field_validator("amount_minor", mode="before")
    @classmethod
    def _integer_only(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAmountError(
                f"amount_minor must be an integer number of minor units, got {type(value).__name__}",
                field="amount_minor",
            )
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _known_currency(cls, value: Any) -> str:
        return normalize_currency(value)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(amount_minor=0, currency=currency)

    @classmethod
    def parse(cls, text: object, currency: str, *, field: str = "amount") -> Self:
        """Parse a major-unit decimal string such as ``"10.50"``.

        Refuses floats (``10.5`` as a number is ambiguous money), NaN, infinity, exponent notation and
        more decimals than the currency has. ``field`` names the input in error messages.
        """
        code = normalize_currency(currency)
        if isinstance(text, bool) or isinstance(text, float):
            raise InvalidAmountError(
                f"must be a decimal string such as '10.00', not a {type(text).__name__}", field=field
            )
        if isinstance(text, int):
            text = str(text)
        if isinstance(text, Decimal):
            return cls.from_decimal(text, code, field=field)
        if not isinstance(text, str):
            raise InvalidAmountError(
                f"must be a decimal string such as '10.00', not {type(text).__name__}", field=field
            )
        match = _DECIMAL_TEXT.match(text.strip())
        if match is None:
            raise InvalidAmountError(f"{text!r} is not a plain decimal number such as '10.00'", field=field)
        exponent = currency_exponent(code)
        if match.group(2) is not None and len(match.group(2)) > exponent:
            raise InvalidAmountError(f"{text.strip()} has more decimals than {code} allows ({exponent})", field=field)
        return cls.from_decimal(Decimal(text.strip()), code, field=field)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str, *, field: str = "amount") -> Self:
        """Exact conversion from major units; more decimals than the currency has is an error."""
        code = normalize_currency(currency)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise InvalidAmountError(f"{value!r} is not a finite decimal amount", field=field)
        exponent = currency_exponent(code)
        try:
            scaled = value.scaleb(exponent)
            minor = int(scaled)
        except (InvalidOperation, ValueError, OverflowError) as exc:
            raise InvalidAmountError(f"{value!r} is not a usable amount", field=field) from exc
        if scaled != minor:
            raise InvalidAmountError(f"{value} has more decimals than {code} allows ({exponent})", field=field)
        return cls(amount_minor=minor, currency=code)

    @classmethod
    def from_decimal_rounded(cls, value: Decimal, currency: str) -> Self:
        """Round half-even to the currency's minor unit: only for computed amounts (proration)."""
        code = normalize_currency(currency)
        quantum = Decimal(1).scaleb(-currency_exponent(code))
        return cls.from_decimal(value.quantize(quantum, rounding=ROUND_HALF_EVEN), code)

    # -- views ------------------------------------------------------------------------------------

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """Major units, exact, with exactly ``exponent`` decimals."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    def to_decimal_string(self) -> str:
        """``"10.50"`` for 1050 USD, ``"1000"`` for 1000 JPY, ``"1.250"`` for 1250 KWD."""
        exponent = self.exponent
        sign = "-" if self.amount_minor < 0 else ""
        digits = str(abs(self.amount_minor)).rjust(exponent + 1, "0")
        if exponent == 0:
            return f"{sign}{digits}"
        return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"

    def __str__(self) -> str:
        return f"{self.to_decimal_string()} {self.currency}"

    def is_zero(self) -> bool:
        return self.amount_minor == 0

    def is_positive(self) -> bool:
        return self.amount_minor > 0

    def is_negative(self) -> bool:
        return self.amount_minor < 0

    # -- arithmetic -------------------------------------------------------------------------------

    def _same_currency(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}", field="currency")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(amount_minor=self.amount_minor + self._same_currency(other).amount_minor, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(amount_minor=self.amount_minor - self._same_currency(other).amount_minor, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount_minor=-self.amount_minor, currency=self.currency)

    def __abs__(self) -> Money:
        return Money(amount_minor=abs(self.amount_minor), currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount_minor < self._same_currency(other).amount_minor

    def __le__(self, other: Money) -> bool:
        return self.amount_minor <= self._same_currency(other).amount_minor

    def __gt__(self, other: Money) -> bool:
        return self.amount_minor > self._same_currency(other).amount_minor

    def __ge__(self, other: Money) -> bool:
        return self.amount_minor >= self._same_currency(other).amount_minor

    def min(self, other: Money) -> Money:
        return self if self <= other else other
