"""Proration of a plan change in the middle of a billing period. Pure, exact and deterministic.

A change at instant ``at`` credits the unused part of the old price and charges the remaining part of the
new price, both by the same time fraction of the current period::

    fraction_remaining = (period.end - at) / (period.end - period.start)      exact, in microseconds
    credit = -round(old_price × fraction_remaining)                            <= 0
    charge =  round(new_price × fraction_remaining)                            >= 0
    net    = charge + credit                                                   from the rounded lines

The fraction and the products are :class:`fractions.Fraction` of integer microseconds and integer minor
units, so nothing is approximated before the end. Each line is rounded once, to the currency's minor unit,
half to even (banker's rounding: 0.5 cent rounds to the even cent, so rounding errors do not lean one way
over many changes). The net is the sum of the rounded lines, so the lines shown always add up to the net.
No floats anywhere.

A preview and the real change are the same computation: the subscription workflow's ``preview_change``
and ``change_plan`` both call :func:`prorate` with the same prices, period and instant, so what the
customer is shown is what is charged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from billing.calendar import Period, as_utc
from billing.errors import CurrencyMismatchError, InputError, InvalidAmountError
from billing.money import Money

__all__ = ["Proration", "Settlement", "prorate", "round_half_even"]

_MICROSECOND = timedelta(microseconds=1)


def round_half_even(value: Fraction) -> int:
    """The integer nearest to ``value``; an exact half goes to the even neighbour (2.5 -> 2, 3.5 -> 4)."""
    floor, remainder = divmod(value.numerator, value.denominator)
    twice = 2 * remainder
    if twice > value.denominator or (twice == value.denominator and floor % 2 == 1):
        return floor + 1
    return floor


class Settlement(StrEnum):
    """What a plan change leaves to settle."""

    CHARGE = "CHARGE"  # net > 0: charge the customer now
    CREDIT = "CREDIT"  # net < 0: carry a credit to the next invoices
    NONE = "NONE"  # net == 0


class Proration(BaseModel):
    """The lines of one plan change. ``net == charge + credit`` exactly, in minor units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The unused part of the old price, as a credit: negative or zero.
    credit: Money
    #: The remaining part of the new price: positive or zero.
    charge: Money
    #: ``charge + credit``: positive is due now, negative is a credit to carry.
    net: Money
    #: The exact part of the period left at the change, 0 to 1 (serialized as text such as "1/3").
    fraction_remaining: Fraction

    @field_validator("fraction_remaining", mode="before")
    @classmethod
    def _exact_fraction(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise InputError("must be an exact fraction such as '1/3', not a float", field="fraction_remaining")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not Fraction(0) <= self.fraction_remaining <= Fraction(1):
            raise InputError(f"must be between 0 and 1, got {self.fraction_remaining}", field="fraction_remaining")
        if self.credit.is_positive():
            raise InvalidAmountError(f"must not be positive, got {self.credit}", field="credit")
        if self.charge.is_negative():
            raise InvalidAmountError(f"must not be negative, got {self.charge}", field="charge")
        if self.charge + self.credit != self.net:
            raise InvalidAmountError(f"must equal charge + credit, got {self.net}", field="net")
        return self

    @property
    def settlement(self) -> Settlement:
        if self.net.is_positive():
            return Settlement.CHARGE
        if self.net.is_negative():
            return Settlement.CREDIT
        return Settlement.NONE

    @property
    def amount_due(self) -> Money:
        """What to charge now: the net when positive, else zero."""
        return self.net if self.net.is_positive() else Money.zero(self.net.currency)

    @property
    def credit_carried(self) -> Money:
        """The credit to carry forward, as a positive amount: minus the net when negative, else zero."""
        return -self.net if self.net.is_negative() else Money.zero(self.net.currency)


def _microseconds(delta: timedelta) -> int:
    return delta // _MICROSECOND


def prorate(old_price: Money, new_price: Money, period: Period, at: datetime) -> Proration:
    """Prorate a change from ``old_price`` to ``new_price`` at ``at`` within ``period``.

    The one function behind both the preview and the real change. ``at`` may be the period's start
    (full credit, full charge) or its end (nothing either way). Prices are for the whole period and may
    be zero, never negative. Refuses different currencies (CurrencyMismatchError), negative prices
    (InvalidAmountError) and an ``at`` that is naive or outside the period (InputError, field ``at``).
    """
    if old_price.currency != new_price.currency:
        raise CurrencyMismatchError(
            f"cannot prorate from {old_price.currency} to {new_price.currency}", field="new_price"
        )
    if old_price.is_negative():
        raise InvalidAmountError(f"must not be negative, got {old_price}", field="old_price")
    if new_price.is_negative():
        raise InvalidAmountError(f"must not be negative, got {new_price}", field="new_price")
    instant = as_utc(at, "at")
    if not period.start <= instant <= period.end:
        raise InputError(
            f"{instant.isoformat()} is outside period {period.number} "
            f"({period.start.isoformat()} to {period.end.isoformat()})",
            field="at",
        )
    fraction = Fraction(_microseconds(period.end - instant), _microseconds(period.end - period.start))
    currency = old_price.currency
    credit = Money(amount_minor=-round_half_even(old_price.amount_minor * fraction), currency=currency)
    charge = Money(amount_minor=round_half_even(new_price.amount_minor * fraction), currency=currency)
    return Proration(credit=credit, charge=charge, net=charge + credit, fraction_remaining=fraction)


def restart_cycle(old_price: Money, new_price: Money, period: Period, at: datetime) -> Proration:
    """A change that starts a new billing cycle at ``at``: a full period of the new price, less the credit.

    Provider-managed subscriptions change this way (the provider's plan change creates a new
    subscription whose first charge is its price minus the ``remainingAmount`` we send). The credit is
    :func:`prorate`'s, so both kinds of change value the unused part of the old price identically.
    """
    base = prorate(old_price, new_price, period, at)
    return Proration(
        credit=base.credit, charge=new_price, net=new_price + base.credit, fraction_remaining=base.fraction_remaining
    )
