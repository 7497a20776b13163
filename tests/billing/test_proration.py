"""Proration: hand-computed lines, refusals, then properties (exact sums, bounds, monotone, repeatable)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.calendar import Period
from billing.errors import CurrencyMismatchError, InputError, InvalidAmountError
from billing.money import CURRENCY_EXPONENTS, Money
from billing.proration import Proration, Settlement, prorate, round_half_even


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def money(minor: int, currency: str = "USD") -> Money:
    return Money(amount_minor=minor, currency=currency)


APRIL = Period(number=3, start=utc(2024, 4, 1), end=utc(2024, 5, 1))  # 30 days
JANUARY = Period(number=1, start=utc(2024, 1, 1), end=utc(2024, 2, 1))  # 31 days
FEBRUARY_2023 = Period(number=2, start=utc(2023, 2, 1), end=utc(2023, 3, 1))  # 28 days
LEAP_YEAR = Period(number=1, start=utc(2024, 1, 1), end=utc(2025, 1, 1))  # 366 days


# -- hand-computed cases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "period", "at", "fraction", "lines"),
    [
        pytest.param(
            money(1000), money(2000), APRIL, utc(2024, 4, 16), Fraction(1, 2), (-500, 1000, 500),
            id="upgrade-halfway-through-30-days",
        ),
        pytest.param(
            money(1000), money(2000), APRIL, APRIL.start, Fraction(1), (-1000, 2000, 1000),
            id="upgrade-at-the-very-start",
        ),
        pytest.param(
            money(1000), money(2000), APRIL, APRIL.end, Fraction(0), (0, 0, 0),
            id="upgrade-at-the-very-end",
        ),
        pytest.param(
            # 20 of 30 days left: 3000 × 2/3 = 2000 exactly, 1000 × 2/3 = 666.67 -> 667.
            money(3000), money(1000), APRIL, utc(2024, 4, 11), Fraction(2, 3), (-2000, 667, -1333),
            id="downgrade-leaves-a-credit",
        ),
        pytest.param(
            # 1001 × 1/2 = 500.5 -> 500 (even), 1003 × 1/2 = 501.5 -> 502 (even).
            money(1001, "JPY"), money(1003, "JPY"), APRIL, utc(2024, 4, 16), Fraction(1, 2), (-500, 502, 2),
            id="jpy-halves-round-to-even",
        ),
        pytest.param(
            # 10 of 30 days left: 1000 × 1/3 = 333.33 -> 333, 2500 × 1/3 = 833.33 -> 833.
            money(1000, "JPY"), money(2500, "JPY"), APRIL, utc(2024, 4, 21), Fraction(1, 3), (-333, 833, 500),
            id="jpy-thirds",
        ),
        pytest.param(
            # 31 days, 1/3 left = 10 days 8 hours: 10.000 × 1/3 = 3.3333 -> 3.333,
            # 15.500 × 1/3 = 5.1667 -> 5.167.
            money(10000, "KWD"), money(15500, "KWD"), JANUARY, utc(2024, 1, 21, 16), Fraction(1, 3),
            (-3333, 5167, 1834),
            id="kwd-three-decimals-31-day-month-at-a-third",
        ),
        pytest.param(
            # 9.99 × 1/3 = 3.33 exactly, 19.99 × 1/3 = 6.6633 -> 6.66.
            money(999), money(1999), JANUARY, utc(2024, 1, 21, 16), Fraction(1, 3), (-333, 666, 333),
            id="usd-31-day-month-at-a-third",
        ),
        pytest.param(
            # 0.25 × 1/2 = 0.125 -> 0.12 (even), 0.35 × 1/2 = 0.175 -> 0.18 (even).
            money(25), money(35), APRIL, utc(2024, 4, 16), Fraction(1, 2), (-12, 18, 6),
            id="usd-half-cents-round-to-even",
        ),
        pytest.param(
            # 7 of 28 days left in February 2023.
            money(0), money(2000), FEBRUARY_2023, utc(2023, 2, 22), Fraction(1, 4), (0, 500, 500),
            id="from-a-free-plan",
        ),
        pytest.param(
            money(2000), money(0), FEBRUARY_2023, utc(2023, 2, 22), Fraction(1, 4), (-500, 0, -500),
            id="to-a-free-plan",
        ),
        pytest.param(
            # 1234 × 1/3 = 411.33 -> 411 both ways: the same price nets to nothing.
            money(1234), money(1234), JANUARY, utc(2024, 1, 21, 16), Fraction(1, 3), (-411, 411, 0),
            id="same-price-nets-to-zero",
        ),
        pytest.param(
            # 1 µs left of 31 days: 10.00 × 1/2678400000000 is far below half a cent.
            money(1000), money(2000), JANUARY, utc(2024, 1, 31, 23, 59, 59, 999999),
            Fraction(1, 2_678_400_000_000), (0, 0, 0),
            id="one-microsecond-left",
        ),
        pytest.param(
            # 1 µs into a leap year: 1,000,000.00 × (1 - 1/31622400000000) rounds to the full price.
            money(100_000_000), money(200_000_000), LEAP_YEAR, utc(2024, 1, 1, 0, 0, 0, 1),
            Fraction(31_622_399_999_999, 31_622_400_000_000), (-100_000_000, 200_000_000, 100_000_000),
            id="one-microsecond-into-a-leap-year",
        ),
    ],
)  # fmt: skip
def test_prorate_matches_hand_computed_lines(
    old: Money, new: Money, period: Period, at: datetime, fraction: Fraction, lines: tuple[int, int, int]
) -> None:
    credit, charge, net = lines
    currency = old.currency
    result = prorate(old, new, period, at)
    assert result == Proration(
        credit=money(credit, currency),
        charge=money(charge, currency),
        net=money(net, currency),
        fraction_remaining=fraction,
    )
    assert result.amount_due == money(max(net, 0), currency)
    assert result.credit_carried == money(max(-net, 0), currency)


@pytest.mark.parametrize(
    ("new", "settlement", "due", "carried"),
    [(2000, Settlement.CHARGE, 500, 0), (0, Settlement.CREDIT, 0, 500), (1000, Settlement.NONE, 0, 0)],
)
def test_settlement_says_what_the_net_leaves_to_do(new: int, settlement: Settlement, due: int, carried: int) -> None:
    result = prorate(money(1000), money(new), APRIL, utc(2024, 4, 16))
    assert result.settlement is settlement
    assert result.amount_due == money(due)
    assert result.credit_carried == money(carried)


def test_an_instant_with_another_offset_is_the_same_instant() -> None:
    halfway_in_tokyo = datetime(2024, 4, 16, 9, tzinfo=timezone(timedelta(hours=9)))
    assert prorate(money(1000), money(2000), APRIL, halfway_in_tokyo) == prorate(
        money(1000), money(2000), APRIL, utc(2024, 4, 16)
    )


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Fraction(5, 2), 2),
        (Fraction(7, 2), 4),
        (Fraction(-5, 2), -2),
        (Fraction(-7, 2), -4),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
        (Fraction(-2, 3), -1),
        (Fraction(0), 0),
        (Fraction(1, 2), 0),
        (Fraction(3, 2), 2),
    ],
)
def test_round_half_even(value: Fraction, rounded: int) -> None:
    assert round_half_even(value) == rounded


def test_refuses_different_currencies() -> None:
    with pytest.raises(CurrencyMismatchError):
        prorate(money(1000, "USD"), money(1000, "EUR"), APRIL, utc(2024, 4, 16))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [(money(-1), money(1000), "old_price"), (money(1000), money(-1), "new_price")],
)
def test_refuses_negative_prices(old: Money, new: Money, field: str) -> None:
    with pytest.raises(InvalidAmountError) as info:
        prorate(old, new, APRIL, utc(2024, 4, 16))
    assert info.value.field == field


@pytest.mark.parametrize(
    "at",
    [
        APRIL.start - timedelta(microseconds=1),
        APRIL.end + timedelta(microseconds=1),
        utc(2025, 4, 16),
        datetime(2024, 4, 16),  # naive on purpose
    ],
)
def test_refuses_an_instant_outside_the_period(at: datetime) -> None:
    with pytest.raises(InputError) as info:
        prorate(money(1000), money(2000), APRIL, at)
    assert info.value.field == "at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"net": money(501)}, "net"),
        ({"credit": money(1)}, "credit"),
        ({"charge": money(-1)}, "charge"),
        ({"fraction_remaining": Fraction(3, 2)}, "fraction_remaining"),
        ({"fraction_remaining": 0.5}, "fraction_remaining"),
    ],
)
def test_an_inconsistent_proration_cannot_be_built(changes: dict[str, Any], field: str) -> None:
    lines: dict[str, Any] = {
        "credit": money(-500),
        "charge": money(1000),
        "net": money(500),
        "fraction_remaining": Fraction(1, 2),
    }
    with pytest.raises(InputError) as info:
        Proration.model_validate(lines | changes)
    assert info.value.field == field


def test_proration_survives_a_json_round_trip_without_floats() -> None:
    result = prorate(money(1000, "KWD"), money(15500, "KWD"), JANUARY, utc(2024, 1, 21, 16))
    text = result.model_dump_json()
    assert json.loads(text)["fraction_remaining"] == "1/3"
    assert Proration.model_validate_json(text) == result


# -- properties ------------------------------------------------------------------------------------

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
prices = st.integers(min_value=0, max_value=10**12)
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
durations = st.integers(min_value=1, max_value=400 * 86_400 * 10**6)  # microseconds, up to 400 days


@st.composite
def changes(draw: st.DrawFn) -> tuple[Money, Money, Period, datetime, datetime]:
    """Two prices, a period and two instants in it, the first no later than the second."""
    currency = draw(currencies)
    start = draw(starts)
    length = draw(durations)
    first, second = sorted(draw(st.lists(st.integers(min_value=0, max_value=length), min_size=2, max_size=2)))
    period = Period(number=draw(st.integers(min_value=0, max_value=500)), start=start, end=start + _us(length))
    return (
        money(draw(prices), currency),
        money(draw(prices), currency),
        period,
        start + _us(first),
        start + _us(second),
    )


def _us(microseconds: int) -> timedelta:
    return timedelta(microseconds=microseconds)


def _exact(price: Money, fraction: Fraction) -> Fraction:
    return price.amount_minor * fraction


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_float(item) for item in value)
    return False


@given(change=changes())
def test_the_lines_sum_to_the_net_and_stay_within_the_prices(
    change: tuple[Money, Money, Period, datetime, datetime],
) -> None:
    old, new, period, at, _ = change
    result = prorate(old, new, period, at)
    assert result.credit + result.charge == result.net
    assert result.amount_due - result.credit_carried == result.net
    assert -old <= result.credit <= Money.zero(old.currency)
    assert Money.zero(new.currency) <= result.charge <= new
    # Rounded once: each line is within half a minor unit of the exact value.
    assert abs(-result.credit.amount_minor - _exact(old, result.fraction_remaining)) <= Fraction(1, 2)
    assert abs(result.charge.amount_minor - _exact(new, result.fraction_remaining)) <= Fraction(1, 2)
    assert result.fraction_remaining == Fraction((period.end - at) // _us(1), (period.end - period.start) // _us(1))
    assert result.settlement is (
        Settlement.CHARGE if result.net.is_positive() else Settlement.CREDIT if result.net.is_negative() else
        Settlement.NONE
    )  # fmt: skip


@given(change=changes())
def test_a_later_change_gives_a_smaller_credit_and_charge(
    change: tuple[Money, Money, Period, datetime, datetime],
) -> None:
    old, new, period, earlier, later = change
    first = prorate(old, new, period, earlier)
    second = prorate(old, new, period, later)
    assert first.fraction_remaining >= second.fraction_remaining
    assert abs(first.credit) >= abs(second.credit)
    assert first.charge >= second.charge


@given(change=changes())
def test_the_preview_is_the_change(change: tuple[Money, Money, Period, datetime, datetime]) -> None:
    old, new, period, at, _ = change
    preview = prorate(old, new, period, at)
    actual = prorate(old, new, period, at)
    assert preview == actual
    assert Proration.model_validate_json(preview.model_dump_json()) == actual


@given(change=changes())
def test_never_a_float(change: tuple[Money, Money, Period, datetime, datetime]) -> None:
    old, new, period, at, _ = change
    result = prorate(old, new, period, at)
    assert type(result.fraction_remaining) is Fraction
    for line in (result.credit, result.charge, result.net):
        assert type(line.amount_minor) is int
    assert not _has_float(result.model_dump())
    json.loads(result.model_dump_json(), parse_float=_refuse_float)


def _refuse_float(text: str) -> float:
    raise AssertionError(f"float {text} in a proration")


@given(value=st.fractions(max_denominator=10**6))
def test_round_half_even_agrees_with_the_standard_library(value: Fraction) -> None:
    # Fraction.__round__ rounds half to even too; round_half_even spells the rule out on its own.
    assert round_half_even(value) == round(value)
