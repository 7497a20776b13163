"""Money: integer minor units, exact parsing and formatting, no cross-currency arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import (
    CurrencyMismatchError,
    InputError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from billing.money import CURRENCY_EXPONENTS, Money, currency_exponent

REQUIRED = {
    "USD": 2,
    "EUR": 2,
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
    "DJF": 0,
    "JPY": 0,
    "KWD": 3,
    "BHD": 3,
}

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_amounts = st.integers(min_value=-(10**15), max_value=10**15)


def test_exponent_table_covers_the_required_currencies() -> None:
    for code, exponent in REQUIRED.items():
        assert currency_exponent(code) == exponent, code


@pytest.mark.parametrize(
    ("text", "currency", "minor", "formatted"),
    [
        ("10.00", "USD", 1000, "10.00"),
        ("10.5", "USD", 1050, "10.50"),
        ("0.01", "EUR", 1, "0.01"),
        ("1000", "JPY", 1000, "1000"),
        ("1.25", "KWD", 1250, "1.250"),
        ("0.001", "BHD", 1, "0.001"),
        ("-3", "usd", -300, "-3.00"),
        ("50000", "IDR", 5000000, "50000.00"),
        ("  7.10 ", "SGD", 710, "7.10"),
        ("12", "DJF", 12, "12"),
    ],
)
def test_parse_and_format(text: str, currency: str, minor: int, formatted: str) -> None:
    money = Money.parse(text, currency)
    assert money.amount_minor == minor
    assert money.currency == currency.upper()
    assert money.to_decimal_string() == formatted


@pytest.mark.parametrize(
    ("value", "currency", "needle"),
    [
        (10.5, "USD", "float"),
        ("10.505", "USD", "more decimals than USD allows (2)"),
        ("1.5", "JPY", "more decimals than JPY allows (0)"),
        ("0.0001", "KWD", "more decimals than KWD allows (3)"),
        ("10.500", "USD", "more decimals than USD allows (2)"),
        ("1.0", "JPY", "more decimals than JPY allows (0)"),
        ("NaN", "USD", "not a plain decimal"),
        ("Infinity", "USD", "not a plain decimal"),
        ("1e3", "USD", "not a plain decimal"),
        ("10,00", "USD", "not a plain decimal"),
        ("", "USD", "not a plain decimal"),
        (True, "USD", "bool"),
        (None, "USD", "NoneType"),
    ],
)
def test_parse_refuses_inexact_or_ambiguous_amounts(value: object, currency: str, needle: str) -> None:
    with pytest.raises(InvalidAmountError) as info:
        Money.parse(value, currency, field="amount")
    assert info.value.field == "amount"
    assert needle in str(info.value)


def test_decimal_nan_refused() -> None:
    with pytest.raises(InvalidAmountError, match="finite"):
        Money.from_decimal(Decimal("NaN"), "USD")


@pytest.mark.parametrize("currency", ["XXX", "US", "", "usdollar"])
def test_unknown_currency_named(currency: str) -> None:
    with pytest.raises(UnknownCurrencyError) as info:
        Money.parse("1.00", currency)
    assert info.value.field == "currency"


def test_minor_units_must_be_integers() -> None:
    with pytest.raises(InvalidAmountError, match="integer"):
        Money(amount_minor=10.0, currency="USD")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmountError):
        Money(amount_minor=True, currency="USD")


def test_mixed_currency_arithmetic_refused() -> None:
    usd, eur = Money.parse("1.00", "USD"), Money.parse("1.00", "EUR")
    with pytest.raises(CurrencyMismatchError, match="USD with EUR"):
        usd + eur
    with pytest.raises(CurrencyMismatchError):
        usd - eur
    with pytest.raises(CurrencyMismatchError):
        _ = usd < eur


def test_errors_are_input_errors_naming_the_field() -> None:
    with pytest.raises(InputError) as info:
        Money.parse("abc", "USD", field="refund.amount")
    assert str(info.value).startswith("refund.amount:")


def test_arithmetic_and_ordering() -> None:
    a, b = Money.parse("10.00", "USD"), Money.parse("2.50", "USD")
    assert (a - b).to_decimal_string() == "7.50"
    assert (a + b).amount_minor == 1250
    assert b < a and a >= b and b.min(a) == b
    assert (-b).is_negative() and abs(-b) == b
    assert Money.zero("USD").is_zero()
    assert str(a) == "10.00 USD"


def test_rounding_only_when_asked() -> None:
    assert Money.from_decimal_rounded(Decimal("3.335"), "USD").amount_minor == 334
    assert Money.from_decimal_rounded(Decimal("3.345"), "USD").amount_minor == 334
    assert Money.from_decimal_rounded(Decimal("2.5"), "JPY").amount_minor == 2


def test_json_round_trip() -> None:
    money = Money.parse("99.99", "USD")
    assert Money.model_validate_json(money.model_dump_json()) == money


@given(minor=minor_amounts, currency=currencies)
def test_format_then_parse_is_identity(minor: int, currency: str) -> None:
    money = Money(amount_minor=minor, currency=currency)
    assert Money.parse(money.to_decimal_string(), currency) == money


@given(minor=minor_amounts, currency=currencies)
def test_formatted_text_has_exactly_the_currency_decimals(minor: int, currency: str) -> None:
    text = Money(amount_minor=minor, currency=currency).to_decimal_string()
    exponent = currency_exponent(currency)
    if exponent == 0:
        assert "." not in text
    else:
        assert len(text.split(".")[1]) == exponent
    assert Decimal(text) == Decimal(minor).scaleb(-exponent)


@given(
    whole=st.integers(min_value=0, max_value=10**9),
    frac=st.integers(min_value=0, max_value=10**6),
    currency=currencies,
)
def test_parse_accepts_exactly_the_representable_decimals(whole: int, frac: int, currency: str) -> None:
    text = f"{whole}.{frac:06d}".rstrip("0").rstrip(".")
    exact = Decimal(text).scaleb(currency_exponent(currency))
    if exact == int(exact):
        assert Money.parse(text, currency).amount_minor == int(exact)
    else:
        with pytest.raises(InvalidAmountError):
            Money.parse(text, currency)


@given(a=minor_amounts, b=minor_amounts, currency=currencies)
def test_addition_is_exact(a: int, b: int, currency: str) -> None:
    x, y = Money(amount_minor=a, currency=currency), Money(amount_minor=b, currency=currency)
    assert (x + y).amount_minor == a + b
    assert (x + y - y) == x


@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_floats_never_accepted(value: float) -> None:
    with pytest.raises(InvalidAmountError):
        Money.parse(value, "USD")
